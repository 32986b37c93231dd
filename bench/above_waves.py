"""Benchmark of wave enforcement (issue 16): a wave of N accounts through ``wave_run`` against
raw set-based SQL writing the same rows (decisions with their statements, actions and their
history, strikes, timeline events, case status and history, outbox events), on the same
kind of data in the same run. Target: wave actions/s at least 0.25 of the raw SQL's.

``measure(database_url, args)`` expects Django set up on ``database_url`` (``bench.above``
does it; run alone, it sets Django up and migrates). ``args.wave_size`` sets N (10,000).
"""

from __future__ import annotations

import os
import sys
import time

SECTION = "SPAM-1.2"
HOURS = 24


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


def _seed(platform, prefix: str, size: int) -> list[int]:
    """``size`` accounts, each with one open spam case opened through intake."""
    from cases.intake import report_submit_batch
    from cases.models import Subject

    for start in range(0, size, 1000):
        items = [
            {
                "source": "user_report",
                "external_id": f"{prefix}-r-{i}",
                "reason": "spam",
                "description": "Follow-for-follow giveaway",
                "reporter_id": f"{prefix}-reporter-{i}",
                "subject": {"kind": "account", "external_id": f"{prefix}-{i}"},
            }
            for i in range(start, min(size, start + 1000))
        ]
        report_submit_batch(actor=platform, items=items)
    return list(
        Subject.objects.filter(kind="account", external_id__startswith=f"{prefix}-").values_list(
            "pk", flat=True
        )
    )


def _wave(senior, subject_ids: list[int]) -> tuple[float, int, int]:
    """Seconds for ``wave_run`` of a wave on these accounts, the members done, and the
    process's peak memory growth during the run (KiB)."""
    from investigations.models import Cluster, ClusterMember, Wave
    from investigations.services import waves

    cluster = Cluster.objects.create(name="bench ring", origin=Cluster.Origin.MANUAL)
    ClusterMember.objects.bulk_create(
        [ClusterMember(cluster=cluster, subject_id=s, role="account") for s in subject_ids],
        batch_size=5000,
    )
    started = time.perf_counter()
    previewed = waves.wave_preview(
        actor=senior,
        cluster_id=cluster.pk,
        policy_section=SECTION,
        account_action="suspend",
        duration_hours=HOURS,
    )
    preview_seconds = time.perf_counter() - started
    assert previewed.counts["members"] == len(subject_ids)
    wave = waves.wave_submit(
        actor=senior,
        cluster_id=cluster.pk,
        policy_section=SECTION,
        rationale="Benchmark ring.",
        account_action="suspend",
        duration_hours=HOURS,
    )
    job_id = Wave.objects.get(pk=wave.pk).job_id
    measured = _run_job_in_worker(job_id)
    measured["preview_seconds"] = preview_seconds
    done = wave.members.filter(state="done").count()
    return measured["seconds"], done, measured


JOB_RUNNER = """
import json, resource, sys, time
import django
django.setup()
from investigations.services.waves import wave_run
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
wave_run(job_id=int(sys.argv[1]))
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rss_before_kib": before, "rss_peak_kib": peak}))
"""


def _run_job_in_worker(job_id: int) -> dict:
    """Run the wave's job in a process of its own, as a worker would, so that its peak
    memory is the job's (ru_maxrss of that process, before and after the run)."""
    import json
    import subprocess
    from pathlib import Path

    from django.conf import settings

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tsops.settings"),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or _url_of(settings.DATABASES["default"]),
        "PYTHONPATH": str(root),
    }
    out = subprocess.run(
        [sys.executable, "-c", JOB_RUNNER, str(job_id)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _url_of(config: dict) -> str:
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST']}:{config['PORT']}/{config['NAME']}"


RAW_STATEMENTS = [
    # Decisions (with the statement of reasons), one per case.
    """INSERT INTO enforcement_decision (case_id, decided_by_id, outcome, policy_section_id,
        rationale, statement_of_reasons, recommended_action, followed_recommendation,
        strikes_before, automated, created_at)
    SELECT c.id, %(actor)s, 'violation', %(section)s, 'Benchmark ring.', %(statement)s,
        'suspend 24h', true, 0, false, %(now)s
    FROM cases_case c WHERE c.id = ANY(%(cases)s)""",
    """INSERT INTO enforcement_enforcementaction (created_at, updated_at, decision_id, case_id,
        subject_id, action_type, feature, duration_hours, status, proposed_by_id, decided_at,
        rejection_reason, starts_at, expires_at, reversal_reason, version)
    SELECT %(now)s, %(now)s, d.id, d.case_id, c.subject_id, 'suspend', '', %(hours)s, 'active',
        %(actor)s, %(now)s, '', %(now)s, %(now)s + interval '24 hours', '', 1
    FROM enforcement_decision d JOIN cases_case c ON c.id = d.case_id
    WHERE d.case_id = ANY(%(cases)s)""",
    """INSERT INTO enforcement_strike (created_at, updated_at, account_id, decision_id, points,
        expires_at)
    SELECT %(now)s, %(now)s, c.subject_id, d.id, 2, %(now)s + interval '90 days'
    FROM enforcement_decision d JOIN cases_case c ON c.id = d.case_id
    WHERE d.case_id = ANY(%(cases)s)""",
    """INSERT INTO cases_caseevent (case_id, kind, actor_id, at, data)
    SELECT d.case_id, 'DECISION_MADE', %(actor)s, %(now)s,
        jsonb_build_object('decision_id', d.id, 'outcome', 'violation')
    FROM enforcement_decision d WHERE d.case_id = ANY(%(cases)s)
    UNION ALL
    SELECT a.case_id, 'ACTION_APPLIED', %(actor)s, %(now)s,
        jsonb_build_object('action_id', a.id, 'type', a.action_type)
    FROM enforcement_enforcementaction a WHERE a.case_id = ANY(%(cases)s)
    UNION ALL
    SELECT d.case_id, 'CASE_RESOLVED', %(actor)s, %(now)s,
        jsonb_build_object('decision_id', d.id)
    FROM enforcement_decision d WHERE d.case_id = ANY(%(cases)s)""",
    """UPDATE cases_case SET status = 'resolved', claimed_by_id = NULL, claimed_at = NULL,
        lease_expires_at = NULL, first_action_at = COALESCE(first_action_at, %(now)s),
        resolved_at = %(now)s, version = version + 1, updated_at = %(now)s
    WHERE id = ANY(%(cases)s)""",
    """INSERT INTO enforcement_outboxevent (id, event_type, payload, created_at)
    SELECT gen_random_uuid(), 'action.applied', jsonb_build_object('action_id', a.id,
        'case_id', a.case_id, 'decision_id', a.decision_id, 'type', a.action_type,
        'status', a.status, 'duration_hours', a.duration_hours,
        'statement_of_reasons', %(statement)s), %(now)s
    FROM enforcement_enforcementaction a WHERE a.case_id = ANY(%(cases)s)
    UNION ALL
    SELECT gen_random_uuid(), 'decision.made', jsonb_build_object('decision_id', d.id,
        'case_id', d.case_id, 'outcome', d.outcome,
        'statement_of_reasons', d.statement_of_reasons), %(now)s
    FROM enforcement_decision d WHERE d.case_id = ANY(%(cases)s)
    UNION ALL
    SELECT gen_random_uuid(), 'report.outcome', jsonb_build_object('report_id', r.id,
        'case_id', r.case_id, 'source', r.source, 'external_id', r.external_id), %(now)s
    FROM cases_report r WHERE r.case_id = ANY(%(cases)s)""",
]


def _raw(actor, subject_ids: list[int]) -> float:
    """Seconds for the same rows written by raw set-based SQL in one transaction, history
    rows included (one INSERT … SELECT per table)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from cases.models import Case
    from enforcement.models import EnforcementAction, PolicySection
    from tsops.history import history_snapshot

    section = PolicySection.objects.get(code=SECTION, superseded_at__isnull=True)
    cases = list(
        Case.objects.filter(subject_id__in=subject_ids)
        .exclude(status="resolved")
        .values_list("pk", flat=True)
    )
    params = {
        "actor": actor.pk,
        "section": section.pk,
        "statement": section.public_summary,
        "now": timezone.now(),
        "hours": HOURS,
        "cases": cases,
    }
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in RAW_STATEMENTS:
            cursor.execute(sql, params)
        actions = list(
            EnforcementAction.objects.filter(case_id__in=cases).values_list("pk", flat=True)
        )
        history_snapshot(EnforcementAction, actions, history_type="+", actor=actor)
        history_snapshot(Case, cases, history_type="~", actor=actor, reason="raw")
    return time.perf_counter() - started


def measure(database_url: str, args) -> dict:
    """Wave actions/s vs raw SQL's on ``args.wave_size`` accounts each; the job's peak memory."""
    _setup(database_url)
    from tsops.services import member_create_or_update

    size = int(getattr(args, "wave_size", None) or 10_000)
    platform = member_create_or_update(username="bench-wave-platform", role="platform")
    senior = member_create_or_update(username="bench-wave-senior", role="senior")
    _log(f"waves: seeding 2 x {size} accounts with open cases…")
    wave_accounts = _seed(platform, "wave-acct", size)
    raw_accounts = _seed(platform, "raw-acct", size)
    _log("waves: running the wave…")
    wave_seconds, done, job = _wave(senior, wave_accounts)
    _log("waves: raw set-based SQL…")
    raw_seconds = _raw(senior, raw_accounts)
    wave_rate = done / wave_seconds
    raw_rate = size / raw_seconds
    figures = {
        "wave_size": size,
        "wave_members_done": done,
        "wave_seconds": round(wave_seconds, 2),
        "wave_actions_per_s": round(wave_rate, 1),
        "raw_seconds": round(raw_seconds, 2),
        "raw_actions_per_s": round(raw_rate, 1),
        "ratio": round(wave_rate / raw_rate, 3),
        "target_ratio": 0.25,
        # The job ran in a worker process of its own: its peak RSS, and how much the run
        # added to what the process held once Django was loaded.
        "preview_seconds": round(job["preview_seconds"], 2),
        "job_peak_rss_mib": round(job["rss_peak_kib"] / 1024, 1),
        "job_peak_growth_mib": round((job["rss_peak_kib"] - job["rss_before_kib"]) / 1024, 1),
    }
    _log(f"waves: {figures}")
    return figures


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wave-size", type=int, default=10_000)
    parser.add_argument("--database", default="tsops_bench_waves")
    options = parser.parse_args()
    from bench.__main__ import _scratch_database

    url = _scratch_database(options.database)
    print(json.dumps(measure(url, options), indent=2))
