"""Benchmark of the cluster job (issue 16): the incremental run after 1% new reports against a
full run (watermarks reset) over the same data, in the same run. Target: at most 10%.

The data, loaded with set-based SQL: ``args.cluster_accounts`` accounts (100,000 by default),
each owning one reported post (its own case and report) and five identifiers (device, IP,
e-mail, phone, payment). 2.5% of the accounts are in rings of five sharing a device and a
payment instrument; 1% share one popular device hash (a hub, which must link nothing);
every 500 share a carrier NAT IP (not a strong kind); 1% post copy-paste spam in groups of
ten; the other posts are random text (base64 of a hash: trigrams spread evenly, so the
trigram index's posting lists stay short, as a varied corpus's rare trigrams do). The 1% added
afterwards are new accounts whose posts are reported, some joining
existing rings and spam waves.

``measure(database_url, args)`` expects Django set up on ``database_url`` (``bench.above``
does it, after loading its own million accounts with their identifier links, which the runs
here then read too; run alone, it sets Django up and migrates).
"""

from __future__ import annotations

import os
import sys
import time

CHUNK = 50_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _setup(database_url: str) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ["DATABASE_URL"] = database_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# Each statement takes %(low)s, %(high)s (account numbers g in [low, high)) and %(base)s: the
# size of the first load, so that accounts added later join the rings and waves already there.
LOAD_STATEMENTS = [
    "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, snapshot_media, "
    "created_at, updated_at) "
    "SELECT 'account', 'bc-acct-' || g, '', '', '[]'::jsonb, now(), now() "
    "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g",
    "INSERT INTO cases_subject (kind, external_id, owner_id, snapshot_text, snapshot_url, "
    "snapshot_media, created_at, updated_at) "
    "SELECT 'content', 'bc-post-' || g, a.id, "
    "CASE WHEN g %% 100 = 7 THEN 'WIN a free gift card from ' || "
    "md5((CASE WHEN g >= %(base)s THEN (g - %(base)s) / 1000 ELSE g / 1000 END)::text) || "
    "' now, claim it before it expires! ref ' || g "
    "ELSE encode(decode(md5(g::text) || md5((g * 7)::text), 'hex'), 'base64') END, "
    "'', '[]'::jsonb, now(), now() "
    "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g "
    "JOIN cases_subject a ON a.kind = 'account' AND a.external_id = 'bc-acct-' || g",
    "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, restricted, team, "
    "tags, report_count, automated_count, human_count, first_action_due, resolve_due, "
    "reopen_count, version, created_at, updated_at, search_document) "
    "SELECT s.id, 'new', 3, %(queue)s, 'spam', false, '', '{}', 1, 0, 1, "
    "now() + interval '8 hours', now() + interval '24 hours', 0, 1, now(), now(), "
    "to_tsvector('english', s.snapshot_text) "
    "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g "
    "JOIN cases_subject s ON s.kind = 'content' AND s.external_id = 'bc-post-' || g",
    "INSERT INTO cases_report (source, external_id, case_id, subject_id, reason, description, "
    "reporter_hash, detector, score, received_at, created_at, updated_at) "
    "SELECT 'user_report', 'bc-' || g, c.id, c.subject_id, 'spam', 'bench report', '', '', "
    "NULL, now(), now(), now() "
    "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g "
    "JOIN cases_subject s ON s.kind = 'content' AND s.external_id = 'bc-post-' || g "
    "JOIN cases_case c ON c.subject_id = s.id",
    "INSERT INTO cases_identifier (account_id, kind, value_hash, masked, last_seen, created_at, "
    "updated_at) "
    "SELECT a.id, v.kind, md5(v.kind || ':' || v.value), '****' || right(v.value, 4), now(), "
    "now(), now() "
    "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g "
    "JOIN cases_subject a ON a.kind = 'account' AND a.external_id = 'bc-acct-' || g "
    "CROSS JOIN LATERAL (VALUES "
    "('device', CASE WHEN g %% 200 < 5 THEN 'ring-dev-' || "
    "(CASE WHEN g >= %(base)s THEN (g - %(base)s) / 200 ELSE g / 200 END) "
    "WHEN g %% 100 = 50 THEN 'popular-model' ELSE 'dev-' || g END), "
    "('ip', 'nat-' || g / 500), "
    "('email', 'mail-' || g), "
    "('phone', 'phone-' || g), "
    "('payment', CASE WHEN g %% 200 < 5 THEN 'ring-pay-' || "
    "(CASE WHEN g >= %(base)s THEN (g - %(base)s) / 200 ELSE g / 200 END) "
    "ELSE 'pay-' || g END)"
    ") AS v(kind, value)",
]


def load_accounts(low: int, high: int, base: int) -> None:
    """Accounts numbered [low, high) with their post, case, report and identifiers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM cases_queue WHERE slug = 'spam'")
        queue = cursor.fetchone()[0]
    for start in range(low, high, CHUNK):
        params = {"low": start, "high": min(high, start + CHUNK), "base": base, "queue": queue}
        with connection.cursor() as cursor:
            for sql in LOAD_STATEMENTS:
                cursor.execute(sql, params)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_subject, cases_case, cases_report, cases_identifier")


def _reset() -> None:
    """Forget every cluster and both watermarks (the next run is a full one)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE investigations_clustermember, investigations_cluster, "
            "investigations_historicalcluster, investigations_clusterscan CASCADE"
        )


def _run() -> tuple[float, dict]:
    from investigations.services.clusters import clusters_find

    started = time.perf_counter()
    result = clusters_find()
    return time.perf_counter() - started, result


def _table_counts() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM cases_subject WHERE kind = 'account'), "
            "(SELECT count(*) FROM cases_identifier), (SELECT count(*) FROM cases_report)"
        )
        accounts, identifiers, reports = cursor.fetchone()
    return {"accounts": accounts, "identifier_rows": identifiers, "reports": reports}


def _counts() -> dict:
    from investigations.models import Cluster

    return {
        origin: Cluster.objects.filter(origin=origin).count()
        for origin in ("identifiers", "content")
    }


def measure(database_url: str, args) -> dict:
    """Incremental run after 1% new reports vs a full run over the same data."""
    _setup(database_url)
    base = int(getattr(args, "cluster_accounts", None) or 100_000)
    _log(f"clusters: loading {base:,} accounts (5 identifiers, 1 reported post each)…")
    started = time.perf_counter()
    load_accounts(0, base, base)
    _log(f"clusters: loaded in {time.perf_counter() - started:.0f} s; first full run…")
    first_seconds, first = _run()
    before = _counts()
    # 1% of the reports in the database (with bench.above, its accounts' reports count too).
    added = max(1, _table_counts()["reports"] // 100)
    _log(f"clusters: {added:,} new accounts with reported posts (1% new reports)…")
    load_accounts(base, base + added, base)
    incremental_seconds, incremental = _run()
    after = _counts()
    _log("clusters: full run over the same data (watermarks reset)…")
    _reset()
    full_seconds, full = _run()
    figures = {
        **_table_counts(),
        "new_reports": added,
        "first_run_seconds": round(first_seconds, 2),
        "clusters_after_first_run": before,
        "incremental_seconds": round(incremental_seconds, 3),
        "incremental_rows_read": {
            "identifiers": incremental["identifiers"]["rows_read"],
            "reports_seeded": incremental["content"]["seeds"],
        },
        "incremental_created_grown": {
            name: [incremental[name]["created"], incremental[name]["grown"]]
            for name in ("identifiers", "content")
        },
        "clusters_after_incremental": after,
        "incremental_seconds_by_detector": {
            name: incremental[name]["seconds"] for name in ("identifiers", "content")
        },
        "full_seconds": round(full_seconds, 2),
        "full_seconds_by_detector": {
            name: full[name]["seconds"] for name in ("identifiers", "content")
        },
        "clusters_after_full": _counts(),
        "full_groups": {name: full[name]["groups"] for name in ("identifiers", "content")},
        "ratio": round(incremental_seconds / full_seconds, 4),
        "target_ratio": 0.10,
    }
    _log(f"clusters: {figures}")
    return figures


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cluster-accounts", type=int, default=100_000)
    parser.add_argument("--database", default="tsops_bench_clusters")
    options = parser.parse_args()
    from bench.__main__ import _scratch_database

    url = _scratch_database(options.database)
    print(json.dumps(measure(url, options), indent=2))
