"""Rollups: set-based SQL from the source tables into the rollup tables of metrics.models.

How a run writes (the contract every writer here keeps):

* A 15-minute slice is recomputed with one ``INSERT … SELECT … GROUP BY`` per fact table
  over the source rows whose event time falls in it, after deleting the old slice. The
  daily rows are kept equal to the sum of their slices in the same statement (the
  difference new − old is added to them; a full day is deleted and re-derived).
  A re-run replaces, never doubles.
* Each transaction is short (one fact table, one day), sets ``statement_timeout`` and
  ``lock_timeout`` locally, and takes a transaction-scoped advisory lock on its day, so two
  runs (beat twice by mistake, or a rebuild during the beat run) queue instead of racing.
* Source tables are only read with plain SELECTs: no row of ``cases_case`` is ever locked,
  so claiming never waits for a rollup.

Three entry points: :func:`rollup_incremental` (beat, every five minutes: only the slices
touched since the watermark), :func:`rollup_finalize` (beat: yesterday in full with its
end-of-day backlog snapshot, once the day is over) and :func:`rebuild_range` (the
``rebuild_rollups`` command).

Dimensions are the case's *current* queue, severity, reason and restriction: a case moved
to another queue is counted there for every event of its life once its slices are
recomputed (a change to a case touches it, so the next incremental run does it).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from metrics.deciding import CONFIRMED, FLAGS_DECIDED_FROM
from metrics.histogram import HIST_BUCKETS, bucket_sql
from metrics.kpis import RECURRENCE_DAYS, SEVERITY_WEIGHTS
from metrics.models import SLICE_MINUTES, BacklogDaily, RollupDay, RollupState

# Changes committed up to this long after their updated_at stamp are still picked up by the
# next incremental run (a long transaction, clock skew between app servers and the
# database); later ones wait for the nightly final rebuild of the day.
OVERLAP = timedelta(minutes=10)
# The nightly final rebuild waits this long after midnight, for the same reason.
FINAL_GRACE = timedelta(minutes=15)
LOCK_NAMESPACE = 0x6D657472  # "metr"
SLICE = timedelta(minutes=SLICE_MINUTES)
# The slice an event time falls in (aligned on the epoch, so on every hour in UTC).
SLICE_SQL = f"date_bin('{SLICE_MINUTES} minutes', {{at}}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
INCREMENTAL = "incremental"

DIMS = ("queue_id", "severity", "reason", "team")
# The rows' team scope: the case's team when restricted, else "" (what
# cases.visibility.figure_teams / figure_cases_q count for each reader).
TEAM = "CASE WHEN c.restricted THEN c.team ELSE '' END"


def _minutes(later: str, earlier: str) -> str:
    return f"EXTRACT(EPOCH FROM ({later} - {earlier})) / 60.0"


def _bucket(later: str, earlier: str) -> str:
    return bucket_sql(_minutes(later, earlier))


@dataclass(frozen=True)
class Stream:
    """One kind of event: where it comes from, when it happened, what it counts."""

    at: str
    source: str
    where: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fact:
    name: str
    slices: str
    daily: str
    extra_dims: tuple[str, ...]
    counts: tuple[str, ...]
    hists: tuple[str, ...]
    streams: tuple[Stream, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return DIMS + self.extra_dims

    # --- the aggregate ---------------------------------------------------------------------

    def _branch(self, stream: Stream) -> str:
        columns = [f"{stream.at} AS at", "c.queue_id", "c.severity", "c.reason", f"{TEAM} AS team"]
        columns += [f"{stream.values[d]} AS {d}" for d in self.extra_dims]
        columns += [f"({stream.values.get(c, '0')})::int AS {c}" for c in self.counts]
        columns += [f"({stream.values.get(h, 'NULL')})::int AS {h}" for h in self.hists]
        return (
            f"SELECT {', '.join(columns)} FROM {stream.source} "  # noqa: S608 - SQL from code
            f"WHERE {stream.where.format(at=stream.at)}"
        )

    def aggregate_sql(self) -> str:
        """The SELECT producing the slices for ``[%(start)s, %(end)s)``."""
        union = "\nUNION ALL\n".join(self._branch(s) for s in self.streams)
        start = SLICE_SQL.format(at="ev.at")
        columns = [f"{start} AS slice_start", f"({start} AT TIME ZONE %(tz)s)::date AS day"]
        columns += [f"ev.{d}" for d in self.key]
        columns += [f"SUM(ev.{c})::int AS {c}" for c in self.counts]
        columns += [
            f"metrics_hist(array_agg(ev.{h}) FILTER (WHERE ev.{h} IS NOT NULL)) AS {h}"
            for h in self.hists
        ]
        group = ", ".join(["1", "2"] + [f"ev.{d}" for d in self.key])
        return f"SELECT {', '.join(columns)}\nFROM (\n{union}\n) ev\nGROUP BY {group}"  # noqa: S608

    def insert_slices_sql(self) -> str:
        columns = ["slice_start", "day", *self.key, *self.counts, *self.hists]
        return f"INSERT INTO {self.slices} ({', '.join(columns)})\n" + self.aggregate_sql()

    # --- keeping the daily rows equal to the sum of their slices ------------------------

    def _summed(self, where: str) -> str:
        columns = ["day", *self.key]
        columns += [f"SUM({c})::int AS {c}" for c in self.counts]
        for h in self.hists:
            parts = ", ".join(f"COALESCE(SUM({h}[{i}]), 0)" for i in range(1, HIST_BUCKETS + 1))
            columns.append(
                f"CASE WHEN COUNT({h}) = 0 THEN NULL ELSE ARRAY[{parts}]::int[] END AS {h}"
            )
        return (
            f"SELECT {', '.join(columns)} FROM {self.slices} "  # noqa: S608
            f"WHERE {where} GROUP BY day, {', '.join(self.key)}"
        )

    def add_to_daily_sql(self, where: str) -> str:
        columns = ["day", *self.key, *self.counts, *self.hists]
        updates = [f"{c} = {self.daily}.{c} + EXCLUDED.{c}" for c in self.counts]
        updates += [
            f"{h} = metrics_hist_add({self.daily}.{h}, EXCLUDED.{h}, 1)" for h in self.hists
        ]
        return (
            f"INSERT INTO {self.daily} ({', '.join(columns)})\n{self._summed(where)}\n"
            f"ON CONFLICT (day, {', '.join(self.key)}) DO UPDATE SET {', '.join(updates)}"
        )

    def replace_slices_sql(self) -> str:
        """One statement replacing the slices of ``[%(start)s, %(end)s)`` and carrying the
        difference (new − old, per key) into the daily rows: each daily row is written at
        most once, and not at all when its slice did not change."""
        key = ", ".join(self.key)
        columns = ["day", *self.key, *self.counts, *self.hists]
        returning = ", ".join(columns)
        negated = ["day", *self.key] + [f"-{c} AS {c}" for c in self.counts]
        negated += [f"metrics_hist_add(NULL, {h}, -1) AS {h}" for h in self.hists]
        summed = ["day", *self.key] + [f"SUM({c})::int AS {c}" for c in self.counts]
        for h in self.hists:
            parts = ", ".join(f"COALESCE(SUM({h}[{i}]), 0)" for i in range(1, HIST_BUCKETS + 1))
            summed.append(
                f"metrics_hist_add(NULL, CASE WHEN COUNT({h}) = 0 THEN NULL "
                f"ELSE ARRAY[{parts}]::int[] END, 1) AS {h}"
            )
        changed = " OR ".join(
            [f"{c} <> 0" for c in self.counts] + [f"{h} IS NOT NULL" for h in self.hists]
        )
        updates = [f"{c} = {self.daily}.{c} + EXCLUDED.{c}" for c in self.counts]
        updates += [
            f"{h} = metrics_hist_add({self.daily}.{h}, EXCLUDED.{h}, 1)" for h in self.hists
        ]
        return (
            f"WITH old AS (DELETE FROM {self.slices} "  # noqa: S608 - names from code
            f"WHERE slice_start >= %(start)s AND slice_start < %(end)s RETURNING {returning}),\n"
            f"new AS ({self.insert_slices_sql()}\nRETURNING {returning}),\n"
            f"delta AS (SELECT {', '.join(summed)} FROM (SELECT {', '.join(negated)} FROM old "
            f"UNION ALL SELECT {returning} FROM new) u GROUP BY day, {key})\n"
            f"INSERT INTO {self.daily} ({returning}) SELECT {returning} FROM delta "
            f"WHERE {changed}\n"
            f"ON CONFLICT (day, {key}) DO UPDATE SET {', '.join(updates)}"
        )

    def drop_empty_daily_sql(self) -> str:
        empty = [f"{c} = 0" for c in self.counts] + [f"{h} IS NULL" for h in self.hists]
        where = " AND ".join(empty)
        return f"DELETE FROM {self.daily} WHERE day = ANY(%(days)s) AND {where}"  # noqa: S608


# --- the fact tables ---------------------------------------------------------------------

_IN_RANGE = "{at} >= %(start)s AND {at} < %(end)s"
_WEIGHT = (
    "CASE c.severity "
    + " ".join(f"WHEN {s} THEN {w}" for s, w in SEVERITY_WEIGHTS.items())
    + " ELSE 1 END"
)
_FIRST_REPORT_IS_FLAG = (
    "(SELECT r.source FROM cases_report r WHERE r.case_id = d.case_id "
    "ORDER BY r.received_at, r.id LIMIT 1) = 'automated_flag'"
)
_APPLIED = (
    "EXISTS (SELECT 1 FROM enforcement_enforcementaction a WHERE a.decision_id = {d}.id "
    "AND a.starts_at IS NOT NULL)"
)
# The account behind a case's subject: itself, or the owner of a content item.
_ACCOUNT = "CASE WHEN s.kind = 'account' THEN s.id ELSE s.owner_id END"
_RECURRING_TEMPLATE = (
    "EXISTS (SELECT 1 FROM enforcement_decision d2 JOIN cases_case c2 ON c2.id = d2.case_id "
    "WHERE c2.subject_id IN (SELECT acc.account_id UNION ALL "
    "SELECT s3.id FROM cases_subject s3 WHERE s3.owner_id = acc.account_id) "
    "AND d2.id <> d.id AND d2.created_at >= d.created_at - interval '{days} days' "
    "AND d2.created_at < d.created_at AND {applied})"
)
_RECURRING = _RECURRING_TEMPLATE.format(days=RECURRENCE_DAYS, applied=_APPLIED.format(d="d2"))

CASES = Fact(
    name="cases",
    slices="metrics_caseslice",
    daily="metrics_casedaily",
    extra_dims=(),
    counts=(
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
    ),
    hists=("first_action_hist", "resolution_hist", "appeal_hist", "ack_hist"),
    streams=(
        Stream("c.created_at", "cases_case c", _IN_RANGE, {"created": "1"}),
        Stream(
            "c.first_action_at",
            "cases_case c",
            _IN_RANGE,
            {
                "first_actions": "1",
                "first_actions_in_sla": "c.first_action_at <= c.first_action_due",
                "first_action_hist": _bucket("c.first_action_at", "c.created_at"),
            },
        ),
        Stream(
            "c.resolved_at",
            "cases_case c",
            _IN_RANGE,
            {
                "resolved": "1",
                "resolved_in_sla": "c.resolved_at <= c.resolve_due",
                "resolution_hist": _bucket("c.resolved_at", "c.created_at"),
            },
        ),
        Stream(
            "e.at",
            "cases_caseevent e JOIN cases_case c ON c.id = e.case_id",
            "e.kind = 'CASE_REOPENED' AND " + _IN_RANGE,
            {"reopened": "1"},
        ),
        Stream(
            "d.created_at",
            "enforcement_decision d JOIN cases_case c ON c.id = d.case_id "
            "JOIN cases_subject s ON s.id = c.subject_id "
            f"CROSS JOIN LATERAL (SELECT {_ACCOUNT} AS account_id) acc",
            _IN_RANGE,
            {
                "decisions": "1",
                "violations": "d.outcome = 'violation'",
                "violations_proactive": f"d.outcome = 'violation' AND {_FIRST_REPORT_IS_FLAG}",
                "actioned": "acc.account_id IS NOT NULL AND " + _APPLIED.format(d="d"),
                "actioned_recurring": "acc.account_id IS NOT NULL AND "
                + _APPLIED.format(d="d")
                + " AND "
                + _RECURRING,
            },
        ),
        Stream(
            "ap.filed_at",
            "appeals_appeal ap JOIN cases_case c ON c.id = ap.case_id",
            _IN_RANGE,
            {"appeals_filed": "1"},
        ),
        Stream(
            "ap.decided_at",
            "appeals_appeal ap JOIN cases_case c ON c.id = ap.case_id",
            "ap.status IN ('upheld', 'overturned', 'modified') AND " + _IN_RANGE,
            {
                "appeals_decided": "1",
                "appeals_overturned": "ap.status = 'overturned'",
                "appeals_modified": "ap.status = 'modified'",
                "appeal_hist": _bucket("ap.decided_at", "ap.filed_at"),
            },
        ),
        Stream(
            "x.raised_at",
            "escalations_escalation x JOIN cases_case c ON c.id = x.case_id",
            _IN_RANGE,
            {"escalations_raised": "1"},
        ),
        Stream(
            "x.acknowledged_at",
            "escalations_escalation x JOIN cases_case c ON c.id = x.case_id",
            _IN_RANGE,
            {
                "escalations_acknowledged": "1",
                "escalations_ack_in_time": "x.acknowledged_at <= x.ack_due",
                "ack_hist": _bucket("x.acknowledged_at", "x.raised_at"),
            },
        ),
    ),
)

ACTIONS = Fact(
    name="actions",
    slices="metrics_actionslice",
    daily="metrics_actiondaily",
    extra_dims=("action_type", "analyst_id"),
    counts=("applied", "reversed"),
    hists=(),
    streams=(
        Stream(
            "a.starts_at",
            "enforcement_enforcementaction a JOIN enforcement_decision d ON d.id = a.decision_id "
            "JOIN cases_case c ON c.id = a.case_id",
            _IN_RANGE,
            {"action_type": "a.action_type", "analyst_id": "d.decided_by_id", "applied": "1"},
        ),
        Stream(
            "a.ended_at",
            "enforcement_enforcementaction a JOIN enforcement_decision d ON d.id = a.decision_id "
            "JOIN cases_case c ON c.id = a.case_id",
            "a.status = 'reversed' AND " + _IN_RANGE,
            {"action_type": "a.action_type", "analyst_id": "d.decided_by_id", "reversed": "1"},
        ),
    ),
)


def _qa_streams() -> tuple[Stream, ...]:
    return (
        Stream(
            "q.scored_at",
            "qa_qareview q JOIN cases_case c ON c.id = q.case_id",
            "q.passed IS NOT NULL AND " + _IN_RANGE,
            {"analyst_id": "q.analyst_id", "qa_scored": "1", "qa_passed": "q.passed"},
        ),
    )


ANALYSTS = Fact(
    name="analysts",
    slices="metrics_analystslice",
    daily="metrics_analystdaily",
    extra_dims=("analyst_id",),
    counts=(
        "decisions",
        "violations",
        "weighted_decisions",
        "appeals_decided",
        "appeals_overturned",
        "qa_scored",
        "qa_passed",
    ),
    hists=(),
    streams=(
        Stream(
            "d.created_at",
            "enforcement_decision d JOIN cases_case c ON c.id = d.case_id",
            "NOT d.automated AND " + _IN_RANGE,
            {
                "analyst_id": "d.decided_by_id",
                "decisions": "1",
                "violations": "d.outcome = 'violation'",
                "weighted_decisions": _WEIGHT,
            },
        ),
        Stream(
            "ap.decided_at",
            "appeals_appeal ap JOIN enforcement_enforcementaction a ON a.id = ap.action_id "
            "JOIN enforcement_decision d ON d.id = a.decision_id "
            "JOIN cases_case c ON c.id = ap.case_id",
            "NOT d.automated AND ap.status IN ('upheld', 'overturned', 'modified') AND "
            + _IN_RANGE,
            {
                "analyst_id": "d.decided_by_id",
                "appeals_decided": "1",
                "appeals_overturned": "ap.status = 'overturned'",
            },
        ),
        *_qa_streams(),
    ),
)

DETECTORS = Fact(
    name="detectors",
    slices="metrics_detectorslice",
    daily="metrics_detectordaily",
    extra_dims=("detector",),
    counts=("flags_decided", "flags_confirmed"),
    hists=(),
    streams=(
        # A flag is decided by the first decision on its case made after it arrived (the
        # definition in metrics.deciding, shared with the detector operating points).
        Stream(
            "d.created_at",
            FLAGS_DECIDED_FROM,
            _IN_RANGE,
            {
                "detector": "r.detector",
                "flags_decided": "1",
                "flags_confirmed": CONFIRMED,
            },
        ),
    ),
)

FACTS = (CASES, ACTIONS, ANALYSTS, DETECTORS)


@dataclass(frozen=True)
class Summary:
    """A day's daily rows summed over fewer dimensions (see metrics.models)."""

    table: str
    daily: str
    key: tuple[str, ...]
    counts: tuple[str, ...]
    hists: tuple[str, ...] = ()

    def refresh_sql(self) -> list[str]:
        """Rewrite the summary of ``%(day)s`` from that day's daily rows."""
        columns = ["day", *self.key, *self.counts, *self.hists]
        selects = ["day", *self.key] + [f"SUM({c})::int" for c in self.counts]
        for h in self.hists:
            parts = ", ".join(f"COALESCE(SUM({h}[{i}]), 0)" for i in range(1, HIST_BUCKETS + 1))
            selects.append(f"CASE WHEN COUNT({h}) = 0 THEN NULL ELSE ARRAY[{parts}]::int[] END")
        return [
            f"DELETE FROM {self.table} WHERE day = %(day)s",  # noqa: S608 - names from code
            f"INSERT INTO {self.table} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(selects)} FROM {self.daily} WHERE day = %(day)s "
            f"GROUP BY day, {', '.join(self.key)}",
        ]


SUMMARIES = {
    CASES.name: Summary(
        "metrics_casesummary",
        CASES.daily,
        ("team", "queue_id", "severity"),
        CASES.counts,
        CASES.hists,
    ),
    ACTIONS.name: Summary(
        "metrics_actionsummary",
        ACTIONS.daily,
        ("team", "action_type", "analyst_id"),
        ACTIONS.counts,
    ),
    ANALYSTS.name: Summary(
        "metrics_analystsummary",
        ANALYSTS.daily,
        ("team", "analyst_id"),
        ANALYSTS.counts,
    ),
}
BACKLOG_SUMMARY = Summary(
    "metrics_backlogsummary",
    "metrics_backlogdaily",
    ("team", "severity", "age_bucket"),
    ("open", "breached"),
)


def _refresh_summary(cursor, fact: Fact, day: date) -> None:
    summary = SUMMARIES.get(fact.name)
    if summary is not None:
        for sql in summary.refresh_sql():
            cursor.execute(sql, {"day": day})


BACKLOG_SQL = """
INSERT INTO metrics_backlogdaily (day, taken_at, queue_id, severity, reason, team, age_bucket,
                                  open, breached)
SELECT %(day)s, %(at)s, c.queue_id, c.severity, c.reason,
       CASE WHEN c.restricted THEN c.team ELSE '' END,
       CASE WHEN c.created_at > %(at)s - interval '1 hour' THEN 0
            WHEN c.created_at > %(at)s - interval '4 hours' THEN 1
            WHEN c.created_at > %(at)s - interval '24 hours' THEN 2
            WHEN c.created_at > %(at)s - interval '3 days' THEN 3
            WHEN c.created_at > %(at)s - interval '7 days' THEN 4
            ELSE 5 END,
       COUNT(*),
       COUNT(*) FILTER (WHERE c.resolve_due < %(at)s OR (c.first_action_due < %(at)s
                        AND (c.first_action_at IS NULL OR c.first_action_at > %(at)s)))
FROM cases_case c
WHERE c.created_at < %(at)s AND (c.status <> 'resolved' OR c.resolved_at >= %(at)s)
GROUP BY 3, 4, 5, 6, 7
"""
assert len(BacklogDaily.AGE_BUCKETS) == 6


# --- transactions -----------------------------------------------------------------------


def _timeouts() -> tuple[int, int]:
    return (
        settings.METRICS_ROLLUP_STATEMENT_TIMEOUT_MS,
        settings.METRICS_ROLLUP_LOCK_TIMEOUT_MS,
    )


def session_settings() -> list[str]:
    """What every rollup transaction sets locally: timeouts, and no parallel workers by
    default (a rollup takes one core, leaving the others to claiming and the pages)."""
    statement_ms, lock_ms = _timeouts()
    workers = settings.METRICS_ROLLUP_PARALLEL_WORKERS
    return [
        f"SET LOCAL statement_timeout = {statement_ms:d}",
        f"SET LOCAL lock_timeout = {lock_ms:d}",
        f"SET LOCAL max_parallel_workers_per_gather = {workers:d}",
    ]


class _DayTransaction:
    """One short transaction writing one day's rows: local timeouts + the day's lock. After
    it commits, the rollup pauses ``METRICS_ROLLUP_YIELD_PERCENT`` of the time it took: a
    rebuild is not in a hurry, and claims share the database's cores with it (its statements
    take no lock a claim waits on; what they take from claims is CPU)."""

    def __init__(self, day: date):
        self.day = day
        self.atomic = transaction.atomic()

    def __enter__(self):
        self.started = _time.monotonic()
        self.atomic.__enter__()
        self.cursor = connection.cursor()
        for statement in session_settings():
            self.cursor.execute(statement)
        self.cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, self.day.toordinal()]
        )
        return self.cursor

    def __exit__(self, *exc):
        self.cursor.close()
        result = self.atomic.__exit__(*exc)
        if exc[0] is None and not connection.in_atomic_block:
            _time.sleep((_time.monotonic() - self.started) * _yield_share())
        return result


def _yield_share() -> float:
    return settings.METRICS_ROLLUP_YIELD_PERCENT / 100


def _tz() -> str:
    return settings.TIME_ZONE


def day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), tz)
    return start, end


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def replace_slices(fact: Fact, ranges: list[tuple[datetime, datetime]]) -> None:
    """Recompute the slices of ``ranges`` (``[start, end)`` pairs, all within one day), carry
    the difference into the daily rows and rewrite the day's summary, in one transaction."""
    day = _local_day(ranges[0][0])
    with _DayTransaction(day) as cursor:
        for start, end in ranges:
            params = {"start": start, "end": end, "tz": _tz()}
            cursor.execute(fact.replace_slices_sql(), params)
        cursor.execute(fact.drop_empty_daily_sql(), {"days": [day]})
        _refresh_summary(cursor, fact, day)


def rebuild_fact_day(fact: Fact, day: date) -> None:
    """Recompute a whole day of one fact table from the source tables."""
    start, end = day_bounds(day)
    params = {"start": start, "end": end, "tz": _tz(), "day": day}
    with _DayTransaction(day) as cursor:
        cursor.execute(f"DELETE FROM {fact.daily} WHERE day = %(day)s", params)  # noqa: S608
        cursor.execute(f"DELETE FROM {fact.slices} WHERE day = %(day)s", params)  # noqa: S608
        cursor.execute(fact.insert_slices_sql(), params)
        cursor.execute(fact.add_to_daily_sql("day = %(day)s"), params)
        _refresh_summary(cursor, fact, day)


def backlog_snapshot(day: date, now: datetime | None = None) -> datetime:
    """Open cases at the end of ``day`` (or now, for a day not over yet)."""
    now = now or timezone.now()
    at = min(day_bounds(day)[1], now)
    with _DayTransaction(day) as cursor:
        cursor.execute("DELETE FROM metrics_backlogdaily WHERE day = %s", [day])
        cursor.execute(BACKLOG_SQL, {"day": day, "at": at})
        for sql in BACKLOG_SUMMARY.refresh_sql():
            cursor.execute(sql, {"day": day})
    return at


def rebuild_day(day: date, *, now: datetime | None = None) -> None:
    """Every rollup of ``day`` from scratch, with its backlog snapshot."""
    now = now or timezone.now()
    for fact in FACTS:
        rebuild_fact_day(fact, day)
    taken = backlog_snapshot(day, now)
    final = now >= day_bounds(day)[1]
    RollupDay.objects.update_or_create(
        day=day, defaults={"rebuilt_at": now, "final": final, "backlog_taken_at": taken}
    )


def rebuild_range(
    date_from: date, date_to: date, *, progress: Callable[[date], None] | None = None
) -> int:
    """Rebuild every day of the inclusive range; returns the number of days."""
    day, count = date_from, 0
    while day <= date_to:
        rebuild_day(day)
        count += 1
        if progress:
            progress(day)
        day += timedelta(days=1)
    return count


def rollup_finalize(*, now: datetime | None = None) -> date | None:
    """Rebuild yesterday in full once it is over (and a grace period has passed), once."""
    now = now or timezone.now()
    yesterday = _local_day(now) - timedelta(days=1)
    if now < day_bounds(yesterday)[1] + FINAL_GRACE:
        return None
    if RollupDay.objects.filter(day=yesterday, final=True).exists():
        return None
    rebuild_day(yesterday, now=now)
    return yesterday


# --- incremental ---------------------------------------------------------------------------

# Timeline events after which every slice of the case may count differently.
CHANGE_EVENTS = (
    "CASE_MOVED",
    "CASE_SEVERITY_CHANGED",
    "CASE_SEVERITY_RAISED",
    "CASE_RESTRICTED",
    "CASE_UNRESTRICTED",
)

TOUCHED_SQL = """
WITH changed_cases AS (
    SELECT DISTINCT e.case_id AS id FROM cases_caseevent e
    WHERE e.kind = ANY(%(kinds)s) AND e.at > %(since)s
),
moments AS (
    -- What happened since: each event recomputes the slice it happened in.
    SELECT c.created_at AS at FROM cases_case c WHERE c.created_at > %(since)s
    UNION ALL
    SELECT c.first_action_at FROM cases_case c WHERE c.first_action_at > %(since)s
    UNION ALL
    SELECT c.resolved_at FROM cases_case c WHERE c.resolved_at > %(since)s
    UNION ALL
    SELECT e.at FROM cases_caseevent e WHERE e.kind = 'CASE_REOPENED' AND e.at > %(since)s
    UNION ALL
    SELECT d.created_at FROM enforcement_decision d WHERE d.created_at > %(since)s
    UNION ALL
    -- An action taking effect (approval) or reversed also changes its decision's slice.
    SELECT unnest(ARRAY[a.starts_at, (SELECT d.created_at FROM enforcement_decision d
                                      WHERE d.id = a.decision_id)])
    FROM enforcement_enforcementaction a WHERE a.starts_at > %(since)s
    UNION ALL
    SELECT unnest(ARRAY[a.ended_at, (SELECT d.created_at FROM enforcement_decision d
                                     WHERE d.id = a.decision_id)])
    FROM enforcement_enforcementaction a
    WHERE a.status = 'reversed' AND a.ended_at > %(since)s
    UNION ALL
    -- Appeals, escalations and QA reviews are few: any change to one counts.
    SELECT unnest(ARRAY[ap.filed_at, ap.decided_at]) FROM appeals_appeal ap
    WHERE ap.updated_at > %(since)s
    UNION ALL
    SELECT unnest(ARRAY[x.raised_at, x.acknowledged_at]) FROM escalations_escalation x
    WHERE x.updated_at > %(since)s
    UNION ALL
    SELECT q.scored_at FROM qa_qareview q WHERE q.updated_at > %(since)s
    UNION ALL
    -- A case whose queue, severity, reason or restriction changed: every slice it counts in.
    SELECT unnest(ARRAY[c.created_at, c.first_action_at, c.resolved_at]) FROM cases_case c
    WHERE c.id IN (SELECT id FROM changed_cases)
    UNION ALL
    SELECT e.at FROM cases_caseevent e
    WHERE e.kind = 'CASE_REOPENED' AND e.case_id IN (SELECT id FROM changed_cases)
    UNION ALL
    SELECT d.created_at FROM enforcement_decision d
    WHERE d.case_id IN (SELECT id FROM changed_cases)
    UNION ALL
    SELECT unnest(ARRAY[a.starts_at, a.ended_at]) FROM enforcement_enforcementaction a
    WHERE a.case_id IN (SELECT id FROM changed_cases)
    UNION ALL
    SELECT unnest(ARRAY[ap.filed_at, ap.decided_at]) FROM appeals_appeal ap
    WHERE ap.case_id IN (SELECT id FROM changed_cases)
    UNION ALL
    SELECT unnest(ARRAY[x.raised_at, x.acknowledged_at]) FROM escalations_escalation x
    WHERE x.case_id IN (SELECT id FROM changed_cases)
    UNION ALL
    SELECT q.scored_at FROM qa_qareview q WHERE q.case_id IN (SELECT id FROM changed_cases)
)
SELECT DISTINCT {slice} FROM moments
WHERE at IS NOT NULL AND at < %(until)s
ORDER BY 1
""".replace("{slice}", SLICE_SQL.format(at="at"))


def touched_slices(since: datetime, until: datetime) -> list[datetime]:
    """Hours whose slices may have changed since ``since``: those in which something
    happened since then, and every slice of a case whose dimensions changed since then.

    Event times, not ``updated_at``: resolving a case opened three days ago recomputes the
    slice of the resolution, not the one it was opened in (its dimensions did not change, so
    that slice did not either). A change that leaves no trace here (a backdated import, a
    raw SQL fix) waits for the nightly final rebuild of the day, or rebuild_rollups."""
    with connection.cursor() as cursor:
        cursor.execute(TOUCHED_SQL, {"since": since, "until": until, "kinds": list(CHANGE_EVENTS)})
        return [row[0] for row in cursor.fetchall()]


def slice_ranges(slices: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive slices of the same day merged into ``[start, end)`` ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    for start in sorted(slices):
        end = start + SLICE
        if ranges and ranges[-1][1] == start and _local_day(ranges[-1][0]) == _local_day(start):
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


@dataclass
class IncrementalRun:
    ran: bool
    since: datetime | None = None
    watermark: datetime | None = None
    slices: int = 0
    seconds: float = 0.0


def _try_run_lock(cursor) -> bool:
    cursor.execute("SELECT pg_try_advisory_lock(%s, 0)", [LOCK_NAMESPACE])
    return bool(cursor.fetchone()[0])


def rollup_incremental(*, now: datetime | None = None) -> IncrementalRun:
    """Recompute the slices touched since the last run (and their days' totals).

    The first run ever starts from the beginning of today. If another incremental run is in
    progress (beat started twice), this one does nothing."""
    started = _time.perf_counter()
    with connection.cursor() as cursor:
        if not _try_run_lock(cursor):
            return IncrementalRun(ran=False)
        try:
            # Application time, like the updated_at stamps it is compared with.
            now = now or timezone.now()
            state = RollupState.objects.filter(name=INCREMENTAL).first()
            since = state.watermark - OVERLAP if state else day_bounds(_local_day(now))[0]
            slices = touched_slices(since, now + SLICE)
            by_day: dict[date, list[tuple[datetime, datetime]]] = {}
            for start, end in slice_ranges(slices):
                by_day.setdefault(_local_day(start), []).append((start, end))
            for ranges in by_day.values():
                for fact in FACTS:
                    replace_slices(fact, ranges)
            seconds = _time.perf_counter() - started
            RollupState.objects.update_or_create(
                name=INCREMENTAL,
                defaults={
                    "watermark": now,
                    "last_run_at": now,
                    "last_run_slices": len(slices),
                    "last_run_ms": int(seconds * 1000),
                },
            )
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [LOCK_NAMESPACE])
    return IncrementalRun(ran=True, since=since, watermark=now, slices=len(slices), seconds=seconds)


def day_statements(day: date) -> list[tuple[str, dict]]:
    """The aggregate SELECTs a full rebuild of ``day`` runs, alone (for the benchmark)."""
    start, end = day_bounds(day)
    params = {"start": start, "end": end, "tz": _tz()}
    statements = [(fact.aggregate_sql(), params) for fact in FACTS]
    select = BACKLOG_SQL.split("SELECT", 1)[1]
    statements.append(("SELECT" + select, {"day": day, "at": min(end, timezone.now())}))
    return statements
