"""Building report history for the alert tests: reports at chosen times in chosen cells."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from cases.models import Case, Report

# A Monday afternoon well away from the reports intake writes "now".
HOUR = datetime(2026, 6, 1, 14, tzinfo=UTC)
WEEK = timedelta(days=7)

_numbers = itertools.count()


def add_reports(case: Case, count: int, at: datetime, *, source: str = "user_report") -> None:
    """``count`` more reports on ``case``'s subject and reason, received within the hour of
    ``at`` (as intake stores them)."""
    Report.objects.bulk_create(
        [
            Report(
                source=source,
                external_id=f"hist-{next(_numbers)}",
                case=case,
                subject=case.subject,
                reason=case.reason,
                received_at=at + timedelta(minutes=(n * 7) % 60),
            )
            for n in range(count)
        ]
    )


def add_baseline(case: Case, per_week: list[int], hour: datetime = HOUR, **kwargs) -> None:
    """The cell's counts in the same hour of each past week (first: last week)."""
    for weeks_ago, count in enumerate(per_week, start=1):
        add_reports(case, count, hour - weeks_ago * WEEK, **kwargs)
