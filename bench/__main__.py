"""TSOps benchmarks: ``make bench`` (or ``python -m bench``). See bench/README.md.

Loads a scratch database (``tsops_bench`` on the configured or embedded server)
with a large case table and prints each figure as a ratio against a raw
PostgreSQL baseline measured in the same run on the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _scratch_database(name: str, *, reuse: bool = False) -> str:
    """Create an empty scratch database on the configured (or embedded) server (``reuse``:
    keep it if it exists); return its URL."""
    import psycopg2

    from tsops import embedded
    from tsops.config import database_config

    url = os.environ.get("DATABASE_URL")
    if not url:
        embedded.ensure_services()
        url = embedded.postgres().url
    config = database_config(url)
    conn = psycopg2.connect(
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname=config["NAME"],
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not (reuse and cursor.fetchone()):
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    parsed = urlparse(url)
    return parsed._replace(path=f"/{name}").geturl()


def _server_timing(header: str) -> tuple[float, float]:
    """(app, db) milliseconds from a ``Server-Timing: app;dur=…, db;dur=…`` header."""
    durations = {}
    for part in header.split(","):
        name, _, value = part.strip().partition(";dur=")
        durations[name] = float(value) if value else 0.0
    return durations.get("app", 0.0), durations.get("db", 0.0)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Server:
    """The web app under gunicorn, as in production: separate worker processes over HTTP."""

    def __init__(self, workers: int = 4, threads: int = 4):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.workers, self.threads = workers, threads
        self.proc = None

    def start(self) -> None:
        import subprocess
        import urllib.request

        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "tsops.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def _bare_claim_sql() -> str:
    """The claim's baseline: the bare claim statement (the case queue's candidates in claim
    order, ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)``), without the history
    row, timeline entry and access-log entry the application's statement also writes."""
    return """
WITH next_item AS (
    SELECT t.id FROM cases_case t
    WHERE t.status = 'new' AND t.queue_id = %(queue)s AND NOT EXISTS (
        SELECT 1 FROM cases_caseskip s
        WHERE s.case_id = t.id AND s.user_id = %(user)s AND s.created_at > %(skip_since)s)
    ORDER BY t.severity, t.priority DESC, t.resolve_due, t.report_count DESC, t.id
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE cases_case AS t
SET status = 'in_review', claimed_by_id = %(user)s, claimed_at = %(now)s,
    lease_expires_at = %(lease)s, version = t.version + 1, updated_at = %(now)s,
    first_claimed_at = COALESCE(t.first_claimed_at, %(now)s)
FROM next_item WHERE t.id = next_item.id
RETURNING t.id
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.figures: dict[str, dict] = {}

    # --- set-up ---------------------------------------------------------------------------

    def setup(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from tsops.services import api_key_create, member_create_or_update

        _log("migrating the scratch database…")
        call_command("migrate", verbosity=0)
        self.platform = member_create_or_update(username="bench-platform", role="platform")
        _, self.platform_key = api_key_create(
            user=self.platform, name="bench", scopes=["reports:write"]
        )
        self.analysts = [
            member_create_or_update(username=f"bench-analyst-{i}", role="analyst")
            for i in range(16)
        ]
        self.user_model = get_user_model()

    def _loaded_cases(self) -> int:
        """How many cases an earlier run left in a reused database (load_cases numbers them)."""
        from cases.models import Case

        return Case.objects.filter(subject__external_id__startswith="bench-post-").count()

    def client_for(self, user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client

    # --- pages ----------------------------------------------------------------------------

    def measure_pages(self, label: str) -> dict:
        from django.db import connection

        from cases.models import Case

        client = self.client_for(self.analysts[0])
        queue_url = "/queues/general/"
        case_ids = list(
            Case.objects.filter(queue__slug="general", status="new")
            .order_by("?")
            .values_list("id", flat=True)[: self.args.samples]
        )
        out = {}
        for name, urls in (
            ("queue_page", [queue_url] * self.args.samples),
            ("case_page", [f"/cases/{i}/" for i in case_ids]),
        ):
            for url in urls[:5]:
                client.get(url)  # warm caches
            # A request resets Django's query log, so count executions with a wrapper.
            queries: list[str] = []

            def count(execute, sql, params, many, context, queries=queries):
                queries.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                response = client.get(urls[0])
            assert response.status_code == 200, (url, response.status_code)
            samples = []
            for url in urls:
                started = time.perf_counter()
                response = client.get(url)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200
            out[name] = {"p95_ms": p95(samples) * 1000, "queries": len(queries)}
            _log(f"  {label} {name}: p95 {out[name]['p95_ms']:.1f} ms, {len(queries)} queries")
        return out

    # --- ingestion ------------------------------------------------------------------------

    def _payloads(self, prefix: str, batch: int) -> list[dict]:
        reports = []
        for i in range(self.args.batch):
            n = batch * self.args.batch + i
            # One in five reports lands on a subject reported earlier in the run.
            subject_n = n - (n % 5 == 0 and n > 10) * 7
            reports.append(
                {
                    "source": "user_report" if n % 3 else "automated_flag",
                    "external_id": f"{prefix}-r-{n}",
                    "reason": ["spam", "scam_fraud", "harassment", "other"][n % 4],
                    "description": "bench report text about a suspicious giveaway",
                    "reporter_id": f"u-{n % 977}",
                    "detector": "" if n % 3 else "spamnet-v3",
                    "score": None if n % 3 else 0.91,
                    "subject": {
                        "kind": "content",
                        "external_id": f"{prefix}-post-{subject_n}",
                        "owner_id": f"{prefix}-acct-{subject_n % 4001}",
                        "text": f"free crypto giveaway number {subject_n}",
                    },
                    "identifiers": [{"kind": "device", "value": f"dev-{subject_n % 3001}"}],
                }
            )
        return reports

    def _raw_ingest(self, cursor, reports: list[dict]) -> None:
        """The raw baseline: the same rows upserted by plain SQL (INSERT … unnest … ON CONFLICT)."""
        subjects = sorted({r["subject"]["external_id"]: r for r in reports}.items())
        cursor.execute(
            "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, "
            "snapshot_media, created_at, updated_at) SELECT 'content', e, t, '', '[]'::jsonb, "
            "now(), now() FROM unnest(%s::text[], %s::text[]) AS u(e, t) "
            "ON CONFLICT (kind, external_id) DO UPDATE SET kind = EXCLUDED.kind "
            "RETURNING id, external_id",
            [[k for k, _ in subjects], [r["subject"]["text"] for _, r in subjects]],
        )
        ids = dict((e, i) for i, e in cursor.fetchall())
        subject_ids = [ids[k] for k, _ in subjects]
        cursor.execute(
            "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, restricted, "
            "team, tags, report_count, automated_count, human_count, first_action_due, "
            "resolve_due, reopen_count, version, created_at, updated_at) "
            "SELECT s, 'new', 3, (SELECT id FROM cases_queue WHERE slug = 'general'), 'other', "
            "false, '', '{}', 1, 0, 1, now(), now(), 0, 1, now(), now() "
            "FROM unnest(%s::bigint[]) AS u(s) "
            "ON CONFLICT (subject_id) WHERE NOT (status = 'resolved') DO NOTHING",
            [subject_ids],
        )
        cursor.execute(
            "SELECT subject_id, id FROM cases_case WHERE subject_id = ANY(%s) "
            "AND NOT (status = 'resolved')",
            [subject_ids],
        )
        cases = dict(cursor.fetchall())
        cursor.execute(
            "INSERT INTO cases_report (source, external_id, case_id, subject_id, reason, "
            "description, reporter_hash, detector, score, received_at, created_at, updated_at) "
            "SELECT s, e, c, sub, r, d, '', det, sc, now(), now(), now() FROM unnest("
            "%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], "
            "%s::text[], %s::float8[]) AS u(s, e, c, sub, r, d, det, sc) "
            "ON CONFLICT (source, external_id) DO NOTHING",
            [
                [r["source"] for r in reports],
                [r["external_id"] for r in reports],
                [cases[ids[r["subject"]["external_id"]]] for r in reports],
                [ids[r["subject"]["external_id"]] for r in reports],
                [r["reason"] for r in reports],
                [r["description"] for r in reports],
                [r["detector"] for r in reports],
                [r["score"] for r in reports],
            ],
        )

    def measure_ingestion(self) -> dict:
        import psycopg2
        from django.db import connection
        from django.test import Client

        client = Client(HTTP_AUTHORIZATION=f"Bearer {self.platform_key}")
        raw = psycopg2.connect(**connection.get_connection_params())
        api_time = raw_time = 0.0
        count = 0
        for batch in range(self.args.ingest_batches):
            api_reports = self._payloads("api", batch)
            body = json.dumps({"reports": api_reports})
            started = time.perf_counter()
            response = client.post("/api/v1/reports/bulk", body, content_type="application/json")
            api_time += time.perf_counter() - started
            assert response.status_code == 200, response.content[:500]
            statuses = {r["status"] for r in response.json()["results"]}
            assert statuses <= {200, 201}, statuses
            raw_reports = self._payloads("raw", batch)
            started = time.perf_counter()
            with raw, raw.cursor() as cursor:
                self._raw_ingest(cursor, raw_reports)
            raw_time += time.perf_counter() - started
            count += len(api_reports)
        raw.close()
        api_rate, raw_rate = count / api_time, count / raw_time
        _log(f"  ingestion: API {api_rate:,.0f} reports/s, raw SQL {raw_rate:,.0f} reports/s")
        return {"api_per_s": api_rate, "raw_per_s": raw_rate, "ratio": api_rate / raw_rate}

    # --- claiming -------------------------------------------------------------------------

    def _threads(self, count: int, work) -> list[float]:
        samples: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(count)
        errors: list[BaseException] = []

        def run(i):
            from django.db import connection

            try:
                local = work(i, barrier)
                with lock:
                    samples.extend(local)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return samples

    def _claims_reset(self) -> None:
        """Put the cases earlier claim measurements took back in their queues (as lease
        expiry would), so that every measurement claims from the same queues."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_case SET status = 'new', claimed_by_id = NULL, claimed_at = NULL, "
                "lease_expires_at = NULL WHERE status = 'in_review' AND claimed_by_id = ANY(%s)",
                [[user.pk for user in self.analysts]],
            )

    def measure_claims(self, claimers: int = 16) -> dict:
        """Claim p95 of ``claimers`` concurrent claimers over HTTP against the bare claim
        statement from as many psycopg2 threads (each side takes 16 × --claims-per-thread
        claims, so p95 has as many samples whatever the count)."""
        import psycopg2
        from django.db import connection
        from django.utils import timezone

        from cases.models import Queue
        from cases.services import LEASE, SKIP_MEMORY
        from tsops.services import api_key_create

        self._claims_reset()
        bare_claim_sql = _bare_claim_sql()
        per_thread = self.args.claims_per_thread * 16 // claimers
        queue_ids = dict(Queue.objects.values_list("slug", "id"))
        keys = [
            api_key_create(user=user, name="bench-claim", scopes=["cases:write"])[1]
            for user in self.analysts[:claimers]
        ]
        server = _Server(self.args.web_workers, self.args.web_threads)
        timings: list[tuple[float, float]] = []  # (app, db) ms per claim: Server-Timing
        lock = threading.Lock()

        def api_work(i, barrier):
            import http.client

            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            headers = {"Authorization": f"Bearer {keys[i]}", "Content-Length": "0"}
            local = []
            barrier.wait()
            try:
                for _ in range(per_thread):
                    started = time.perf_counter()
                    conn.request("POST", "/api/v1/queues/general/claim", headers=headers)
                    response = conn.getresponse()
                    response.read()
                    local.append(time.perf_counter() - started)
                    assert response.status == 200, response.status
                    with lock:
                        timings.append(_server_timing(response.getheader("Server-Timing", "")))
            finally:
                conn.close()
            return local

        params = connection.get_connection_params()

        def raw_work(i, barrier):
            conn = psycopg2.connect(**params)
            local = []
            barrier.wait()
            try:
                for _ in range(per_thread):
                    now = timezone.now()
                    started = time.perf_counter()
                    with conn, conn.cursor() as cursor:
                        cursor.execute(
                            bare_claim_sql,
                            {
                                "queue": queue_ids["harassment"],
                                "user": self.analysts[i].pk,
                                "now": now,
                                "lease": now + LEASE,
                                "skip_since": now - SKIP_MEMORY,
                            },
                        )
                        assert cursor.fetchone() is not None
                    local.append(time.perf_counter() - started)
            finally:
                conn.close()
            return local

        try:
            server.start()
            api = self._threads(claimers, api_work)
        finally:
            server.stop()
        raw = self._threads(claimers, raw_work)
        api_p95, raw_p95 = p95(api) * 1000, p95(raw) * 1000
        app = [t[0] for t in timings]
        db = [t[1] for t in timings]
        _log(
            f"  claim p95 with {claimers} claimers: API {api_p95:.1f} ms, raw CTE {raw_p95:.1f} ms "
            f"(medians {statistics.median(api) * 1000:.1f} / {statistics.median(raw) * 1000:.1f}); "
            f"in the server: p95 {p95(app):.1f} ms, median {statistics.median(app):.1f} ms, of "
            f"which the database {statistics.median(db):.1f} ms"
        )
        return {
            "server_p95_ms": p95(app),
            "server_median_ms": statistics.median(app),
            "server_db_median_ms": statistics.median(db),
            "claimers": claimers,
            "api_p95_ms": api_p95,
            "raw_p95_ms": raw_p95,
            "ratio": api_p95 / raw_p95,
            "api_median_ms": statistics.median(api) * 1000,
            "raw_median_ms": statistics.median(raw) * 1000,
        }

    def measure_claim_counts(self) -> dict:
        """The claim figure at 16 claimers (the target), and at 1 and 4 for how it scales."""
        figures = self.measure_claims(16)
        figures["by_claimers"] = {n: self.measure_claims(n) for n in (1, 4)}
        figures["by_claimers"][16] = {k: v for k, v in figures.items() if k != "by_claimers"}
        return figures

    # --- decisions ----------------------------------------------------------------------------

    def measure_decisions(self) -> dict:
        """Decisions through POST /api/v1/cases/{id}/decision vs the same rows by plain SQL."""
        import psycopg2
        from django.db import connection
        from django.test import Client

        from cases.models import Case
        from enforcement.models import PolicySection
        from tsops.services import api_key_create

        n = self.args.decisions
        analyst = self.analysts[15]
        _, key = api_key_create(user=analyst, name="bench-decide", scopes=["cases:write"])
        ids = list(
            Case.objects.filter(status="new", queue__slug="spam", subject__owner__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)[: 2 * n]
        )
        if len(ids) < 2 * n:
            raise RuntimeError("not enough open spam cases to decide")
        api_ids, raw_ids = ids[:n], ids[n:]
        Case.objects.filter(pk__in=api_ids).update(status="in_review", claimed_by=analyst)
        versions = dict(Case.objects.filter(pk__in=api_ids).values_list("id", "version"))
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        started = time.perf_counter()
        for case_id in api_ids:
            response = client.post(
                f"/api/v1/cases/{case_id}/decision",
                json.dumps(
                    {
                        "outcome": "violation",
                        "policy_section": "SPAM-1.1",
                        "rationale": "Bench: commercial spam",
                        "version": versions[case_id],
                        "actions": [{"type": "remove_content"}],
                    }
                ),
                content_type="application/json",
            )
            assert response.status_code == 201, response.content[:300]
        api_seconds = time.perf_counter() - started

        section = PolicySection.objects.get(code="SPAM-1.1", superseded_at__isnull=True)
        raw = psycopg2.connect(**connection.get_connection_params())
        started = time.perf_counter()
        for case_id in raw_ids:
            with raw, raw.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO enforcement_decision (case_id, decided_by_id, outcome, "
                    "policy_section_id, rationale, statement_of_reasons, recommended_action, "
                    "strikes_before, automated, created_at) VALUES (%s, %s, 'violation', %s, "
                    "'Bench: commercial spam', 'statement', '', 0, false, now()) RETURNING id",
                    [case_id, analyst.pk, section.pk],
                )
                decision_id = cursor.fetchone()[0]
                cursor.execute(
                    "INSERT INTO enforcement_enforcementaction (created_at, updated_at, "
                    "decision_id, case_id, subject_id, action_type, feature, status, "
                    "proposed_by_id, starts_at, decided_at, rejection_reason, reversal_reason, "
                    "version) SELECT now(), now(), %s, c.id, c.subject_id, 'remove_content', '', "
                    "'active', %s, now(), now(), '', '', 1 FROM cases_case c WHERE c.id = %s",
                    [decision_id, analyst.pk, case_id],
                )
                cursor.execute(
                    "UPDATE cases_case SET status = 'resolved', resolved_at = now(), "
                    "version = version + 1 WHERE id = %s",
                    [case_id],
                )
        raw_seconds = time.perf_counter() - started
        raw.close()
        api_rate, raw_rate = n / api_seconds, n / raw_seconds
        _log(f"  decisions: API {api_rate:,.1f}/s, raw SQL {raw_rate:,.1f}/s")
        return {"api_per_s": api_rate, "raw_per_s": raw_rate, "ratio": api_rate / raw_rate}

    # --- the run --------------------------------------------------------------------------

    def run(self) -> dict:
        from bench.load import load_cases

        parts = set(self.args.only.split(","))
        self.setup()
        loaded = self._loaded_cases()
        _log(f"loading {self.args.small:,} cases…")
        if loaded < self.args.small:
            load_cases(loaded, self.args.small)
        small = self.measure_pages(f"{self.args.small:,} cases") if "pages" in parts else {}
        rollups_small: dict = {}
        if "rollups" in parts:
            from bench import rollups as rollup_bench

            _log("rollups at the small size…")
            rollups_small = rollup_bench.measure_small(self)
        _log(f"growing to {self.args.cases:,} cases…")
        if loaded < self.args.cases:
            load_cases(max(loaded, self.args.small), self.args.cases)
        large = self.measure_pages(f"{self.args.cases:,} cases") if "pages" in parts else {}
        _log("ingestion…")
        ingestion = self.measure_ingestion() if "ingestion" in parts else None
        _log("claiming…")
        claims = self.measure_claim_counts() if "claim" in parts else None
        decisions = outbox = None
        if "decisions" in parts:
            _log("decisions…")
            decisions = self.measure_decisions()
        if "outbox" in parts:
            from bench.outbox import measure_outbox

            _log("outbox delivery…")
            # The dispatcher as it runs: its default concurrency (WEBHOOK_SEND_CONCURRENCY).
            outbox = measure_outbox(self.args.outbox_events)
            _log(
                f"  outbox: {outbox['tsops_per_s']:,.0f}/s vs raw {outbox['raw_per_s']:,.0f}/s, "
                f"keep-alive loop {outbox['keepalive_per_s']:,.0f}/s"
            )
        rollup_figures = None
        if "rollups" in parts:
            rollup_figures = rollup_bench.measure_large(self, rollups_small)
        return {
            "rollups": rollup_figures,
            "decisions": decisions,
            "outbox": outbox,
            "cases": self.args.cases,
            "small": self.args.small,
            "ingestion": ingestion,
            "claim": claims,
            "pages": {
                name: {
                    "small_p95_ms": small[name]["p95_ms"],
                    "large_p95_ms": large[name]["p95_ms"],
                    "small_queries": small[name]["queries"],
                    "large_queries": large[name]["queries"],
                    "ratio": large[name]["p95_ms"] / small[name]["p95_ms"],
                }
                for name in ("queue_page", "case_page")
                if name in small
            },
        }


def report(figures: dict) -> str:
    lines = [
        f"TSOps benchmark — {figures['cases']:,} cases (pages compared with {figures['small']:,})",
        "",
        f"{'figure':<34}{'TSOps':>14}{'raw baseline':>16}{'ratio':>9}{'target':>10}  ok",
    ]
    if figures.get("ingestion"):
        ing = figures["ingestion"]
        lines.append(
            f"{'ingestion, reports/s (bulk 500)':<34}{ing['api_per_s']:>14,.0f}"
            f"{ing['raw_per_s']:>16,.0f}{ing['ratio']:>9.2f}{'>= 0.25':>10}  "
            f"{'yes' if ing['ratio'] >= 0.25 else 'NO'}"
        )
    if figures.get("claim"):
        claim = figures["claim"]
        lines.append(
            f"{'claim p95 ms, 16 claimers':<34}{claim['api_p95_ms']:>14.1f}"
            f"{claim['raw_p95_ms']:>16.1f}{claim['ratio']:>9.2f}{'<= 3.0':>10}  "
            f"{'yes' if claim['ratio'] <= 3 else 'NO'}"
        )
        by_count = sorted((claim.get("by_claimers") or {}).items(), key=lambda i: int(i[0]))
        for count, by in by_count:
            if int(count) != 16:
                lines.append(
                    f"{f'  the same, {count} claimer' + ('s' if int(count) > 1 else ''):<34}"
                    f"{by['api_p95_ms']:>14.1f}{by['raw_p95_ms']:>16.1f}{by['ratio']:>9.2f}"
                    f"{'(report)':>10}"
                )
        # The request's own time in the server (Server-Timing) against the bare statement: the
        # rest of the API's p95 is waiting for a core.
        for count, by in by_count:
            if "server_p95_ms" in by:
                label = f"  in the server, {count} claimer" + ("s" if int(count) > 1 else "")
                lines.append(
                    f"{label:<34}{by['server_p95_ms']:>14.1f}{by['raw_p95_ms']:>16.1f}"
                    f"{by['server_p95_ms'] / by['raw_p95_ms']:>9.2f}{'(report)':>10}"
                    f"  (median {by['server_median_ms']:.1f} ms, database "
                    f"{by['server_db_median_ms']:.1f} ms)"
                )
    if figures.get("decisions"):
        dec = figures["decisions"]
        lines.append(
            f"{'decisions/s through the API':<34}{dec['api_per_s']:>14,.1f}"
            f"{dec['raw_per_s']:>16,.1f}{dec['ratio']:>9.2f}{'>= 0.1':>10}  "
            f"{'yes' if dec['ratio'] >= 0.1 else 'NO'}"
        )
    if figures.get("outbox"):
        out = figures["outbox"]
        label = f"outbox deliveries/s ({out['concurrency']} at once)"
        lines.append(
            f"{label:<34}{out['tsops_per_s']:>14,.0f}"
            f"{out['raw_per_s']:>16,.0f}{out['ratio']:>9.2f}{'>= 0.7':>10}  "
            f"{'yes' if out['ratio'] >= 0.7 else 'NO'}"
        )
        if "keepalive_per_s" in out:
            lines.append(
                f"{'  vs a keep-alive loop':<34}{out['tsops_per_s']:>14,.0f}"
                f"{out['keepalive_per_s']:>16,.0f}{out['keepalive_ratio']:>9.2f}{'(report)':>10}"
            )
    from bench.rollups import report_lines

    lines += report_lines(figures.get("rollups"))
    for name, page in figures["pages"].items():
        same = page["small_queries"] == page["large_queries"]
        ok = page["ratio"] <= 1.2 and same
        lines.append(
            f"{name.replace('_', ' ') + ' p95 ms, large vs small':<34}"
            f"{page['large_p95_ms']:>14.1f}{page['small_p95_ms']:>16.1f}{page['ratio']:>9.2f}"
            f"{'<= 1.2':>10}  {'yes' if ok else 'NO'}"
            f"  (queries {page['large_queries']} vs {page['small_queries']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000, help="large size (default 1M)")
    parser.add_argument("--small", type=int, default=10_000, help="small size (default 10k)")
    parser.add_argument("--samples", type=int, default=60, help="page requests per measurement")
    parser.add_argument("--batch", type=int, default=500, help="reports per bulk request")
    parser.add_argument("--ingest-batches", type=int, default=20)
    parser.add_argument("--claims-per-thread", type=int, default=30)
    parser.add_argument("--database", default="tsops_bench", help="scratch database name")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the scratch database of an earlier run and load only the cases it lacks "
        "(quicker; figures of parts that change data, e.g. rollups, are then not comparable)",
    )
    parser.add_argument(
        "--only",
        default="pages,ingestion,claim,decisions,outbox,rollups",
        help="comma-separated parts to measure",
    )
    parser.add_argument("--decisions", type=int, default=300, help="decisions to time")
    parser.add_argument(
        "--web-workers", type=int, default=4, help="gunicorn worker processes of the claim part"
    )
    parser.add_argument(
        "--web-threads", type=int, default=4, help="threads per gunicorn worker (claim part)"
    )
    parser.add_argument("--outbox-events", type=int, default=2000)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = _scratch_database(args.database, reuse=args.reuse)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    os.environ.setdefault("API_THROTTLE_USER", "100000000/min")
    import django

    django.setup()
    figures = Bench(args).run()
    text = report(figures)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(figures, indent=2))
    (RESULTS / "latest.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
