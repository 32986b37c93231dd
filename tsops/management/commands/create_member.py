import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tsops import roles
from tsops.services import member_create_or_update


class Command(BaseCommand):
    help = "Create or update a member with a role and specialist-team memberships."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=roles.ROLES, help="the member's role")
        parser.add_argument(
            "--team",
            action="append",
            default=[],
            help="a specialist team slug (repeatable); built in: " + ", ".join(roles.TEAMS),
        )
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, team, password_stdin, email, **options):
        if role is None and not team:
            raise CommandError("give --role and/or --team")
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("no password on standard input")
        try:
            user = member_create_or_update(
                username=username, role=role, teams=team, password=password, email=email
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        groups = ", ".join(sorted(user.groups.values_list("name", flat=True)))
        self.stdout.write(self.style.SUCCESS(f"{user.username}: {groups}"))
