"""Fast set-based loading of many cases into the scratch database (for benchmarks only)."""

from __future__ import annotations

import sys
import time

from django.db import connection

CHUNK = 50_000


def load_cases(start: int, stop: int, *, open_share: float = 0.3) -> None:
    """Add cases numbered [start, stop): subject, one report, a CASE_CREATED event each.

    About ``open_share`` of them are open (new); the rest are resolved, as in a real
    operation where most of the table is history.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM cases_queue WHERE team = ''")
        queues = cursor.fetchone()[0]
        cursor.execute(
            "SELECT array_agg(code ORDER BY code) FROM cases_reportreason WHERE NOT restricted"
        )
        reasons = cursor.fetchone()[0]
    total = stop - start
    began = time.monotonic()
    for low in range(start, stop, CHUNK):
        high = min(low + CHUNK, stop)
        with connection.cursor() as cursor:
            # The chunk's cases are those above the highest id before it (one writer), so the
            # reports and events below read them by primary key, whatever the table's size.
            cursor.execute("SELECT coalesce(max(id), 0) FROM cases_case")
            before = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, "
                "snapshot_media, created_at, updated_at) "
                "SELECT 'content', 'bench-post-' || g, 'bench content number ' || g || "
                "' about watches crypto and giveaways', '', '[]'::jsonb, now(), now() "
                "FROM generate_series(%s::bigint, %s::bigint - 1) g",
                [low, high],
            )
            cursor.execute(
                "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, "
                "restricted, team, tags, report_count, automated_count, human_count, "
                "first_action_due, resolve_due, reopen_count, version, created_at, updated_at, "
                "resolved_at, search_document) "
                "SELECT s.id, CASE WHEN (g * 7919) %% 1000 < %s THEN 'new' ELSE 'resolved' END, "
                "g %% 4, (%s::bigint[])[1 + g %% array_length(%s::bigint[], 1)], "
                "(%s::text[])[1 + g %% array_length(%s::text[], 1)], false, '', '{}', 1, "
                "g %% 2, 1 - g %% 2, now() - (g %% 720) * interval '1 hour' + interval '8 hours', "
                "now() - (g %% 720) * interval '1 hour' + interval '24 hours', 0, 1, "
                "now() - (g %% 720) * interval '1 hour', now(), "
                "CASE WHEN (g * 7919) %% 1000 < %s THEN NULL ELSE now() END, "
                "to_tsvector('english', s.snapshot_text) "
                "FROM generate_series(%s::bigint, %s::bigint - 1) g "
                "JOIN cases_subject s ON s.kind = 'content' AND s.external_id = 'bench-post-' || g",
                [
                    int(open_share * 1000),
                    queues,
                    queues,
                    reasons,
                    reasons,
                    int(open_share * 1000),
                    low,
                    high,
                ],
            )
            cursor.execute(
                "INSERT INTO cases_report (source, external_id, case_id, subject_id, reason, "
                "description, reporter_hash, detector, score, received_at, created_at, "
                "updated_at) "
                "SELECT CASE WHEN c.automated_count > 0 THEN 'automated_flag' ELSE 'user_report' "
                "END, 'bench-' || c.id, c.id, c.subject_id, c.reason, 'bench report', '', "
                "CASE WHEN c.automated_count > 0 THEN 'spamnet-v3' ELSE '' END, NULL, "
                "c.created_at, c.created_at, c.created_at FROM cases_case c WHERE c.id > %s",
                [before],
            )
            cursor.execute(
                "INSERT INTO cases_caseevent (case_id, kind, at, data) "
                "SELECT c.id, 'CASE_CREATED', c.created_at, '{}'::jsonb FROM cases_case c "
                "WHERE c.id > %s",
                [before],
            )
        done = high - start
        rate = done / max(time.monotonic() - began, 1e-6)
        sys.stderr.write(
            f"\r  loading cases {done:>9,}/{total:,} ({done / total:4.0%}, {rate:,.0f}/s)"
        )
        sys.stderr.flush()
    sys.stderr.write("\n")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
