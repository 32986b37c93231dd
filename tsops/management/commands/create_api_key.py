from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tsops import roles
from tsops.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes", required=True, help=f"comma-separated: {', '.join(roles.SCOPES)}"
        )

    def handle(self, *args, user, name, scopes, **options):
        try:
            owner = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {user!r}") from None
        try:
            key, secret = api_key_create(
                user=owner, name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"key {key.prefix} for {owner.username}, scopes {', '.join(key.scopes)}")
        self.stdout.write(secret)
