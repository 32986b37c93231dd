"""Set-up for the reliability scenarios, run with Django against ``DATABASE_URL``:
``python -m bench.reliability.seed < ops.json``; prints a JSON list of results (one per
operation) as its last line.

Data goes in through the services (members, keys, intake, decisions) except where only
volume matters (the claim queue: set-based SQL, like ``bench/load.py``).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta


def members(op: dict) -> dict:
    from tsops import roles
    from tsops.services import api_key_create, member_create_or_update

    def make(username, role):
        user = member_create_or_update(username=username, role=role, validate=False)
        _, key = api_key_create(user=user, name="reliability", scopes=list(roles.SCOPES))
        return {"id": user.pk, "username": username, "key": key}

    return {
        "analysts": [make(f"rel-analyst-{i}", roles.ANALYST) for i in range(op.get("analysts", 0))],
        "seniors": [make(f"rel-senior-{i}", roles.SENIOR) for i in range(op.get("seniors", 0))],
        "platform": make("rel-platform", roles.PLATFORM) if op.get("platform") else None,
    }


def claim_queue(op: dict) -> dict:
    """``cases`` new cases in queue ``queue``, each with its subject, one report and its
    CASE_CREATED event (set-based, 50,000 at a time)."""
    from django.db import connection

    total, prefix = op["cases"], op.get("prefix", "claim")
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM cases_queue WHERE slug = %s", [op.get("queue", "general")])
        queue_id = cursor.fetchone()[0]
    began = time.monotonic()
    for low in range(0, total, 50_000):
        high = min(low + 50_000, total)
        names = {"prefix": prefix, "low": low, "high": high, "queue": queue_id}
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, "
                "snapshot_media, created_at, updated_at) SELECT 'content', "
                "%(prefix)s || '-post-' || g, 'claim storm subject ' || g, '', '[]'::jsonb, "
                "now(), now() FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g",
                names,
            )
            cursor.execute(
                "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, "
                "restricted, team, tags, report_count, automated_count, human_count, "
                "first_action_due, resolve_due, reopen_count, version, priority, created_at, "
                "updated_at, search_document) "
                "SELECT s.id, 'new', 1 + g %% 3, %(queue)s, 'spam', false, '', '{}', 1, 0, 1, "
                "now() + interval '1 day', now() + interval '3 days', 0, 1, 0, "
                "now() - (g %% 600) * interval '1 minute', now(), "
                "to_tsvector('english', s.snapshot_text) "
                "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g "
                "JOIN cases_subject s ON s.kind = 'content' "
                "AND s.external_id = %(prefix)s || '-post-' || g",
                names,
            )
            # The chunk's cases, found through the subjects' unique index.
            chunk = (
                "FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) g "
                "JOIN cases_subject s ON s.kind = 'content' "
                "AND s.external_id = %(prefix)s || '-post-' || g "
                "JOIN cases_case c ON c.subject_id = s.id"
            )
            cursor.execute(
                "INSERT INTO cases_report (source, external_id, case_id, subject_id, reason, "
                "description, reporter_hash, detector, score, received_at, created_at, "
                "updated_at) SELECT 'user_report', %(prefix)s || '-r-' || c.id, c.id, "
                "c.subject_id, 'spam', 'claim storm report', '', '', NULL, c.created_at, "
                f"c.created_at, c.created_at {chunk}",
                names,
            )
            cursor.execute(
                "INSERT INTO cases_caseevent (case_id, kind, at, data) "
                f"SELECT c.id, 'CASE_CREATED', c.created_at, '{{}}'::jsonb {chunk}",
                names,
            )
        print(f"  claim queue: {high:,}/{total:,} cases", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"cases": total, "seconds": round(time.monotonic() - began, 1)}


def intake(op: dict) -> dict:
    """``reports`` reports over ``subjects`` subjects through the intake service (batches of
    1,000, as the platform member)."""
    from django.contrib.auth import get_user_model

    from bench.reliability.clients import report_payload
    from cases.intake import report_submit_batch

    platform = get_user_model().objects.get(username="rel-platform")
    total, subjects, prefix = op["reports"], op["subjects"], op["prefix"]
    start = op.get("start", 0)
    for low in range(start, start + total, 1000):
        items = [
            report_payload(n, subjects=subjects, prefix=prefix)
            for n in range(low, min(low + 1000, start + total))
        ]
        results = report_submit_batch(actor=platform, items=items)
        bad = [r for r in results if r.status not in (200, 201)]
        if bad:
            raise RuntimeError(f"intake refused reports: {bad[:3]}")
    return {"reports": total}


def open_cases(op: dict) -> list:
    """[[case id, version], …] of new cases whose subject id starts with ``prefix``."""
    from cases.models import Case

    cases = (
        Case.objects.filter(status="new", subject__external_id__startswith=op["prefix"] + "-")
        .order_by("id")
        .values_list("id", "version")
    )
    if op.get("limit"):
        cases = cases[: op["limit"]]
    return [list(row) for row in cases]


def endpoint(op: dict) -> int:
    from enforcement.models import OutboxEvent, WebhookEndpoint

    return WebhookEndpoint.objects.create(
        name=op.get("name", "reliability"),
        url=op["url"],
        secret=op["secret"],
        event_types=list(op.get("event_types") or OutboxEvent.TYPES),
    ).pk


def decide_temporary(op: dict) -> list[int]:
    """A senior suspends the owners of ``count`` open cases of ``prefix`` for ``hours``;
    returns the actions' ids."""
    from django.contrib.auth import get_user_model

    from cases.models import Case
    from enforcement.services import decision_make

    senior = get_user_model().objects.get(username="rel-senior-0")
    cases = (
        Case.objects.filter(
            status="new",
            subject__external_id__startswith=op["prefix"] + "-",
            subject__owner__isnull=False,
        )
        .order_by("id")
        .values_list("id", "version")[: op["count"]]
    )
    action_ids = []
    for case_id, version in cases:
        decision = decision_make(
            actor=senior,
            case_id=case_id,
            outcome="violation",
            policy_section="SPAM-1.1",
            rationale="Reliability harness: temporary suspension",
            actions=[{"type": "suspend", "duration_hours": op.get("hours", 24)}],
            version=version,
        )
        action_ids.extend(decision.actions.values_list("id", flat=True))
    return action_ids


def rollup_rebuild(op: dict) -> int:
    from django.utils import timezone

    from metrics.rollups import rebuild_range

    today = timezone.localdate()
    return rebuild_range(today - timedelta(days=op.get("days", 0)), today)


def rollup_incremental(op: dict) -> dict:
    from metrics.rollups import rollup_incremental as run

    result = run()
    return {"ran": result.ran}


def rollup_watermark(op: dict) -> None:
    """Put the incremental run's watermark ``days`` back, so that its next run redoes them."""
    from django.utils import timezone

    from metrics.models import RollupState
    from metrics.rollups import INCREMENTAL

    moment = timezone.now() - timedelta(days=op["days"])
    RollupState.objects.update_or_create(
        name=INCREMENTAL, defaults={"watermark": moment, "last_run_at": moment}
    )


def rollup_tables(op: dict) -> list[str]:
    """The rollup tables every fact writes (slices and daily totals)."""
    import dataclasses

    from metrics.rollups import FACTS

    tables = []
    for fact in FACTS:
        for item in dataclasses.fields(fact):
            value = getattr(fact, item.name)
            if isinstance(value, str) and value.startswith("metrics_"):
                tables.append(value)
    return tables


def expire_leases(op: dict) -> int:
    from cases.services import case_expire_leases

    return case_expire_leases()


OPS = {
    "members": members,
    "claim_queue": claim_queue,
    "intake": intake,
    "open_cases": open_cases,
    "endpoint": endpoint,
    "decide_temporary": decide_temporary,
    "rollup_rebuild": rollup_rebuild,
    "rollup_incremental": rollup_incremental,
    "rollup_watermark": rollup_watermark,
    "rollup_tables": rollup_tables,
    "expire_leases": expire_leases,
}


def main() -> int:
    import django

    django.setup()
    ops = json.loads(sys.stdin.read())
    results = [OPS[op["op"]](op) for op in ops]
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
