import os

from django.core.management.base import BaseCommand, CommandError

from tsops.dbroles import app_role_grant


class Command(BaseCommand):
    help = (
        "Create or update the role web, worker and beat connect as: row rights on every table, "
        "owning nothing (run it as the owner, after migrate). The password comes from the "
        "environment variable named by --password-env."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", default="tsops_app")
        parser.add_argument("--password-env", default="TSOPS_APP_DB_PASSWORD")

    def handle(self, *args, role, password_env, **options):
        password = os.environ.get(password_env, "")
        if len(password) < 16:
            raise CommandError(f"set {password_env} to the role's password (16+ characters)")
        try:
            statements = app_role_grant(role=role, password=password)
        except ValueError as error:
            raise CommandError(str(error)) from None
        for statement in statements:
            self.stdout.write(f"  {statement}")
        self.stdout.write(self.style.SUCCESS(f"role {role} can read and write rows, nothing more"))
