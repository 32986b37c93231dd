"""The rollup figures of the benchmark (``--only rollups``; see bench/README.md).

The loaded cases (bench/load.py) have no first action, decision or action, and every
resolved one was resolved at load time. :func:`prepare` gives the resolved ones a life
first — a first action and resolution some minutes after opening (exponential, with a mean
per severity), a decision (70% violations) by one of the bench analysts at that moment, and
an action for each violation — so that the rollups have real work to do (a case whose first
action would fall after now stays open instead). Then:

* one day's rollup (:func:`metrics.rollups.rebuild_day`, yesterday) against the same
  aggregate SELECTs run alone through psycopg2 (target ≤ 1.5×);
* the five-minute incremental run after new rows worth 1% of a day's volume (new cases with
  their reports, half of them decided) against a full rebuild of a day (target ≤ 5%); the
  loaded open cases get ``updated_at = created_at`` first (they were "just changed" by the
  load, which would make the first incremental run touch every slice of the month);
* claim p95 (the existing claim load: 16 claimers over HTTP) while rollups run in a loop,
  against claim p95 with no rollup running (target ≤ 1.5×);
* the dashboard page's server time at the large size against the small one (target ≤ 1.2×).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection

PREPARE_CHUNK = 50_000
# Mean minutes to the first action per severity are P0 10, P1 45, P2 240, P3 600 (prepare()).


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _analysts() -> list[int]:
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(username__startswith="bench-analyst-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def prepare(after_id: int = 0) -> int:
    """First actions, resolutions, decisions and actions for the resolved cases with an id
    above ``after_id`` (set-based, in chunks). Returns the highest case id seen."""
    from enforcement.models import PolicySection

    analysts = _analysts()
    section = PolicySection.objects.get(code="SPAM-1.1", superseded_at__isnull=True).pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cases_case")
        top = cursor.fetchone()[0]
    began = time.monotonic()
    for low in range(after_id, top, PREPARE_CHUNK):
        high = min(low + PREPARE_CHUNK, top)
        with connection.cursor() as cursor:
            # A pseudo-random u in (0, 1) per case, then an exponential delay.
            cursor.execute(
                # A case whose first action would come after now is still open.
                "UPDATE cases_case c SET first_action_at = CASE WHEN t.at <= now() THEN t.at END, "
                "resolved_at = CASE WHEN t.at <= now() THEN t.at END, "
                "status = CASE WHEN t.at <= now() THEN 'resolved' ELSE 'new' END, "
                "updated_at = LEAST(t.at, now()) FROM (SELECT c.id, (c.created_at + "
                "(-ln(1 - ((c.id * 2654435761) %% 1000003) / 1000003.0 * 0.999) * "
                "CASE c.severity WHEN 0 THEN 10 WHEN 1 THEN 45 WHEN 2 THEN 240 ELSE 600 END) "
                "* interval '1 minute') AS at FROM cases_case c "
                "WHERE c.id > %s AND c.id <= %s AND c.status = 'resolved' "
                "AND c.first_action_at IS NULL) t WHERE c.id = t.id",
                [low, high],
            )
            # The open ones have not changed since they were opened.
            cursor.execute(
                "UPDATE cases_case SET updated_at = created_at WHERE id > %s AND id <= %s "
                "AND status <> 'resolved' AND updated_at > created_at",
                [low, high],
            )
            cursor.execute(
                "INSERT INTO enforcement_decision (case_id, decided_by_id, outcome, "
                "policy_section_id, rationale, statement_of_reasons, recommended_action, "
                "strikes_before, automated, created_at) "
                "SELECT c.id, (%s::bigint[])[1 + c.id %% %s], "
                "CASE WHEN c.id %% 10 < 7 THEN 'violation' ELSE 'no_violation' END, "
                "CASE WHEN c.id %% 10 < 7 THEN %s::bigint END, 'bench', '', '', 0, false, "
                "c.first_action_at FROM cases_case c WHERE c.id > %s AND c.id <= %s "
                "AND c.status = 'resolved' AND c.first_action_at IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM enforcement_decision d WHERE d.case_id = c.id)",
                [analysts, len(analysts), section, low, high],
            )
            cursor.execute(
                "INSERT INTO enforcement_enforcementaction (created_at, updated_at, "
                "decision_id, case_id, subject_id, action_type, feature, status, "
                "proposed_by_id, starts_at, decided_at, rejection_reason, reversal_reason, "
                "version) SELECT d.created_at, d.created_at, d.id, c.id, c.subject_id, "
                "(ARRAY['remove_content', 'label', 'reduce_distribution'])[1 + c.id %% 3], "
                "'', 'active', d.decided_by_id, d.created_at, d.created_at, '', '', 1 "
                "FROM enforcement_decision d JOIN cases_case c ON c.id = d.case_id "
                "WHERE c.id > %s AND c.id <= %s AND d.outcome = 'violation' "
                "AND NOT EXISTS (SELECT 1 FROM enforcement_enforcementaction a "
                "WHERE a.decision_id = d.id)",
                [low, high],
            )
        done = high - after_id
        sys.stderr.write(
            f"\r  preparing cases {done:>9,}/{top - after_id:,} "
            f"({done / max(top - after_id, 1):4.0%}, {time.monotonic() - began:,.0f} s)"
        )
        sys.stderr.flush()
    sys.stderr.write("\n")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return top


def rebuild_recent(days: int = 31) -> float:
    """Rebuild the last ``days`` days (what the dashboards read); returns seconds."""
    from django.utils import timezone

    from metrics.rollups import rebuild_range

    today = timezone.localdate()
    started = time.perf_counter()
    rebuild_range(today - timedelta(days=days - 1), today)
    return time.perf_counter() - started


def _senior():
    from tsops.services import member_create_or_update

    return member_create_or_update(username="bench-senior", role="senior")


def measure_dashboard(bench, label: str) -> dict:
    """p95 server time of the dashboard page (default range) with the Django test client."""
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("metrics:dashboard")
    except NoReverseMatch:
        _log("  (no dashboard page yet: skipped)")
        return {}
    client = bench.client_for(_senior())
    for _ in range(3):
        assert client.get(url).status_code == 200
    queries: list[str] = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(url)
    samples = []
    for _ in range(bench.args.samples):
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    from bench.__main__ import p95

    out = {"p95_ms": p95(samples) * 1000, "queries": len(queries)}
    _log(f"  {label} dashboard: p95 {out['p95_ms']:.1f} ms, {len(queries)} queries")
    return out


def _median_seconds(fn, repeat: int = 3) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure_day(day) -> dict:
    """One day's rollup through metrics.rollups vs the same aggregate SQL alone."""
    import psycopg2

    from metrics import rollups

    statements = rollups.day_statements(day)
    raw = psycopg2.connect(**connection.get_connection_params())

    def run_raw():
        with raw, raw.cursor() as cursor:
            # The same session settings as the rollup's transactions (one core, no timeout
            # in the way).
            for statement in rollups.session_settings():
                cursor.execute(statement)
            for sql, params in statements:
                cursor.execute(sql, params)
                cursor.fetchall()

    try:
        run_raw()  # warm
        raw_s = _median_seconds(run_raw)
    finally:
        raw.close()
    rollup_s = _median_seconds(lambda: rollups.rebuild_day(day))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cases_case WHERE created_at >= %s AND created_at < %s",
            list(rollups.day_bounds(day)),
        )
        opened = cursor.fetchone()[0]
    _log(
        f"  day rollup ({day}, {opened:,} cases opened): {rollup_s * 1000:,.0f} ms vs the same "
        f"SQL alone {raw_s * 1000:,.0f} ms"
    )
    return {
        "day": day.isoformat(),
        "cases_opened": opened,
        "rollup_ms": rollup_s * 1000,
        "raw_ms": raw_s * 1000,
        "ratio": rollup_s / raw_s,
    }


def _add_new_rows(count: int) -> None:
    """``count`` new cases opened in the last minutes (with reports); half decided now."""
    from enforcement.models import PolicySection

    analysts = _analysts()
    section = PolicySection.objects.get(code="SPAM-1.1", superseded_at__isnull=True).pk
    stamp = time.time_ns()
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM cases_queue WHERE team = ''")
        queues = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, "
            "snapshot_media, created_at, updated_at) SELECT 'content', "
            "'bench-new-' || %s || '-' || g, 'new bench content ' || g, '', '[]'::jsonb, "
            "now(), now() FROM generate_series(1, %s) g",
            [stamp, count],
        )
        cursor.execute(
            "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, "
            "restricted, team, tags, report_count, automated_count, human_count, "
            "first_action_due, resolve_due, reopen_count, version, created_at, updated_at, "
            "search_document) SELECT s.id, 'new', g %% 4, "
            "(%s::bigint[])[1 + g %% array_length(%s::bigint[], 1)], 'spam', false, '', '{}', "
            "1, 0, 1, now() + interval '8 hours', now() + interval '24 hours', 0, 1, "
            "now() - (g %% 5) * interval '1 minute', now(), NULL "
            "FROM generate_series(1, %s) g JOIN cases_subject s ON s.kind = 'content' "
            "AND s.external_id = 'bench-new-' || %s || '-' || g RETURNING id",
            [queues, queues, count, stamp],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO cases_report (source, external_id, case_id, subject_id, reason, "
            "description, reporter_hash, detector, score, received_at, created_at, updated_at) "
            "SELECT 'user_report', 'bench-new-' || c.id, c.id, c.subject_id, 'spam', '', '', "
            "'', NULL, c.created_at, c.created_at, c.created_at FROM cases_case c "
            "WHERE c.id = ANY(%s)",
            [ids],
        )
        decided = ids[::2]
        cursor.execute(
            "UPDATE cases_case SET status = 'resolved', first_action_at = now(), "
            "resolved_at = now(), updated_at = now() WHERE id = ANY(%s)",
            [decided],
        )
        cursor.execute(
            "INSERT INTO enforcement_decision (case_id, decided_by_id, outcome, "
            "policy_section_id, rationale, statement_of_reasons, recommended_action, "
            "strikes_before, automated, created_at) SELECT c.id, %s, 'violation', %s, "
            "'bench', '', '', 0, false, now() FROM cases_case c WHERE c.id = ANY(%s)",
            [analysts[0], section, decided],
        )
        cursor.execute(
            "INSERT INTO enforcement_enforcementaction (created_at, updated_at, decision_id, "
            "case_id, subject_id, action_type, feature, status, proposed_by_id, starts_at, "
            "decided_at, rejection_reason, reversal_reason, version) SELECT now(), now(), "
            "d.id, c.id, c.subject_id, 'remove_content', '', 'active', d.decided_by_id, now(), "
            "now(), '', '', 1 FROM enforcement_decision d JOIN cases_case c ON c.id = d.case_id "
            "WHERE c.id = ANY(%s)",
            [decided],
        )


def measure_incremental(day) -> dict:
    """The incremental run after 1% new rows vs a full rebuild of a whole day."""
    from django.utils import timezone

    from metrics import rollups
    from metrics.models import RollupState

    today = timezone.localdate()
    rollups.rebuild_day(today)
    # The previous five-minute run has just happened.
    RollupState.objects.update_or_create(
        name=rollups.INCREMENTAL,
        defaults={"watermark": timezone.now(), "last_run_at": timezone.now()},
    )
    start, end = rollups.day_bounds(day)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cases_case WHERE created_at >= %s AND created_at < %s",
            [start, end],
        )
        per_day = cursor.fetchone()[0]
    new = max(1, per_day // 100)
    samples = []
    for _ in range(3):
        # The previous five-minute run has just happened; then 1% new rows arrive.
        RollupState.objects.filter(name=rollups.INCREMENTAL).update(watermark=timezone.now())
        _add_new_rows(new)
        started = time.perf_counter()
        run = rollups.rollup_incremental()
        samples.append(time.perf_counter() - started)
    incremental_s = statistics.median(samples)
    full_s = _median_seconds(lambda: rollups.rebuild_day(day))
    facts_s = _median_seconds(lambda: [rollups.rebuild_fact_day(f, day) for f in rollups.FACTS])
    _log(
        f"  incremental after {new:,} new cases (1% of {per_day:,}): "
        f"{incremental_s * 1000:,.0f} ms "
        f"({run.slices} slices of 15 min) vs full rebuild of {day} {full_s * 1000:,.0f} ms "
        f"(without the backlog snapshot {facts_s * 1000:,.0f} ms)"
    )
    return {
        "new_cases": new,
        "day_cases": per_day,
        "slices": run.slices,
        "incremental_ms": incremental_s * 1000,
        "full_day_ms": full_s * 1000,
        "full_day_without_backlog_ms": facts_s * 1000,
        "ratio": incremental_s / full_s,
        "ratio_without_backlog": incremental_s / facts_s,
    }


def _claims_while(bench, job: str, day) -> tuple[dict, int]:
    """The claim load while a rollup ``job`` ("day" or "incremental") runs over and over in
    a separate process (not a thread of this one, whose claimers it would slow through the
    GIL rather than through the database)."""
    import subprocess
    import tempfile

    from bench.__main__ import ROOT

    with tempfile.TemporaryDirectory() as folder:
        counter = Path(folder) / "rounds"
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.rollups", job, day.isoformat(), str(counter)],
            cwd=ROOT,
            env={**os.environ},
        )
        try:
            time.sleep(2)  # let the first round start
            figures = bench.measure_claims()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        rounds = int(counter.read_text() or 0) if counter.exists() else 0
    return figures, rounds


def _loop(job: str, day: str, counter: str) -> None:
    """``python -m bench.rollups day|incremental YYYY-MM-DD COUNTER_FILE``: run the job until
    terminated, writing the number of completed rounds to COUNTER_FILE."""
    import signal
    from datetime import date

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    django.setup()
    from metrics import rollups

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    rounds = 0
    while not stop:
        if job == "day":
            rollups.rebuild_day(date.fromisoformat(day))
        else:
            rollups.rollup_incremental()
        rounds += 1
        Path(counter).write_text(str(rounds))


def measure_claims_during_rollup(bench, day) -> dict:
    """Claim p95 (the existing claim load) with no rollup, then while the nightly rebuild of
    a day runs back to back (the worst case), then while the five-minute incremental job
    runs back to back (what runs in the daytime, here without its five-minute pauses)."""
    bench.measure_claims()  # warm-up (gunicorn start, caches): not counted
    quiet = bench.measure_claims()
    nightly, nightly_rounds = _claims_while(bench, "day", day)
    incremental, incremental_rounds = _claims_while(bench, "incremental", day)
    out = {
        "quiet_p95_ms": quiet["api_p95_ms"],
        "busy_p95_ms": nightly["api_p95_ms"],
        "rollup_rounds": nightly_rounds,
        "ratio": nightly["api_p95_ms"] / quiet["api_p95_ms"],
        "incremental_p95_ms": incremental["api_p95_ms"],
        "incremental_rounds": incremental_rounds,
        "incremental_ratio": incremental["api_p95_ms"] / quiet["api_p95_ms"],
    }
    _log(
        f"  claim p95: none {quiet['api_p95_ms']:.1f} ms; during day rebuilds "
        f"{nightly['api_p95_ms']:.1f} ms ({nightly_rounds} rounds); during incremental runs "
        f"{incremental['api_p95_ms']:.1f} ms ({incremental_rounds} runs)"
    )
    return out


def measure_large(bench, small_dashboard: dict) -> dict:
    """Every rollup figure at the large size (after the other parts)."""
    from django.utils import timezone

    _log("rollups: preparing the large data set…")
    prepare(bench.rollups_prepared)
    seconds = rebuild_recent()
    _log(f"  rebuilt 31 days of rollups in {seconds:,.1f} s")
    large_dashboard = measure_dashboard(bench, f"{bench.args.cases:,} cases")
    yesterday = timezone.localdate() - timedelta(days=1)
    day = measure_day(yesterday)
    incremental = measure_incremental(yesterday)
    claims = measure_claims_during_rollup(bench, yesterday)
    dashboard = None
    if small_dashboard and large_dashboard:
        dashboard = {
            "small_p95_ms": small_dashboard["p95_ms"],
            "large_p95_ms": large_dashboard["p95_ms"],
            "small_queries": small_dashboard["queries"],
            "large_queries": large_dashboard["queries"],
            "ratio": large_dashboard["p95_ms"] / small_dashboard["p95_ms"],
        }
    return {
        "rebuild_31_days_s": seconds,
        "day": day,
        "incremental": incremental,
        "claims": claims,
        "dashboard": dashboard,
    }


def measure_small(bench) -> dict:
    """At the small size: prepare, rebuild the dashboards' days, time the dashboard."""
    bench.rollups_prepared = prepare(0)
    rebuild_recent()
    return measure_dashboard(bench, f"{bench.args.small:,} cases")


def report_lines(figures: dict | None) -> list[str]:
    if not figures:
        return []
    lines = []
    day, inc, claims = figures["day"], figures["incremental"], figures["claims"]
    lines.append(
        f"{'day rollup ms (vs same SQL alone)':<34}{day['rollup_ms']:>14,.0f}"
        f"{day['raw_ms']:>16,.0f}{day['ratio']:>9.2f}{'<= 1.5':>10}  "
        f"{'yes' if day['ratio'] <= 1.5 else 'NO'}"
    )
    lines.append(
        f"{'incremental ms (vs full day)':<34}{inc['incremental_ms']:>14,.0f}"
        f"{inc['full_day_ms']:>16,.0f}{inc['ratio']:>9.3f}{'<= 0.05':>10}  "
        f"{'yes' if inc['ratio'] <= 0.05 else 'NO'}"
        f"  (without backlog {inc['full_day_without_backlog_ms']:,.0f} ms: "
        f"{inc['ratio_without_backlog']:.3f}; {inc['new_cases']:,} new cases, "
        f"{inc['slices']} slices)"
    )
    lines.append(
        f"{'claim p95 ms, day rebuild looping':<34}{claims['busy_p95_ms']:>14.1f}"
        f"{claims['quiet_p95_ms']:>16.1f}{claims['ratio']:>9.2f}{'<= 1.5':>10}  "
        f"{'yes' if claims['ratio'] <= 1.5 else 'NO'}  ({claims['rollup_rounds']} rebuilds)"
    )
    lines.append(
        f"{'claim p95 ms, incremental looping':<34}{claims['incremental_p95_ms']:>14.1f}"
        f"{claims['quiet_p95_ms']:>16.1f}{claims['incremental_ratio']:>9.2f}{'<= 1.5':>10}  "
        f"{'yes' if claims['incremental_ratio'] <= 1.5 else 'NO'}"
        f"  ({claims['incremental_rounds']} runs)"
    )
    dash = figures.get("dashboard")
    if dash:
        lines.append(
            f"{'dashboard p95 ms, large vs small':<34}{dash['large_p95_ms']:>14.1f}"
            f"{dash['small_p95_ms']:>16.1f}{dash['ratio']:>9.2f}{'<= 1.2':>10}  "
            f"{'yes' if dash['ratio'] <= 1.2 else 'NO'}"
            f"  (queries {dash['large_queries']} vs {dash['small_queries']})"
        )
    return lines


if __name__ == "__main__":
    _loop(*sys.argv[1:4])
