"""Evasion suspects flagged and confirmed, read from the case links (few rows: no rollup)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from metrics.calibration import _bounds

# Per suspect's case: when it was first flagged (its first evasion_suspect link) and the
# outcome of its latest decision, if any. Restricted cases count only for their team.
_SQL = """
WITH flagged AS (
    SELECT from_case_id AS case_id, MIN(created_at) AS flagged_at
    FROM cases_caselink
    WHERE kind = 'evasion_suspect' AND created_at < %(end)s
    GROUP BY from_case_id
    HAVING MIN(created_at) >= %(start)s
)
SELECT (f.flagged_at AT TIME ZONE %(tz)s)::date, c.severity, (
    SELECT d.outcome FROM enforcement_decision d WHERE d.case_id = f.case_id
    ORDER BY d.created_at DESC, d.id DESC LIMIT 1
)
FROM flagged f JOIN cases_case c ON c.id = f.case_id
WHERE (CASE WHEN c.restricted THEN c.team ELSE '' END) = ANY(%(teams)s)
    AND (%(queue)s::bigint IS NULL OR c.queue_id = %(queue)s)
    AND (%(severity)s::int IS NULL OR c.severity = %(severity)s)
    AND (%(reason)s::text IS NULL OR c.reason = %(reason)s)
"""


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 4) if whole else None


def evasion_confirmed(
    *,
    teams: list[str],
    date_from: date,
    date_to: date,
    queue_id: int | None = None,
    severity: int | None = None,
    reason: str | None = None,
) -> dict:
    """The KPI ``evasion_confirmed``: of the cases first flagged as evasion suspects in the
    range, the share whose latest decision is a violation (``n``: how many were flagged)."""
    start, end = _bounds(date_from, date_to)
    with connection.cursor() as cursor:
        cursor.execute(
            _SQL,
            {
                "start": start,
                "end": end,
                "tz": settings.TIME_ZONE,
                "teams": teams,
                "queue": queue_id,
                "severity": severity,
                "reason": reason,
            },
        )
        rows = cursor.fetchall()
    # [flagged, decided, confirmed] per day and per severity.
    by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_severity: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    total = [0, 0, 0]
    for day, case_severity, outcome in rows:
        for counts in (by_day[day], by_severity[case_severity], total):
            counts[0] += 1
            counts[1] += outcome is not None
            counts[2] += outcome == "violation"
    days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    return {
        "value": _pct(total[2], total[0]),
        "unit": "%",
        "interval": None,
        "n": total[0],
        "series": [
            {
                "date": d.isoformat(),
                "value": _pct(by_day[d][2], by_day[d][0]) if d in by_day else None,
            }
            for d in days
        ],
        "breakdown": [
            {
                "label": f"P{s}",
                "dimension": "severity",
                "value": _pct(by_severity[s][2], by_severity[s][0]),
                "flagged": by_severity[s][0],
                "decided": by_severity[s][1],
                "confirmed": by_severity[s][2],
            }
            for s in sorted(by_severity)
        ],
        "flagged": total[0],
        "decided": total[1],
        "confirmed": total[2],
    }
