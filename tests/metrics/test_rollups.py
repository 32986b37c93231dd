"""Rollups: a re-run replaces and never doubles, the incremental runs add up to a full
rebuild, the daily rows always equal the sum of their 15-minute slices, and the runs guard
against each other."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from io import StringIO

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from cases.models import Case
from cases.services import case_update
from enforcement.services import decision_make
from metrics import rollups
from metrics.kpis import kpi_report
from metrics.models import (
    ActionDaily,
    ActionSlice,
    ActionSummary,
    AnalystDaily,
    AnalystSlice,
    AnalystSummary,
    BacklogDaily,
    BacklogSummary,
    CaseDaily,
    CaseSlice,
    CaseSummary,
    DetectorDaily,
    DetectorSlice,
    RollupDay,
    RollupState,
)

pytestmark = pytest.mark.django_db

D_MINUS_1, D, D_PLUS_1 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
TABLES = (
    CaseSlice,
    CaseDaily,
    ActionSlice,
    ActionDaily,
    AnalystSlice,
    AnalystDaily,
    DetectorSlice,
    DetectorDaily,
)
SUMMARIES = (CaseSummary, ActionSummary, AnalystSummary)


def rows(model) -> list[tuple]:
    """Every row of a rollup table without its id, in a stable order."""
    fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
    return sorted(
        tuple(tuple(v) if isinstance(v, list) else v for v in row)
        for row in model.objects.values_list(*fields)
    )


def snapshot(models=(*TABLES, *SUMMARIES)) -> dict[str, list[tuple]]:
    return {model.__name__: rows(model) for model in models}


def daily_from_slices(slices, daily) -> list[tuple]:
    """The daily rows recomputed in Python from the slices."""
    key_fields = ["day", "queue_id", "severity", "reason", "team"]
    key_fields += [
        f.attname
        for f in daily._meta.concrete_fields
        if f.attname in ("action_type", "analyst_id", "detector")
    ]
    value_fields = [
        f.attname
        for f in daily._meta.concrete_fields
        if f.attname not in key_fields and f.attname != "id"
    ]
    sums: dict[tuple, list] = {}
    for row in slices.objects.values():
        key = tuple(row[k] for k in key_fields)
        acc = sums.setdefault(key, [None if f.endswith("hist") else 0 for f in value_fields])
        for i, f in enumerate(value_fields):
            if f.endswith("hist"):
                if row[f] is not None:
                    acc[i] = [
                        a + b for a, b in zip(acc[i] or [0] * len(row[f]), row[f], strict=True)
                    ]
            else:
                acc[i] += row[f]
    out = []
    for key, values in sums.items():
        if any(v for v in values):
            out.append(dict(zip(key_fields + value_fields, [*key, *values], strict=True)))
    fields = [f.attname for f in daily._meta.concrete_fields if f.attname != "id"]
    return sorted(
        tuple(tuple(r[f]) if isinstance(r[f], list) else r[f] for f in fields) for r in out
    )


def test_a_rebuild_run_twice_gives_the_same_rows(dataset):
    rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    everything = (*TABLES, *SUMMARIES, BacklogDaily, BacklogSummary)
    first = snapshot(everything)
    assert first["CaseDaily"] and first["BacklogDaily"] and first["CaseSummary"]
    rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    assert snapshot(everything) == first
    # Replacing some slices of a day again (the incremental path) changes nothing either.
    for fact in rollups.FACTS:
        rollups.replace_slices(
            fact,
            [
                (datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)),
                (datetime(2026, 3, 2, 11, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)),
            ],
        )
    assert snapshot(everything) == first


def test_daily_rows_are_the_sum_of_their_slices(dataset):
    rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    for slices, daily in zip(TABLES[::2], TABLES[1::2], strict=True):
        assert rows(daily) == daily_from_slices(slices, daily), daily.__name__


DIMENSIONS = ("id", "day", "queue_id", "severity", "reason", "team", "taken_at", "age_bucket")


def measures_of(daily) -> list[str]:
    extra = ("action_type", "analyst_id", "detector")
    return [
        f.attname
        for f in daily._meta.concrete_fields
        if f.attname not in DIMENSIONS and f.attname not in extra
    ]


def regrouped(daily, key: tuple[str, ...]) -> list[tuple]:
    """The daily rows summed by ``key`` in Python: what the summary table must hold."""
    measures = measures_of(daily)
    sums: dict[tuple, list] = {}
    for row in daily.objects.values():
        k = (row["day"], *(row[name] for name in key))
        acc = sums.setdefault(k, [None if m.endswith("hist") else 0 for m in measures])
        for i, m in enumerate(measures):
            if m.endswith("hist"):
                if row[m] is not None:
                    acc[i] = [
                        a + b for a, b in zip(acc[i] or [0] * len(row[m]), row[m], strict=True)
                    ]
            else:
                acc[i] += row[m]
    return sorted(
        (*k, *(tuple(v) if isinstance(v, list) else v for v in values))
        for k, values in sums.items()
    )


def summary_rows(model, key: tuple[str, ...], measures: list[str]) -> list[tuple]:
    return sorted(
        tuple(tuple(v) if isinstance(v, list) else v for v in row)
        for row in model.objects.values_list("day", *key, *measures)
    )


def test_summaries_are_the_daily_rows_summed_over_fewer_dimensions(build_dataset):
    build_dataset(after_step=rollups.rollup_incremental)
    for _ in range(2):
        for summary, daily in (
            (CaseSummary, CaseDaily),
            (ActionSummary, ActionDaily),
            (AnalystSummary, AnalystDaily),
        ):
            key = rollups.SUMMARIES[
                {CaseDaily: "cases", ActionDaily: "actions", AnalystDaily: "analysts"}[daily]
            ].key
            expected = regrouped(daily, key)
            measures = measures_of(daily)
            assert expected
            assert summary_rows(summary, key, measures) == expected, summary.__name__
        # The same after full rebuilds (and with the backlog's summary).
        rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    backlog = regrouped(BacklogDaily, ("team", "severity", "age_bucket"))
    assert backlog == summary_rows(
        BacklogSummary, ("team", "severity", "age_bucket"), ["open", "breached"]
    )


def test_incremental_runs_every_step_equal_a_full_rebuild(
    build_dataset, threats_specialist, time_machine
):
    """The five-minute job runs after every step of the data set (each at that moment);
    its rows must be exactly those of a full rebuild of the same days."""
    runs = []
    data = build_dataset(after_step=lambda: runs.append(rollups.rollup_incremental()))
    assert all(run.ran for run in runs) and len(runs) > 15
    # A later change to an older case (H, opened and escalated on D, re-prioritised the
    # next morning) reaches every slice of D it counts in.
    h = Case.objects.get(pk=data.cases["H"].pk)
    time_machine.move_to(datetime(2026, 3, 3, 6, 30, tzinfo=UTC), tick=False)
    case_update(actor=threats_specialist, case_id=h.pk, version=h.version, severity=1)
    time_machine.move_to(datetime(2026, 3, 3, 6, 35, tzinfo=UTC), tick=False)
    assert rollups.rollup_incremental().slices >= 2
    incremental = snapshot()
    assert CaseDaily.objects.filter(day=D, team="threats", severity=1, created=1).exists()
    rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    assert snapshot() == incremental


def test_an_incremental_run_recomputes_only_the_slices_touched(
    dataset, time_machine, threats_specialist
):
    time_machine.move_to(datetime(2026, 3, 3, 6, 0, tzinfo=UTC), tick=False)
    rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    RollupState.objects.create(
        name=rollups.INCREMENTAL,
        watermark=datetime(2026, 3, 3, 6, 0, tzinfo=UTC),
        last_run_at=datetime(2026, 3, 3, 6, 0, tzinfo=UTC),
    )
    time_machine.move_to(datetime(2026, 3, 3, 7, 0, tzinfo=UTC), tick=False)
    quiet = rollups.rollup_incremental()
    # Nothing happened since the watermark (minus the overlap): nothing to do.
    assert quiet.ran and quiet.slices == 0
    # H's severity changes: every slice H counts in is recomputed (opened D 08:00; first
    # action and escalation D 10:00, acknowledgement 10:45).
    h = Case.objects.get(pk=dataset.cases["H"].pk)
    time_machine.move_to(datetime(2026, 3, 3, 7, 5, tzinfo=UTC), tick=False)
    case_update(actor=threats_specialist, case_id=h.pk, version=h.version, severity=1)
    assert rollups.rollup_incremental().slices == 3
    assert RollupState.objects.get(name=rollups.INCREMENTAL).last_run_slices == 3
    # The next run still sees the change (the overlap re-reads the last ten minutes, in case
    # a transaction committed late): doing it again changes nothing.
    before = snapshot()
    time_machine.move_to(datetime(2026, 3, 3, 7, 20, tzinfo=UTC), tick=False)
    assert rollups.rollup_incremental().slices == 3
    assert snapshot() == before
    # H is then decided: only the slice of the decision and resolution (D+1 07:30), not the
    # one it was opened in.
    time_machine.move_to(datetime(2026, 3, 3, 7, 30, tzinfo=UTC), tick=False)
    decision_make(
        actor=threats_specialist, case_id=h.pk, outcome="no_violation", rationale="Not credible."
    )
    time_machine.move_to(datetime(2026, 3, 3, 7, 35, tzinfo=UTC), tick=False)
    assert rollups.touched_slices(
        datetime(2026, 3, 3, 7, 25, tzinfo=UTC), datetime(2026, 3, 3, 8, tzinfo=UTC)
    ) == [datetime(2026, 3, 3, 7, 30, tzinfo=UTC)]
    assert rollups.rollup_incremental().slices == 1
    incremental = snapshot()
    assert CaseDaily.objects.filter(day=D_PLUS_1, team="threats", severity=1, resolved=1).exists()
    rollups.rebuild_range(D_MINUS_1, D_PLUS_1)
    assert snapshot() == incremental


def test_a_second_incremental_run_waits_for_none_and_does_nothing_while_one_runs(dataset):
    """The run holds a session advisory lock: a run started meanwhile (beat twice) skips."""
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, 0)", [rollups.LOCK_NAMESPACE])
        assert rollups.rollup_incremental().ran is False
        assert not CaseDaily.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [rollups.LOCK_NAMESPACE])
        assert rollups.rollup_incremental(now=datetime(2026, 3, 3, 6, tzinfo=UTC)).ran is True
    finally:
        other.close()


def test_rollup_transactions_set_local_timeouts_and_never_lock_case_rows(dataset):
    seen = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        rollups.rebuild_day(D)
    assert any(s.startswith("SET LOCAL statement_timeout") for s in seen)
    assert any(s.startswith("SET LOCAL lock_timeout") for s in seen)
    assert any("pg_advisory_xact_lock" in s for s in seen)
    writes = [s for s in seen if s.lstrip().split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes
    for sql in seen:
        if "FOR UPDATE" in sql or "FOR SHARE" in sql:
            # Only the rollup's own bookkeeping row (update_or_create) is ever locked.
            assert '"metrics_rollupday"' in sql and "cases_" not in sql, sql[:120]
    for sql in writes:
        target = re.match(r'\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)', sql).group(1)
        assert target.startswith("metrics_"), sql[:80]


def test_the_final_rebuild_of_yesterday_runs_once_after_midnight(dataset, senior):
    assert rollups.rollup_finalize(now=datetime(2026, 3, 3, 0, 5, tzinfo=UTC)) is None  # grace
    assert rollups.rollup_finalize(now=datetime(2026, 3, 3, 0, 20, tzinfo=UTC)) == D
    day = RollupDay.objects.get(day=D)
    assert day.final and day.backlog_taken_at == datetime(2026, 3, 3, tzinfo=UTC)
    assert rollups.rollup_finalize(now=datetime(2026, 3, 3, 0, 35, tzinfo=UTC)) is None
    report = kpi_report(actor=senior, date_from=D, date_to=D)["kpis"]
    assert report["cases_created"]["value"] == 5
    # A, reopened by its overturned appeal, is still open at the end of D.
    assert report["backlog_open"]["value"] == 1


def test_rebuild_rollups_command_rebuilds_a_range_with_a_progress_bar(dataset):
    out, err = StringIO(), StringIO()
    call_command(
        "rebuild_rollups", "--from", "2026-03-01", "--to", "2026-03-02", stdout=out, stderr=err
    )
    assert "Rebuilt 2 day(s), 2026-03-01 to 2026-03-02." in out.getvalue()
    assert "rebuilding rollups" in err.getvalue() and "2/2" in err.getvalue()
    assert set(CaseDaily.objects.values_list("day", flat=True)) == {D_MINUS_1, D}
    assert set(RollupDay.objects.values_list("day", flat=True)) == {D_MINUS_1, D}
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--from", "2026-03-02", "--to", "2026-03-01")
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--from", "yesterday")


def test_beat_schedules_the_incremental_and_final_runs():
    from django.conf import settings

    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks["metrics.tasks.rollup_incremental"] == 300.0
    assert "metrics.tasks.rollup_finalize" in tasks
