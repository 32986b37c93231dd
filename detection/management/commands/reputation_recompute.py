"""Rebuild every reporter's reputation from the reports and the decisions on their cases."""

from django.core.management.base import BaseCommand

from detection.reputation import reputation_recompute


class Command(BaseCommand):
    help = "Recompute reporter reputation from scratch (set-based; moves the watermark)."

    def handle(self, *args, **options) -> None:
        written = reputation_recompute()
        self.stdout.write(f"{written} reporters recomputed.")
