"""Detector operating points: how each detector's automated flags fare with the humans who
decide them, by score threshold and by week.

Ground truth is the human decision that decides each flag, as the detector-precision KPI
defines it (``metrics.deciding``): the first decision on the flag's case made at or after the
flag arrived, confirmed when it found a violation. A flag whose deciding decision was itself
automated has no human verdict and counts as undecided.

Figures count only the cases whose work counts in the reader's figures
(``cases.visibility.figure_teams``): another team's restricted cases never reach them, not even
as a detector's name. Every figure is one aggregate query over the window, never a loop over
rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.http import Http404
from django.utils import timezone

from cases.models import Queue, Report, Severity, severity_code
from cases.visibility import figure_teams
from metrics.deciding import CONFIRMED, DECIDING_DECISION_LATERAL
from metrics.rollups import TEAM
from qa.stats import wilson_interval
from tsops.errors import HiddenObject

# The grid every detector is read on: each 0.05 from 0 to 1, plus the thresholds in use.
GRID_STEP = 0.05
GRID = tuple(round(i * GRID_STEP, 2) for i in range(int(round(1 / GRID_STEP)) + 1))

# A flag decided by a human: its deciding decision exists and was not automated.
_DECIDED = "d.id IS NOT NULL AND NOT d.automated"
_CONFIRMED = f"{_DECIDED} AND {CONFIRMED}"


@dataclass(frozen=True)
class Window:
    """Flags received from the start of ``date_from`` to the end of ``date_to`` (UTC days)."""

    date_from: date
    date_to: date

    @classmethod
    def default(cls) -> Window:
        today = timezone.now().date()
        return cls(today - timedelta(days=settings.TSOPS_DETECTOR_WINDOW_DAYS - 1), today)

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.date_from, time.min, tzinfo=UTC)
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        return start, end


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _flags_sql(extra_where: str = "") -> str:
    """Automated flags with a score in the window, on cases counting for the teams given, each
    with its deciding decision ``d``. Parameters: start, end, teams."""
    return (
        "SELECT r.id, r.case_id, r.detector, r.score, r.reason, r.received_at, "  # noqa: S608 - fragments from code
        f"({_DECIDED}) AS decided, COALESCE({_CONFIRMED}, FALSE) AS confirmed "
        "FROM cases_report r JOIN cases_case c ON c.id = r.case_id "
        f"{DECIDING_DECISION_LATERAL} "
        "WHERE r.source = 'automated_flag' AND r.detector <> '' AND r.score IS NOT NULL "
        f"AND r.received_at >= %s AND r.received_at < %s AND {TEAM} = ANY(%s) {extra_where}"
    )


def precision_figure(confirmed: int, decided: int) -> dict:
    """Precision as a share (0–1) with its 95% Wilson interval; nulls when nothing was decided."""
    interval = wilson_interval(confirmed, decided)
    return {
        "decided": decided,
        "confirmed": confirmed,
        "precision": round(confirmed / decided, 4) if decided else None,
        "interval": [round(interval[0], 4), round(interval[1], 4)] if interval else None,
    }


# --- Thresholds in use --------------------------------------------------------------------------


def thresholds_in_use(detector: str) -> list[dict]:
    """The score thresholds live rules apply to this detector's flags: one
    ``{"threshold", "label", "effect"}`` per active rule whose condition requires this
    detector and a minimum score (``report.detector == "x" && report.score >= t``)."""
    from detection.engine import compiled_for
    from detection.models import Rule

    queues = dict(Queue.objects.values_list("slug", "name"))
    marked = []
    for rule in Rule.objects.filter(state=Rule.State.ACTIVE).select_related("active_version"):
        if rule.active_version is None:
            continue
        compiled = compiled_for(rule.active_version)
        if detector not in compiled.guards.get("report.detector", ()):
            continue
        if "report.score" not in compiled.bounds:
            continue
        marked.append(
            {
                "threshold": round(compiled.bounds["report.score"], 4),
                "label": rule.name,
                "effect": _effects_in_words(rule.active_version.effects, queues),
            }
        )
    return sorted(marked, key=lambda m: (m["threshold"], m["label"]))


def _effects_in_words(effects: list[dict], queues: dict[str, str]) -> str:
    words = []
    for effect in effects:
        kind = effect["type"]
        if kind == "route":
            words.append(f"route to {queues.get(effect['queue'], effect['queue'])}")
            if "severity" in effect:
                words.append(f"severity {effect['severity']}")
        elif kind == "severity":
            words.append(f"severity {effect['severity']}")
        elif kind == "escalate":
            words.append(f"escalate to {effect['team']}")
        elif kind == "tag":
            words.append(f"tag {effect['tag']}")
        elif kind == "action":
            words.append(f"{effect['action'].replace('_', ' ')}")
    return ", ".join(words)


# --- Detectors ---------------------------------------------------------------------------------


def detector_names(*, actor) -> list[str]:
    """Every detector that has sent a scored flag on a case counting in the actor's figures."""
    return _detector_names(figure_teams(actor))


def _detector_names(teams: list[str]) -> list[str]:
    rows = _rows(
        "SELECT DISTINCT r.detector FROM cases_report r JOIN cases_case c ON c.id = r.case_id "  # noqa: S608 - fragments from code
        "WHERE r.source = 'automated_flag' AND r.detector <> '' AND r.score IS NOT NULL "
        f"AND {TEAM} = ANY(%s) ORDER BY 1",
        [teams],
    )
    return [name for (name,) in rows]


def detector_list(*, actor, window: Window) -> list[dict]:
    """Each detector the actor may read about: its flags, decided and confirmed in the window
    with precision and interval, and its latest complete week."""
    teams = figure_teams(actor)
    start, end = window.bounds()
    totals = {
        name: (volume, decided, confirmed)
        for name, volume, decided, confirmed in _rows(
            f"SELECT f.detector, count(*), count(*) FILTER (WHERE f.decided), "  # noqa: S608 - fragments from code
            f"count(*) FILTER (WHERE f.confirmed) FROM ({_flags_sql()}) f GROUP BY f.detector",
            [start, end, teams],
        )
    }
    weekly = _weekly(teams=teams, detector=None)
    listed = []
    for name in _detector_names(teams):
        volume, decided, confirmed = totals.get(name, (0, 0, 0))
        weeks = weekly.get(name) or _empty_weeks()
        listed.append(
            {
                "name": name,
                "volume": volume,
                **precision_figure(confirmed, decided),
                "latest_week": weeks[-1],
                "drift": drift_test(weeks)["drift"],
            }
        )
    return listed


def detector_operating_points(*, actor, name: str, window: Window) -> dict:
    """One detector's grid (volume, decided, confirmed, precision with interval and recall at
    each threshold), the thresholds in use, the recommended threshold per severity and its
    weekly precision. Raises Http404 for a detector the actor has no flags of."""
    teams = figure_teams(actor)
    if name not in _detector_names(teams):
        _refuse_detector(actor=actor, name=name)
    in_use = thresholds_in_use(name)
    thresholds = sorted({*GRID, *(m["threshold"] for m in in_use)})
    grid, all_confirmed = _grid(teams=teams, name=name, window=window, thresholds=thresholds)
    weeks = _weekly(teams=teams, detector=name).get(name) or _empty_weeks()
    return {
        "name": name,
        "from": window.date_from,
        "to": window.date_to,
        "confirmed_violations": all_confirmed,
        "grid": grid,
        "thresholds_in_use": in_use,
        "recommendations": recommend(grid),
        "weekly": weeks,
        "drift": drift_test(weeks),
    }


def _refuse_detector(*, actor, name: str) -> None:
    """404 for a detector the actor has no flags of; when it has flags the actor may not count
    (another team's restricted work), the denial is recorded as for any hidden object."""
    hidden = (
        Report.objects.filter(source=Report.Source.AUTOMATED_FLAG, detector=name)
        .exclude(score=None)
        .order_by("pk")
        .first()
    )
    if hidden is None:
        raise Http404("No such detector.")
    raise HiddenObject("No such detector.", actor=actor, obj=hidden)


def _grid(*, teams: list[str], name: str, window: Window, thresholds: list[float]):
    """The grid rows and the recall denominator: confirmed violations (cases) of the reasons
    this detector flags, from any source, reported in the window."""
    start, end = window.bounds()
    rows = _rows(
        f"WITH f AS ({_flags_sql('AND r.detector = %s')}), "  # noqa: S608 - fragments from code
        # Every report of the detector's reasons in the window with its deciding decision: a
        # case counts once as a confirmed violation when any of them was confirmed.
        "violations AS (SELECT DISTINCT r.case_id FROM cases_report r "
        f"JOIN cases_case c ON c.id = r.case_id {DECIDING_DECISION_LATERAL} "
        "WHERE r.received_at >= %s AND r.received_at < %s AND "
        f"{TEAM} = ANY(%s) AND r.reason IN (SELECT DISTINCT reason FROM f) AND {_CONFIRMED}) "
        "SELECT t.threshold, count(f.id), count(f.id) FILTER (WHERE f.decided), "
        "count(f.id) FILTER (WHERE f.confirmed), "
        "count(DISTINCT f.case_id) FILTER (WHERE f.confirmed), "
        "(SELECT count(*) FROM violations) "
        "FROM unnest(%s::float8[]) AS t(threshold) "
        "LEFT JOIN f ON f.score >= t.threshold GROUP BY t.threshold ORDER BY t.threshold",
        [start, end, teams, name, start, end, teams, thresholds],
    )
    grid = []
    all_confirmed = rows[0][5] if rows else 0
    for threshold, volume, decided, confirmed, confirmed_cases, _ in rows:
        grid.append(
            {
                "threshold": round(threshold, 4),
                "volume": volume,
                **precision_figure(confirmed, decided),
                "recall": round(confirmed_cases / all_confirmed, 4) if all_confirmed else None,
            }
        )
    return grid, all_confirmed


def recommend(grid: list[dict]) -> list[dict]:
    """Per severity: the lowest threshold whose precision's Wilson lower bound meets the
    severity's target (``TSOPS_DETECTOR_TARGET_PRECISION``) on at least
    ``TSOPS_DETECTOR_MIN_DECIDED`` decided flags; ``threshold`` is null when none does."""
    minimum = settings.TSOPS_DETECTOR_MIN_DECIDED
    recommendations = []
    for severity, target in sorted(settings.TSOPS_DETECTOR_TARGET_PRECISION.items()):
        chosen = next(
            (
                row
                for row in grid
                if row["decided"] >= minimum and row["interval"] and row["interval"][0] >= target
            ),
            None,
        )
        recommendations.append(
            {
                "severity": severity_code(severity),
                "severity_label": Severity(severity).label if severity in Severity.values else "",
                "target": target,
                "threshold": chosen["threshold"] if chosen else None,
                "precision": chosen["precision"] if chosen else None,
                "interval": chosen["interval"] if chosen else None,
                "volume": chosen["volume"] if chosen else None,
            }
        )
    return recommendations


# --- Weekly precision and drift ------------------------------------------------------------------


def _week_starts() -> list[date]:
    """The Mondays (UTC) of the last ``TSOPS_DETECTOR_DRIFT_WEEKS`` complete weeks, oldest
    first: the current week is still filling and never tested."""
    today = timezone.now().date()
    this_monday = today - timedelta(days=today.weekday())
    weeks = settings.TSOPS_DETECTOR_DRIFT_WEEKS
    return [this_monday - timedelta(weeks=n) for n in range(weeks, 0, -1)]


def _empty_weeks() -> list[dict]:
    return [{"week": week, **precision_figure(0, 0)} for week in _week_starts()]


def _weekly(*, teams: list[str], detector: str | None) -> dict[str, list[dict]]:
    """Per detector, the complete weeks' precision (flags by the week they arrived)."""
    weeks = _week_starts()
    start = datetime.combine(weeks[0], time.min, tzinfo=UTC)
    end = datetime.combine(weeks[-1] + timedelta(weeks=1), time.min, tzinfo=UTC)
    extra, params = ("AND r.detector = %s", [detector]) if detector else ("", [])
    rows = _rows(
        "SELECT f.detector, (date_trunc('week', f.received_at AT TIME ZONE 'UTC'))::date, "  # noqa: S608 - fragments from code
        "count(*) FILTER (WHERE f.decided), count(*) FILTER (WHERE f.confirmed) "
        f"FROM ({_flags_sql(extra)}) f GROUP BY 1, 2",
        [start, end, teams, *params],
    )
    cells = {(name, week): (confirmed, decided) for name, week, decided, confirmed in rows}
    names = {name for name, _ in cells}
    return {
        name: [
            {"week": week, **precision_figure(*cells.get((name, week), (0, 0)))} for week in weeks
        ]
        for name in names
    }


def drift_test(weeks: list[dict]) -> dict:
    """Whether the latest complete week's precision fell beyond its interval.

    The test: pool the decided and confirmed flags of the earlier weeks into one baseline
    precision with its 95% Wilson interval; the latest week drifts when the upper bound of its
    own 95% Wilson interval lies below the baseline's lower bound (the two intervals do not
    overlap, the latest below). Neither side is tested on fewer than
    ``TSOPS_DETECTOR_MIN_DECIDED`` decided flags.
    """
    minimum = settings.TSOPS_DETECTOR_MIN_DECIDED
    latest = weeks[-1]
    decided = sum(w["decided"] for w in weeks[:-1])
    confirmed = sum(w["confirmed"] for w in weeks[:-1])
    baseline = precision_figure(confirmed, decided)
    tested = latest["decided"] >= minimum and decided >= minimum
    drift = bool(tested and latest["interval"][1] < baseline["interval"][0])
    return {
        "week": latest["week"],
        "tested": tested,
        "drift": drift,
        "observed": {k: latest[k] for k in ("decided", "confirmed", "precision", "interval")},
        "expected": baseline,
    }


def detectors_drift_all() -> list[dict]:
    """For the drift check (no reader): each detector's drift test over unrestricted work, and
    separately over each specialist team's restricted work, so a team's figures never mix into
    the alert everyone sees. ``{"name", "team", "test"}`` per detector and scope."""
    scopes = [""] + [
        team
        for (team,) in _rows(
            "SELECT DISTINCT team FROM cases_case WHERE restricted AND team <> '' ORDER BY 1", []
        )
    ]
    tests = []
    for team in scopes:
        for name, weeks in sorted(_weekly(teams=[team], detector=None).items()):
            tests.append({"name": name, "team": team, "test": drift_test(weeks)})
    return tests
