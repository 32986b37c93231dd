"""Report volume anomalies: each hour's reports per (reason, subject kind, source) against the
same hour of the week over the past weeks, tested for an unusual excess.

The test, for one cell and one hour:

- observed ``k``: the cell's reports received in the hour;
- baseline: the cell's reports in the same hour of the week in each of the past
  ``TSOPS_ALERT_BASELINE_WEEKS`` weeks (``N``); the expected count is their mean with one
  pseudo-report added, ``lambda = (sum + 1) / N``, so that a cell without history is still
  tested (against a small rate) instead of departing at its first report;
- under the null hypothesis the hour's count is Poisson(lambda); the one-sided upper-tail
  p-value is ``P(X >= k | lambda)``;
- the hour departs when ``k >= TSOPS_ALERT_MIN_COUNT`` and the p-value is below
  ``alpha = 1 - TSOPS_ALERT_CONFIDENCE`` (0.001 by default). One test per cell and hour, no
  correction for the number of cells: the minimum count keeps small cells from alerting.

A report counts in the cell of its case's visibility: reports on a case restricted to a team,
and reports of a restricted reason (``ReportReason.restricted_team``), make a separate cell for
that team (key suffix ``:<team>``), whose alert carries the team and is seen by that team only;
no count of restricted work reaches anyone else. A restricted case without a team is counted
nowhere (no one could be shown its alert).

Episodes: a departing cell raises its alert (``alert_raise``: opened once, refreshed while
departures continue); an open volume alert whose cell has been normal for
``TSOPS_ALERT_QUIET_HOURS`` evaluated hours in a row resolves itself; an acknowledged one waits
for a person. Each hour is evaluated once (the ``VolumeCheck`` row claims it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cases.models import ReportReason
from detection.models import Alert, VolumeCheck
from detection.services.alerts import alert_raise, alerts_quiet_hour
from tsops.presentation import label_for

WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)
TEST_NAME = "one-sided Poisson upper tail against the same hour of the past weeks"


# --- The test --------------------------------------------------------------------------------


def _lower_gamma_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its series (converges fast for x < a+1);
    summed with the prefactor in log space so that tiny tails do not underflow early."""
    term = 1.0 / a
    total = term
    n = a
    for _ in range(10_000):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-16:
            break
    return math.exp(a * math.log(x) - x - math.lgamma(a) + math.log(total))


def _upper_gamma_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a+1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(a * math.log(x) - x - math.lgamma(a) + math.log(h))


def poisson_upper_tail(observed: int, expected: float) -> float:
    """``P(X >= observed)`` for ``X ~ Poisson(expected)``.

    Equal to the regularized lower incomplete gamma ``P(observed, expected)``; computed by its
    series when ``expected < observed + 1`` (the tail is small: no cancellation) and as one
    minus the continued fraction otherwise (the tail is large: no precision to lose).
    """
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    a, x = float(observed), float(expected)
    if x < a + 1.0:
        return min(1.0, _lower_gamma_series(a, x))
    return max(0.0, 1.0 - _upper_gamma_fraction(a, x))


def expected_count(baseline: list[int]) -> float:
    """The baseline rate: the weekly counts' mean with one pseudo-report (see the module)."""
    return (sum(baseline) + 1) / len(baseline)


# --- Counting --------------------------------------------------------------------------------

# One pass over the report_received_at index: the evaluated hour and the same hour in each of
# the past weeks (a BitmapOr of range scans), counted per cell and week (0 = the evaluated hour).
_COUNT_SQL = """
SELECT r.reason, s.kind, r.source,
       CASE WHEN c.restricted THEN c.team ELSE '' END AS team,
       c.restricted,
       floor(extract(epoch FROM (%s::timestamptz - r.received_at)) / 604800)::int AS week,
       count(*)
FROM cases_report r
JOIN cases_subject s ON s.id = r.subject_id
JOIN cases_case c ON c.id = r.case_id
WHERE {windows}
GROUP BY 1, 2, 3, 4, 5, 6
"""


@dataclass(frozen=True)
class Cell:
    reason: str
    subject_kind: str
    source: str
    team: str

    @property
    def key(self) -> str:
        key = f"volume:{self.reason}:{self.subject_kind}:{self.source}"
        return f"{key}:{self.team}" if self.team else key


@dataclass
class CellCounts:
    observed: int = 0
    baseline: list[int] = field(default_factory=list)


def volume_counts(
    hour: datetime, weeks: int, *, reason_teams: dict[str, str] | None = None
) -> dict[Cell, CellCounts]:
    """Each cell's count in ``hour`` and in the same hour of the past ``weeks`` weeks.

    ``reason_teams`` maps restricted reasons to their teams: their reports count in the team's
    cell even on a case that is not (or no longer) restricted."""
    reason_teams = reason_teams or {}
    starts = [hour - w * WEEK for w in range(weeks + 1)]
    windows = " OR ".join(["(r.received_at >= %s AND r.received_at < %s)"] * len(starts))
    params: list = [hour + HOUR]
    for start in starts:
        params += [start, start + HOUR]
    cells: dict[Cell, CellCounts] = {}
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL.format(windows=windows), params)
        rows = cursor.fetchall()
    for reason, kind, source, team, restricted, week, count in rows:
        team = team or reason_teams.get(reason, "")
        if restricted and not team:
            continue
        counts = cells.setdefault(Cell(reason, kind, source, team), CellCounts())
        if not counts.baseline:
            counts.baseline = [0] * weeks
        if week == 0:
            counts.observed += count
        elif 1 <= week <= weeks:
            counts.baseline[week - 1] += count
    return cells


# --- The check -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeCheckResult:
    hour: datetime
    cells: int
    tested: int
    departures: list[str]
    opened: list[int]
    resolved: int


def last_complete_hour(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(minute=0, second=0, microsecond=0) - HOUR


def _claim_hour(hour: datetime) -> VolumeCheck | None:
    """Insert the hour's check row; None when the hour was evaluated already (or is being)."""
    try:
        with transaction.atomic():
            return VolumeCheck.objects.create(hour=hour)
    except IntegrityError:
        return None


def _restricted_reason_teams() -> dict[str, str]:
    return dict(ReportReason.objects.filter(restricted=True).values_list("code", "restricted_team"))


def _departure(cell: Cell, counts: CellCounts, hour: datetime, alpha: float) -> dict:
    expected = expected_count(counts.baseline)
    p_value = poisson_upper_tail(counts.observed, expected)
    return {
        "reason": cell.reason,
        "subject_kind": cell.subject_kind,
        "source": cell.source,
        "hour": hour.isoformat(),
        "observed": counts.observed,
        "baseline": counts.baseline,
        "expected": round(expected, 3),
        "p_value": p_value,
        "alpha": alpha,
        "test": TEST_NAME,
    }


def _title(cell: Cell) -> str:
    """Stable for the whole episode (the counts of each hour are in ``detail``)."""
    return (
        f"Unusual volume of {label_for('reason', cell.reason)} reports on "
        f"{cell.subject_kind} items ({label_for('source', cell.source)})"
    )


def volume_check(*, hour: datetime | None = None) -> VolumeCheckResult | None:
    """Test one hour of report volume (default: the last complete hour) and open, refresh or
    end volume alerts. Idempotent: an hour already evaluated answers None and changes nothing.
    """
    hour = (hour or last_complete_hour()).replace(minute=0, second=0, microsecond=0)
    weeks = settings.TSOPS_ALERT_BASELINE_WEEKS
    alpha = 1.0 - settings.TSOPS_ALERT_CONFIDENCE
    minimum = settings.TSOPS_ALERT_MIN_COUNT
    with transaction.atomic():
        check = _claim_hour(hour)
        if check is None:
            return None
        cells = volume_counts(hour, weeks, reason_teams=_restricted_reason_teams())
        departed: dict[str, int] = {}
        opened: list[int] = []
        tested = 0
        for cell, counts in sorted(cells.items(), key=lambda item: item[0].key):
            if counts.observed < minimum:
                continue
            tested += 1
            detail = _departure(cell, counts, hour, alpha)
            if detail["p_value"] >= alpha:
                continue
            alert, is_new = alert_raise(
                kind=Alert.Kind.VOLUME,
                key=cell.key,
                title=_title(cell),
                detail=detail,
                team=cell.team,
            )
            departed[cell.key] = alert.pk
            if is_new:
                opened.append(alert.pk)
        resolved = alerts_quiet_hour(
            kind=Alert.Kind.VOLUME,
            departed_keys=set(departed),
            quiet_hours=settings.TSOPS_ALERT_QUIET_HOURS,
        )
        check.cells = len(cells)
        check.tested = tested
        check.departures = len(departed)
        check.save(update_fields=["cells", "tested", "departures"])
    return VolumeCheckResult(
        hour=hour,
        cells=len(cells),
        tested=tested,
        departures=sorted(departed),
        opened=opened,
        resolved=resolved,
    )
