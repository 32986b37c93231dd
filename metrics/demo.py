"""Demo metrics: the rollups of every day the demo data covers, so the dashboards have
figures from the first page view (the last step: it reads what the others wrote)."""

from __future__ import annotations

from django.db.models import Min
from django.utils import timezone

from cases.models import Case
from metrics import rollups
from tsops.demo import step
from tsops.progress import Progress


@step("metrics", last=True)
def seed_rollups(*, stdout, scale: float) -> None:
    first = Case.objects.aggregate(first=Min("created_at"))["first"]
    if first is None:
        return
    start, end = timezone.localdate(first), timezone.localdate()
    days = (end - start).days + 1
    progress = Progress("rollups", days)
    rollups.rebuild_range(start, end, progress=lambda _day: progress.advance())
    progress.finish()
    stdout.write(f"  rollups rebuilt for {days} days ({start} to {end})\n")
