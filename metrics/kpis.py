"""The KPI registry — every figure's one written definition — and :func:`kpi_report`, the one
function that computes them (dashboards, CSV and the REST API all call it).

Figures are read from the rollup tables (:mod:`metrics.models`, written by
:mod:`metrics.rollups`), never from the raw case tables: a report's cost depends on the
number of days and of distinct queues, severities, teams, analysts and action types, not on
the number of cases. Reports without a reason filter read the per-day summaries (fewer
dimensions still); a reason filter reads the full daily rows. Calibration agreement is the
exception: it reads the (small) calibration tables of :mod:`qa` directly; so does the share
of evasion suspects confirmed, from the (few) evasion-suspect case links.

Visibility: a rollup row carries the specialist ``team`` of a restricted case, or "" for an
unrestricted one, and a report counts only the rows whose team is one of
:func:`cases.visibility.figure_teams` (the rule every figure uses, the transparency report's
included). Restricted work therefore never reaches the figures of anyone outside the team,
superusers included; the team's own members see it in their own reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from cases.visibility import figure_teams
from metrics import histogram
from tsops.permissions import has_capability

# Throughput weights: a P0 decision counts four times a P3 one.
SEVERITY_WEIGHTS = {0: 4, 1: 3, 2: 2, 3: 1}
RECURRENCE_DAYS = 30
MAX_RANGE_DAYS = 731
# Read the summary tables when the filters allow (tests compare both ways).
USE_SUMMARIES = True


@dataclass(frozen=True)
class KPI:
    key: str  # "time_to_first_action_p50"
    name: str  # "Time to first action (P50)"
    group: str  # dashboard section
    definition: str  # the definition in words
    numerator: str
    denominator: str
    inclusions: str
    exclusions: str
    unit: str  # "minutes", "%", "cases", "actions", "decisions"
    version: int
    changelog: tuple[tuple[int, str, str], ...]  # (version, "YYYY-MM-DD", what changed)


FIRST = ((1, "2026-11-22", "First definition."),)

_PERCENTILE_NOTE = (
    " Percentiles over a range are read from per-day histograms (six geometric buckets per "
    "doubling of minutes, values spread evenly inside a bucket, ranks interpolated like "
    "percentile_cont), so a figure lies within one bucket of the exact percentile of the raw "
    f"durations: at most {histogram.BUCKET_GROWTH:.1%} of (the exact value + 1 minute) — about "
    "7 seconds near zero, 25% of a one-minute figure, 12% above a few hours. Durations beyond "
    "about 40.5 days read as 40.5 days."
)
# Version 2 of every KPI that carries the note above.
_PERCENTILE_CHANGELOG = (
    *FIRST,
    (
        2,
        "2026-12-03",
        "The stated accuracy is one bucket, at most 12.2% of (the value + 1 minute); it said "
        "about 12% of the value, which fails near zero where a bucket is about 7 seconds wide.",
    ),
)
_TEAM_NOTE = "Restricted cases count only for members of the case's specialist team."

_KPIS = (
    KPI(
        key="time_to_first_action_p50",
        name="Time to first action (P50)",
        group="speed",
        definition=(
            "Median time from a case being opened to its first action (the first decision on "
            "it), over the cases first acted on during the period, by the day of that first "
            "action." + _PERCENTILE_NOTE
        ),
        numerator="first_action_at − created_at of each case, in minutes",
        denominator="cases whose first action falls in the period",
        inclusions="Every queue and severity (filters narrow it); automated decisions count.",
        exclusions="Cases still waiting for a first action. " + _TEAM_NOTE,
        unit="minutes",
        version=2,
        changelog=_PERCENTILE_CHANGELOG,
    ),
    KPI(
        key="time_to_first_action_p90",
        name="Time to first action (P90)",
        group="speed",
        definition=(
            "90th percentile of the time from a case being opened to its first action, over "
            "the cases first acted on during the period." + _PERCENTILE_NOTE
        ),
        numerator="first_action_at − created_at of each case, in minutes",
        denominator="cases whose first action falls in the period",
        inclusions="Every queue and severity (filters narrow it).",
        exclusions="Cases still waiting for a first action. " + _TEAM_NOTE,
        unit="minutes",
        version=2,
        changelog=_PERCENTILE_CHANGELOG,
    ),
    KPI(
        key="time_to_resolution_p50",
        name="Time to resolution (P50)",
        group="speed",
        definition=(
            "Median time from a case being opened to its resolution, over the cases resolved "
            "during the period, by the day of resolution." + _PERCENTILE_NOTE
        ),
        numerator="resolved_at − created_at of each case, in minutes",
        denominator="cases resolved in the period",
        inclusions="Cases resolved by a decision, an approval or a specialist team.",
        exclusions="Open cases. A case resolved again after a reopen counts at its latest "
        "resolution. " + _TEAM_NOTE,
        unit="minutes",
        version=2,
        changelog=_PERCENTILE_CHANGELOG,
    ),
    KPI(
        key="time_to_resolution_p90",
        name="Time to resolution (P90)",
        group="speed",
        definition=(
            "90th percentile of the time from a case being opened to its resolution, over the "
            "cases resolved during the period." + _PERCENTILE_NOTE
        ),
        numerator="resolved_at − created_at of each case, in minutes",
        denominator="cases resolved in the period",
        inclusions="Cases resolved by a decision, an approval or a specialist team.",
        exclusions="Open cases. " + _TEAM_NOTE,
        unit="minutes",
        version=2,
        changelog=_PERCENTILE_CHANGELOG,
    ),
    KPI(
        key="sla_first_action",
        name="SLA compliance: first action",
        group="sla",
        definition=(
            "Share of the cases first acted on during the period whose first action came no "
            "later than the first-action deadline stamped on the case."
        ),
        numerator="cases first acted on in the period with first_action_at ≤ first_action_due",
        denominator="cases first acted on in the period",
        inclusions="Deadlines as stamped (re-stamped when severity changes).",
        exclusions="Cases not yet acted on (they show in the backlog's breached count). "
        + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="sla_resolution",
        name="SLA compliance: resolution",
        group="sla",
        definition=(
            "Share of the cases resolved during the period that were resolved no later than "
            "the resolution deadline stamped on the case."
        ),
        numerator="cases resolved in the period with resolved_at ≤ resolve_due",
        denominator="cases resolved in the period",
        inclusions="Deadlines as stamped on the case.",
        exclusions="Open cases. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="backlog_open",
        name="Backlog",
        group="backlog",
        definition=(
            "Open cases at the end of the day (a daily snapshot), by age since opening and by "
            "severity. The figure is the snapshot of the last day of the period that has one; "
            "the series gives each day's."
        ),
        numerator="cases opened before the snapshot and not resolved by then",
        denominator="—",
        inclusions="New, in review, pending approval and escalated cases.",
        exclusions="Days whose snapshot has not been taken yet (today until the nightly run). "
        + _TEAM_NOTE,
        unit="cases",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="backlog_breached",
        name="Backlog past a deadline",
        group="backlog",
        definition=(
            "Open cases at the snapshot that are past their resolution deadline, or past their "
            "first-action deadline without a first action."
        ),
        numerator="open cases past a deadline at the snapshot",
        denominator="—",
        inclusions="As for the backlog.",
        exclusions=_TEAM_NOTE,
        unit="cases",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="cases_created",
        name="Cases opened",
        group="volume",
        definition="Cases opened during the period (a report on a subject with an open case "
        "joins it and opens nothing).",
        numerator="cases with created_at in the period",
        denominator="—",
        inclusions="User reports, automated flags, support and internal reports.",
        exclusions=_TEAM_NOTE,
        unit="cases",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="cases_resolved",
        name="Cases resolved",
        group="volume",
        definition="Cases resolved during the period, by the day of resolution.",
        numerator="cases with resolved_at in the period",
        denominator="—",
        inclusions="Every way a case resolves.",
        exclusions=_TEAM_NOTE,
        unit="cases",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="actions_by_type",
        name="Actions by type",
        group="actions",
        definition=(
            "Enforcement actions that took effect during the period (applied at once or on "
            "approval), by action type; the breakdown also counts reversals in the period."
        ),
        numerator="actions with starts_at in the period",
        denominator="—",
        inclusions="Replacement actions of modified appeals.",
        exclusions="Proposed actions still waiting for approval, and rejected ones. " + _TEAM_NOTE,
        unit="actions",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="recurrence_rate",
        name="Recurrence",
        group="actions",
        definition=(
            f"Share of the actioned decisions of the period whose account had already been "
            f"actioned by another decision in the {RECURRENCE_DAYS} days before."
        ),
        numerator=f"actioned decisions whose account has another actioned decision in the "
        f"previous {RECURRENCE_DAYS} days",
        denominator="decisions made in the period with at least one action that took effect, "
        "on a subject with a known account",
        inclusions="The account is the subject itself or the owner of the reported content.",
        exclusions="Decisions on content with no known owner. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="appeal_overturn_rate",
        name="Appeal overturn rate",
        group="appeals",
        definition="Share of the appeals decided during the period that were overturned (the "
        "breakdown also shows those modified to a lighter action).",
        numerator="appeals decided in the period as overturned",
        denominator="appeals decided in the period (upheld, overturned or modified)",
        inclusions="Appeals on every action type.",
        exclusions="Appeals still open. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="appeal_time_p50",
        name="Appeal decision time (P50)",
        group="appeals",
        definition="Median time from an appeal being filed to its decision, over the appeals "
        "decided during the period." + _PERCENTILE_NOTE,
        numerator="decided_at − filed_at of each appeal, in minutes",
        denominator="appeals decided in the period",
        inclusions="Every outcome.",
        exclusions="Appeals still open. " + _TEAM_NOTE,
        unit="minutes",
        version=2,
        changelog=_PERCENTILE_CHANGELOG,
    ),
    KPI(
        key="qa_pass_rate",
        name="QA pass rate",
        group="quality",
        definition=(
            "Share of the QA reviews scored during the period that passed the rubric, with its "
            "95% Wilson score interval."
        ),
        numerator="QA reviews scored in the period with passed = true",
        denominator="QA reviews scored in the period",
        inclusions="Random and always-included samples alike.",
        exclusions="Reviews not yet scored. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="calibration_agreement",
        name="Calibration agreement",
        group="quality",
        definition=(
            "Agreement with gold in the calibration sessions closed during the period: of the "
            "four answer fields (outcome, policy section, action, severity) of every answer, "
            "the share equal to the case's gold answer — the same measure as a session's "
            "results page (qa.calibration_selectors.gold_hits). The breakdown gives each session's "
            "agreement and Fleiss' kappa on outcomes; n is the number of answers."
        ),
        numerator="answer fields equal to the gold answer's",
        denominator="answer fields compared (four per answer on cases with a gold outcome)",
        inclusions="Closed sessions only.",
        exclusions="Cases without a gold answer; cases the actor may not see.",
        unit="%",
        version=2,
        changelog=(
            *FIRST,
            (
                2,
                "2026-11-22",
                "All four fields count, as on the session's results page (was: outcome and "
                "section, with a whole answer matching or not).",
            ),
        ),
    ),
    KPI(
        key="rework_rate",
        name="Rework (reopen) rate",
        group="quality",
        definition="Reopens during the period per case resolved during the period. A resolved "
        "case is reopened by an overturned appeal, by a failed QA review whose correction "
        "changes the outcome (once the failure is final: acknowledged, or its dispute "
        "rejected), or by new evidence; it goes back to its queue and is decided again "
        "(cases.lifecycle).",
        numerator="CASE_REOPENED events in the period (one per reopen, whatever its trigger)",
        denominator="cases resolved in the period (a reopened case counts at its latest "
        "resolution)",
        inclusions="All three triggers. A reopen whose work joined the subject's newer open "
        "case counts too: it is rework all the same.",
        exclusions=_TEAM_NOTE,
        unit="%",
        version=2,
        changelog=(
            *FIRST,
            (
                2,
                "2026-12-03",
                "Reopens are real: the case goes back to its queue and is resolved again. QA "
                "corrections and new evidence now reopen too (before, only an overturned "
                "appeal was recorded, and the case stayed resolved).",
            ),
        ),
    ),
    KPI(
        key="proactive_share",
        name="Proactive share",
        group="detection",
        definition=(
            "Share of the violations decided during the period on cases first found by an "
            "automated flag (the case's earliest report was a flag)."
        ),
        numerator="violation decisions in the period whose case's first report is a flag",
        denominator="violation decisions in the period",
        inclusions="Every detector.",
        exclusions="No-violation and insufficient-evidence decisions. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="detector_precision",
        name="Detector precision",
        group="detection",
        definition=(
            "Share of the automated flags decided during the period that were confirmed: a "
            "flag is decided by the first decision on its case made after it arrived, and "
            "confirmed when that decision is a violation. Broken down per detector."
        ),
        numerator="flags whose deciding decision is a violation",
        denominator="flags decided in the period",
        inclusions="Every automated flag with or without a detector name.",
        exclusions="Flags on cases not yet decided; user reports. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=FIRST,
    ),
    KPI(
        key="evasion_confirmed",
        name="Evasion suspects confirmed",
        group="detection",
        definition=(
            "Share of the evasion suspects flagged during the period that a decision "
            "confirmed: a case is flagged at intake when its account shares a strong "
            "identifier (TSOPS_EVASION_KINDS) with an account under an active suspension or "
            "ban, on the day of its first evasion-suspect link, and confirmed when the latest "
            "decision on it is a violation. n is the number of suspects flagged; the "
            "breakdown by severity also counts those decided and confirmed."
        ),
        numerator="flagged cases whose latest decision is a violation",
        denominator="cases first flagged as evasion suspects in the period",
        inclusions="Suspects on accounts and on content they own; suspects not yet decided "
        "count as not confirmed.",
        exclusions="Cases linked to an actioned account by hand. " + _TEAM_NOTE,
        unit="%",
        version=1,
        changelog=((1, "2026-12-04", "First definition."),),
    ),
    KPI(
        key="escalation_ack_time_p50",
        name="Escalation acknowledgement time (P50)",
        group="escalations",
        definition="Median time from a case being escalated to a specialist team to the team "
        "acknowledging it, over the escalations acknowledged during the period; the breakdown "
        "also gives the share acknowledged by the team's deadline." + _PERCENTILE_NOTE,
        numerator="acknowledged_at − raised_at of each escalation, in minutes",
        denominator="escalations acknowledged in the period",
        inclusions="Every team.",
        exclusions="Escalations not (yet) acknowledged, including those resolved or returned "
        "without an acknowledgement. " + _TEAM_NOTE,
        unit="minutes",
        version=2,
        changelog=_PERCENTILE_CHANGELOG,
    ),
    KPI(
        key="throughput_weighted",
        name="Throughput per analyst (severity-weighted)",
        group="people",
        definition=(
            "Decisions per analyst per working day, each weighted by the case's severity "
            "(P0 = 4, P1 = 3, P2 = 2, P3 = 1); a working day is a day on which the analyst "
            "decided at least one case."
        ),
        numerator="Σ severity weight of the human decisions made in the period",
        denominator="analyst-days with at least one decision",
        inclusions="Every human decision, whatever its outcome.",
        exclusions="Automated decisions. " + _TEAM_NOTE,
        unit="weighted decisions / analyst-day",
        version=1,
        changelog=FIRST,
    ),
)

REGISTRY: dict[str, KPI] = {kpi.key: kpi for kpi in _KPIS}

# KPIs that mean something for one analyst's own figures; the others are None for them.
ANALYST_KPIS = frozenset(
    {"actions_by_type", "appeal_overturn_rate", "qa_pass_rate", "throughput_weighted"}
)


def can_read_kpis(actor, analyst_id: int | None = None) -> bool:
    """Seniors read the operation's figures; anyone who decides cases reads their own."""
    if not getattr(actor, "is_authenticated", False):
        return False
    if has_capability(actor, "view_team_metrics"):
        return True
    if analyst_id is not None and analyst_id == actor.pk:
        return has_capability(actor, "work_standard_queues") or has_capability(
            actor, "work_team_cases"
        )
    return False


# --- reading the rollups --------------------------------------------------------------------


@dataclass
class _Filters:
    date_from: date
    date_to: date
    teams: list[str]
    queue_id: int | None
    severity: int | None
    reason: str | None
    analyst_id: int | None

    def where(self, *, analyst: bool = False) -> tuple[str, list]:
        sql = ["day BETWEEN %s AND %s", "team = ANY(%s)"]
        params: list = [self.date_from, self.date_to, self.teams]
        if self.queue_id is not None:
            sql.append("queue_id = %s")
            params.append(self.queue_id)
        if self.severity is not None:
            sql.append("severity = %s")
            params.append(self.severity)
        if self.reason:
            sql.append("reason = %s")
            params.append(self.reason)
        if analyst and self.analyst_id is not None:
            sql.append("analyst_id = %s")
            params.append(self.analyst_id)
        return " AND ".join(sql), params


class _Grouped:
    """Rows of a GROUPING SETS query: ``total``, ``by[dimension][value]``."""

    def __init__(self, columns: list[str], rows: list[tuple], dims: tuple[str, ...]):
        self.total: dict = {}
        self.by: dict[str, dict] = defaultdict(dict)
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            flags = [record.pop(f"g_{d}") for d in dims]
            values = [record.pop(d) for d in dims]
            if all(flags):
                self.total = record
            else:
                index = flags.index(0)
                self.by[dims[index]][values[index]] = record

    def get(self, dim: str, value) -> dict:
        return self.by.get(dim, {}).get(value, {})

    def merge(self, other: _Grouped) -> None:
        """Add the columns of ``other`` (same dimensions, maybe fewer groups)."""
        self.total.update(other.total)
        for dim, groups in other.by.items():
            for value, record in groups.items():
                self.by[dim].setdefault(value, {}).update(record)


def _grouped(
    table: str,
    f: _Filters,
    dims: tuple[str, ...],
    sums: tuple[str, ...],
    *,
    hists: tuple[str, ...] = (),
    active: bool = False,
    analyst: bool = False,
) -> _Grouped:
    """Totals, and totals by each of ``dims``, in one statement: the rows are first summed
    by all ``dims`` together (one pass over the rollup rows, however many reasons and teams
    they are split into), then those few rows by GROUPING SETS. ``active`` counts the
    (day, analyst) pairs with at least one decision."""
    where, params = f.where(analyst=analyst)
    group = ", ".join(dims)
    inner = [group] + [f"SUM({c}) AS {c}" for c in sums]
    inner += [histogram.sum_sql(h, h) for h in hists]
    if active:
        inner.append("(SUM(decisions) > 0)::int AS active")
    outer = [", ".join(f"GROUPING({d}) AS g_{d}" for d in dims), group]
    outer += [f"SUM({c}) AS {c}" for c in sums]
    outer += [histogram.sum_sql(h, h) for h in hists]
    if active:
        outer.append("SUM(active) AS active")
    sets = ", ".join(["()"] + [f"({d})" for d in dims])
    sql = (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {table} "  # noqa: S608
        f"WHERE {where} GROUP BY {group}) t GROUP BY GROUPING SETS ({sets})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description]
        rows = cursor.fetchall()
    return _Grouped(columns, rows, tuple(dims))


def _grouped_with_histograms(
    table: str, f: _Filters, dims: tuple[str, ...], sums: tuple[str, ...], hists: tuple[str, ...]
) -> _Grouped:
    """Like :func:`_grouped` for the counts, plus each histogram summed over only the rows
    that have one (most rows have no appeal or escalation, and summing 96 buckets is the
    costly part) — all in one statement."""
    where, params = f.where()
    group = ", ".join(dims)
    flags = ", ".join(f"GROUPING({d}) AS g_{d}" for d in dims)
    sets = ", ".join(["()"] + [f"({d})" for d in dims])
    null_sums = ", ".join(f"NULL::bigint AS {c}" for c in sums)
    parts = [
        f"SELECT 'counts' AS kind, {flags}, {group}, "  # noqa: S608 - names from code
        + ", ".join(f"SUM({c})::bigint AS {c}" for c in sums)
        + ", NULL::bigint[] AS hist FROM (SELECT "
        + ", ".join([group] + [f"SUM({c}) AS {c}" for c in sums])
        + f" FROM base GROUP BY {group}) t GROUP BY GROUPING SETS ({sets})"
    ]
    for h in hists:
        parts.append(
            f"SELECT '{h}', {flags}, {group}, {null_sums}, "  # noqa: S608
            + histogram.sum_sql("t.h", "hist")
            + f" FROM (SELECT {group}, "
            + histogram.sum_sql(h, "h")
            + f" FROM base WHERE {h} IS NOT NULL GROUP BY {group}) t "
            f"GROUP BY GROUPING SETS ({sets})"
        )
    # Table and column names come from code, never from input.
    sql = f"WITH base AS MATERIALIZED (SELECT * FROM {table} WHERE {where}) "  # noqa: S608
    sql += " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c.name for c in cursor.description][1:]
        rows = cursor.fetchall()
    by_kind: dict[str, list] = defaultdict(list)
    for row in rows:
        by_kind[row[0]].append(row[1:])
    grouped = _Grouped(columns[:-1], [r[:-1] for r in by_kind["counts"]], tuple(dims))
    keep = [i for i, c in enumerate(columns) if c not in sums]
    for h in hists:
        renamed = [h if columns[i] == "hist" else columns[i] for i in keep]
        rows_h = [[r[i] for i in keep] for r in by_kind[h]]
        grouped.merge(_Grouped(renamed, rows_h, tuple(dims)))
    return grouped


def _num(value) -> int:
    return int(value or 0)


def _ratio(numerator, denominator) -> float | None:
    denominator = _num(denominator)
    if denominator == 0:
        return None
    return round(100.0 * _num(numerator) / denominator, 4)


def _days(f: _Filters) -> list[date]:
    return [f.date_from + timedelta(days=i) for i in range((f.date_to - f.date_from).days + 1)]


def _figure(unit, value=None, *, interval=None, n=None, series=None, breakdown=None) -> dict:
    return {
        "value": value,
        "unit": unit,
        "interval": interval,
        "n": n,
        "series": series or [],
        "breakdown": breakdown or [],
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _severity_label(value: int) -> str:
    return f"P{value}"


class _Report:
    def __init__(self, f: _Filters):
        self.f = f
        self.days = _days(f)
        from cases.models import Queue

        self.queue_names = dict(Queue.objects.values_list("id", "name"))

    def series(self, fn) -> list[dict]:
        return [{"date": d.isoformat(), "value": fn(d)} for d in self.days]

    def empty_series(self) -> list[dict]:
        return [{"date": d.isoformat(), "value": None} for d in self.days]

    # --- cases ----------------------------------------------------------------------------

    CASE_SUMS = (
        "created",
        "first_actions",
        "first_actions_in_sla",
        "resolved",
        "resolved_in_sla",
        "reopened",
        "decisions",
        "violations",
        "violations_proactive",
        "actioned",
        "actioned_recurring",
        "appeals_filed",
        "appeals_decided",
        "appeals_overturned",
        "appeals_modified",
        "escalations_raised",
        "escalations_acknowledged",
        "escalations_ack_in_time",
    )
    CASE_HISTS = ("first_action_hist", "resolution_hist", "appeal_hist", "ack_hist")

    def _table(self, summary: str, daily: str, *supported: str) -> str:
        """The summary table unless a filter needs a dimension only the daily table has."""
        f = self.f
        filters = {"queue": f.queue_id is not None, "reason": bool(f.reason)}
        filters["severity"] = f.severity is not None
        if USE_SUMMARIES and not any(on for name, on in filters.items() if name not in supported):
            return summary
        return daily

    def load_cases(self) -> None:
        self.cases = _grouped_with_histograms(
            self._table("metrics_casesummary", "metrics_casedaily", "queue", "severity"),
            self.f,
            ("day", "severity", "queue_id"),
            self.CASE_SUMS,
            self.CASE_HISTS,
        )

    def _breakdown_dims(self, grouped: _Grouped, row_fn) -> list[dict]:
        out = []
        for severity in sorted(grouped.by.get("severity", {})):
            row = row_fn(grouped.get("severity", severity))
            out.append({"label": _severity_label(severity), "dimension": "severity", **row})
        queues = grouped.by.get("queue_id", {})
        for queue_id in sorted(queues, key=lambda q: self.queue_names.get(q, str(q))):
            row = row_fn(queues[queue_id])
            label = self.queue_names.get(queue_id, f"queue {queue_id}")
            out.append({"label": label, "dimension": "queue", "queue_id": queue_id, **row})
        return out

    def percentile(self, grouped: _Grouped, hist: str, fraction: float) -> dict:
        def value(record) -> float | None:
            return _round(histogram.percentile(record.get(hist), fraction))

        def row(record) -> dict:
            h = record.get(hist)
            return {
                "value": value(record),
                "p50": _round(histogram.percentile(h, 0.5)),
                "p90": _round(histogram.percentile(h, 0.9)),
                "n": histogram.count(h),
            }

        return _figure(
            "minutes",
            value(grouped.total),
            n=histogram.count(grouped.total.get(hist)),
            series=self.series(lambda d: value(grouped.get("day", d))),
            breakdown=self._breakdown_dims(grouped, row),
        )

    def rate(self, grouped: _Grouped, numerator: str, denominator: str, *, dims=True) -> dict:
        def row(record) -> dict:
            return {
                "value": _ratio(record.get(numerator), record.get(denominator)),
                "numerator": _num(record.get(numerator)),
                "denominator": _num(record.get(denominator)),
            }

        return _figure(
            "%",
            _ratio(grouped.total.get(numerator), grouped.total.get(denominator)),
            n=_num(grouped.total.get(denominator)),
            series=self.series(
                lambda d: _ratio(
                    grouped.get("day", d).get(numerator), grouped.get("day", d).get(denominator)
                )
            ),
            breakdown=self._breakdown_dims(grouped, row) if dims else [],
        )

    def count(self, grouped: _Grouped, column: str, unit: str) -> dict:
        return _figure(
            unit,
            _num(grouped.total.get(column)),
            series=self.series(lambda d: _num(grouped.get("day", d).get(column))),
            breakdown=self._breakdown_dims(
                grouped, lambda record: {"value": _num(record.get(column))}
            ),
        )

    def escalation_ack(self) -> dict:
        figure = self.percentile(self.cases, "ack_hist", 0.5)
        for row, record in zip(
            figure["breakdown"], self._breakdown_records(self.cases), strict=True
        ):
            row["in_time"] = _ratio(
                record.get("escalations_ack_in_time"), record.get("escalations_acknowledged")
            )
        return figure

    def _breakdown_records(self, grouped: _Grouped) -> list[dict]:
        records = [grouped.get("severity", s) for s in sorted(grouped.by.get("severity", {}))]
        queues = grouped.by.get("queue_id", {})
        for queue_id in sorted(queues, key=lambda q: self.queue_names.get(q, str(q))):
            records.append(queues[queue_id])
        return records

    def appeal_overturn(self) -> dict:
        figure = self.rate(self.cases, "appeals_overturned", "appeals_decided")
        for row, record in zip(
            figure["breakdown"], self._breakdown_records(self.cases), strict=True
        ):
            row["modified"] = _num(record.get("appeals_modified"))
        return figure

    # --- backlog --------------------------------------------------------------------------

    def load_backlog(self) -> None:
        table = self._table("metrics_backlogsummary", "metrics_backlogdaily", "severity")
        where, params = self.f.where()
        sql = (
            "SELECT day, severity, age_bucket, SUM(open), SUM(breached) "  # noqa: S608
            f"FROM {table} WHERE {where} GROUP BY day, severity, age_bucket"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        self.backlog_days: dict[date, dict] = defaultdict(
            lambda: {"open": 0, "breached": 0, "age": defaultdict(int), "severity": {}}
        )
        for day, severity, age, open_, breached in rows:
            snapshot = self.backlog_days[day]
            snapshot["open"] += _num(open_)
            snapshot["breached"] += _num(breached)
            snapshot["age"][age] += _num(open_)
            per = snapshot["severity"].setdefault(severity, {"open": 0, "breached": 0})
            per["open"] += _num(open_)
            per["breached"] += _num(breached)
        with connection.cursor() as cursor:
            # A day with no open case still has a snapshot: empty, but taken.
            cursor.execute(
                "SELECT DISTINCT day FROM metrics_rollupday WHERE day BETWEEN %s AND %s "
                "AND backlog_taken_at IS NOT NULL",
                [self.f.date_from, self.f.date_to],
            )
            self.backlog_taken = {row[0] for row in cursor.fetchall()} | set(self.backlog_days)

    def backlog(self, column: str) -> dict:
        from metrics.models import BacklogDaily

        taken = sorted(self.backlog_taken)
        series = [
            {
                "date": d.isoformat(),
                "value": self.backlog_days[d][column] if d in self.backlog_taken else None,
            }
            for d in self.days
        ]
        if not taken:
            return _figure("cases", None, series=series)
        last = self.backlog_days[taken[-1]]
        breakdown = (
            [
                {"label": label, "dimension": "age", "value": last["age"].get(i, 0)}
                for i, label in enumerate(BacklogDaily.AGE_BUCKETS)
            ]
            if column == "open"
            else []
        )
        breakdown += [
            {
                "label": _severity_label(s),
                "dimension": "severity",
                "value": last["severity"][s][column],
            }
            for s in sorted(last["severity"])
        ]
        return _figure("cases", last[column], series=series, breakdown=breakdown) | {
            "as_of": taken[-1].isoformat()
        }

    # --- actions, analysts, detectors -----------------------------------------------------

    def load_actions(self) -> None:
        self.actions = _grouped(
            self._table("metrics_actionsummary", "metrics_actiondaily"),
            self.f,
            ("day", "action_type"),
            ("applied", "reversed"),
            analyst=True,
        )

    def actions_by_type(self) -> dict:
        from enforcement.catalogue import ACTIONS

        types = self.actions.by.get("action_type", {})
        breakdown = [
            {
                "label": ACTIONS[t].label if t in ACTIONS else t,
                "action_type": t,
                "value": _num(types[t].get("applied")),
                "reversed": _num(types[t].get("reversed")),
            }
            for t in sorted(types, key=lambda t: -_num(types[t].get("applied")))
        ]
        return _figure(
            "actions",
            _num(self.actions.total.get("applied")),
            series=self.series(lambda d: _num(self.actions.get("day", d).get("applied"))),
            breakdown=breakdown,
        )

    def load_analysts(self) -> None:
        self.analysts = _grouped(
            self._table("metrics_analystsummary", "metrics_analystdaily"),
            self.f,
            ("day", "analyst_id"),
            (
                "decisions",
                "violations",
                "weighted_decisions",
                "appeals_decided",
                "appeals_overturned",
                "qa_scored",
                "qa_passed",
            ),
            active=True,
            analyst=True,
        )
        from django.contrib.auth import get_user_model

        ids = list(self.analysts.by.get("analyst_id", {}))
        self.usernames = dict(
            get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")
        )

    def _analyst_rows(self, row_fn) -> list[dict]:
        rows = self.analysts.by.get("analyst_id", {})
        return [
            {
                "label": self.usernames.get(pk, f"user {pk}"),
                "dimension": "analyst",
                "analyst_id": pk,
                **row_fn(rows[pk]),
            }
            for pk in sorted(rows, key=lambda pk: self.usernames.get(pk, ""))
        ]

    def throughput(self) -> dict:
        def per_day(record) -> float | None:
            active = _num(record.get("active"))
            return _round(_num(record.get("weighted_decisions")) / active) if active else None

        return _figure(
            "weighted decisions / analyst-day",
            per_day(self.analysts.total),
            n=_num(self.analysts.total.get("active")),
            series=self.series(lambda d: per_day(self.analysts.get("day", d))),
            breakdown=self._analyst_rows(
                lambda r: {
                    "value": per_day(r),
                    "decisions": _num(r.get("decisions")),
                    "weighted": _num(r.get("weighted_decisions")),
                    "days": _num(r.get("active")),
                }
            ),
        )

    def qa_pass_rate(self) -> dict:
        from qa.stats import wilson_interval

        def row(record) -> dict:
            n, passed = _num(record.get("qa_scored")), _num(record.get("qa_passed"))
            interval = wilson_interval(passed, n) if n else None
            return {
                "value": _ratio(passed, n),
                "interval": [round(100 * interval[0], 2), round(100 * interval[1], 2)]
                if interval
                else None,
                "n": n,
                "passed": passed,
            }

        total = row(self.analysts.total)
        return _figure(
            "%",
            total["value"],
            interval=total["interval"],
            n=total["n"],
            series=self.series(lambda d: row(self.analysts.get("day", d))["value"]),
            breakdown=self._analyst_rows(row),
        )

    def analyst_overturn(self) -> dict:
        return _figure(
            "%",
            _ratio(
                self.analysts.total.get("appeals_overturned"),
                self.analysts.total.get("appeals_decided"),
            ),
            n=_num(self.analysts.total.get("appeals_decided")),
            series=self.series(
                lambda d: _ratio(
                    self.analysts.get("day", d).get("appeals_overturned"),
                    self.analysts.get("day", d).get("appeals_decided"),
                )
            ),
            breakdown=self._analyst_rows(
                lambda r: {
                    "value": _ratio(r.get("appeals_overturned"), r.get("appeals_decided")),
                    "overturned": _num(r.get("appeals_overturned")),
                    "decided": _num(r.get("appeals_decided")),
                }
            ),
        )

    def load_detectors(self) -> None:
        self.detectors = _grouped(
            "metrics_detectordaily",
            self.f,
            ("day", "detector"),
            ("flags_decided", "flags_confirmed"),
        )

    def detector_precision(self) -> dict:
        detectors = self.detectors.by.get("detector", {})
        breakdown = [
            {
                "label": name or "(unnamed detector)",
                "dimension": "detector",
                "value": _ratio(r.get("flags_confirmed"), r.get("flags_decided")),
                "confirmed": _num(r.get("flags_confirmed")),
                "decided": _num(r.get("flags_decided")),
            }
            for name, r in sorted(detectors.items())
        ]
        return _figure(
            "%",
            _ratio(
                self.detectors.total.get("flags_confirmed"),
                self.detectors.total.get("flags_decided"),
            ),
            n=_num(self.detectors.total.get("flags_decided")),
            series=self.series(
                lambda d: _ratio(
                    self.detectors.get("day", d).get("flags_confirmed"),
                    self.detectors.get("day", d).get("flags_decided"),
                )
            ),
            breakdown=breakdown,
        )

    # --- evasion suspects (read from the case links: few rows) ---------------------------

    def evasion(self) -> dict:
        from metrics.evasion import evasion_confirmed

        return evasion_confirmed(
            teams=self.f.teams,
            date_from=self.f.date_from,
            date_to=self.f.date_to,
            queue_id=self.f.queue_id,
            severity=self.f.severity,
            reason=self.f.reason,
        )

    # --- calibration ----------------------------------------------------------------------

    def calibration(self) -> dict:
        from metrics.calibration import calibration_agreement

        return calibration_agreement(
            teams=self.f.teams, date_from=self.f.date_from, date_to=self.f.date_to
        )


def _case_figures(report: _Report) -> dict[str, dict]:
    """The team-wide figures, read from the case, backlog and detector rollups (an
    analyst's own report has none of them)."""
    report.load_cases()
    report.load_backlog()
    report.load_detectors()
    cases = report.cases
    return {
        "time_to_first_action_p50": report.percentile(cases, "first_action_hist", 0.5),
        "time_to_first_action_p90": report.percentile(cases, "first_action_hist", 0.9),
        "time_to_resolution_p50": report.percentile(cases, "resolution_hist", 0.5),
        "time_to_resolution_p90": report.percentile(cases, "resolution_hist", 0.9),
        "sla_first_action": report.rate(cases, "first_actions_in_sla", "first_actions"),
        "sla_resolution": report.rate(cases, "resolved_in_sla", "resolved"),
        "backlog_open": report.backlog("open"),
        "backlog_breached": report.backlog("breached"),
        "cases_created": report.count(cases, "created", "cases"),
        "cases_resolved": report.count(cases, "resolved", "cases"),
        "recurrence_rate": report.rate(cases, "actioned_recurring", "actioned"),
        "appeal_overturn_rate": report.appeal_overturn(),
        "appeal_time_p50": report.percentile(cases, "appeal_hist", 0.5),
        "calibration_agreement": report.calibration(),
        "rework_rate": report.rate(cases, "reopened", "resolved"),
        "proactive_share": report.rate(cases, "violations_proactive", "violations"),
        "detector_precision": report.detector_precision(),
        "evasion_confirmed": report.evasion(),
        "escalation_ack_time_p50": report.escalation_ack(),
    }


def kpi_report(
    *,
    actor,
    date_from: date,
    date_to: date,
    queue_id: int | None = None,
    severity: int | None = None,
    reason: str | None = None,
    analyst_id: int | None = None,
) -> dict:
    """Every KPI for the range (inclusive days), read from the rollup tables.

    ``{"from": "YYYY-MM-DD", "to": …, "filters": {…}, "kpis": {key: {"value", "unit",
    "interval", "n", "series": [{"date", "value"}…], "breakdown": [{"label", "value", …}]}}}``
    in the order of :data:`REGISTRY`. Rates are percentages (0–100), durations minutes.
    Breakdown rows carry a ``dimension`` ("severity", "queue", "age", "action type",
    "detector", "analyst" …) and extra columns (``p50``/``p90``/``n`` for durations,
    ``numerator``/``denominator`` for rates). ``analyst_id`` restricts the report to one
    analyst's own figures: the KPIs in :data:`ANALYST_KPIS` are theirs, the others are None.
    Raises PermissionDenied unless :func:`can_read_kpis`; ValidationError for a bad range.
    """
    if not can_read_kpis(actor, analyst_id):
        raise PermissionDenied("Reading these figures needs a lead's role (or your own page).")
    if date_to < date_from:
        raise ValidationError({"to": "The end of the range is before its start."})
    if (date_to - date_from).days >= MAX_RANGE_DAYS:
        raise ValidationError({"from": f"At most {MAX_RANGE_DAYS} days at once."})
    f = _Filters(
        date_from=date_from,
        date_to=date_to,
        teams=figure_teams(actor),
        queue_id=queue_id,
        severity=severity,
        reason=reason or None,
        analyst_id=analyst_id,
    )
    report = _Report(f)
    report.load_actions()
    report.load_analysts()
    if analyst_id is None:
        figures = _case_figures(report)
    else:
        figures = {"appeal_overturn_rate": report.analyst_overturn()}
    figures["actions_by_type"] = report.actions_by_type()
    figures["qa_pass_rate"] = report.qa_pass_rate()
    figures["throughput_weighted"] = report.throughput()
    kpis = {}
    for key, kpi in REGISTRY.items():
        kpis[key] = figures.get(key) or _figure(kpi.unit, series=report.empty_series())
    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "filters": {
            "queue": queue_id,
            "severity": severity,
            "reason": reason or None,
            "analyst": analyst_id,
        },
        "kpis": kpis,
    }
