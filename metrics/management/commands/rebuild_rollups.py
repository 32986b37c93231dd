"""``python manage.py rebuild_rollups --from 2026-03-01 --to 2026-03-31``"""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from metrics import rollups
from tsops.progress import Progress


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Rebuild every rollup (and the backlog snapshot) of each day of a range."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD")
        parser.add_argument(
            "--to", dest="date_to", help="YYYY-MM-DD (inclusive; default: the same day)"
        )

    def handle(self, *args, date_from: str, date_to: str | None, **options):
        start = _day(date_from)
        end = _day(date_to) if date_to else start
        if end < start:
            raise CommandError("--to is before --from.")
        today = timezone.localdate()
        if start > today:
            raise CommandError("The range starts in the future: nothing to roll up.")
        end = min(end, today)
        days = (end - start).days + 1
        progress = Progress("rebuilding rollups", days, stream=self.stderr)
        rollups.rebuild_range(start, end, progress=lambda _day: progress.advance())
        progress.finish()
        self.stdout.write(
            f"Rebuilt {days} day(s), {start.isoformat()} to {end.isoformat()}."
            + (" Today's backlog is a snapshot of now." if end == today else "")
        )
