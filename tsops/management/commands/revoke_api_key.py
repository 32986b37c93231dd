from django.core.management.base import BaseCommand, CommandError

from tsops.models import ApiKey
from tsops.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the part after 'tsk_')."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        prefix = prefix.removeprefix("tsk_").split("_")[0]
        try:
            key = ApiKey.objects.get(prefix=prefix)
        except ApiKey.DoesNotExist:
            raise CommandError(f"no API key with prefix {prefix!r}") from None
        key = api_key_revoke(key=key)
        self.stdout.write(self.style.SUCCESS(f"revoked {key} at {key.revoked_at:%Y-%m-%d %H:%M}"))
