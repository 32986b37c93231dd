"""Demo exposure: two graphic queues with budgets, a week of the demo reviewers' exposure,
one reviewer at today's budget (their claims from the queue are refused) and one extension a
senior granted today."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from cases.models import Queue
from tsops.demo import step
from workspace import services
from workspace.models import ExposureOverride, ExposurePolicy, ExposureTally

# queue slug: (budget minutes, budget cases, break every N minutes)
GRAPHIC_QUEUES = {"self-harm": (60, 25, 20), "threats-triage": (90, None, 30)}
# Minutes and cases per reviewer and queue, today first, then the days before.
EXPOSURE = {
    ("analyst", "self-harm"): [(60, 14), (48, 11), (55, 12), (0, 0), (31, 8), (59, 15), (40, 9)],
    ("analyst2", "self-harm"): [(38, 9), (61, 16), (22, 5), (44, 10), (0, 0), (35, 7), (50, 13)],
    ("analyst3", "self-harm"): [(22, 6), (18, 4), (25, 7), (12, 3), (20, 5), (0, 0), (0, 0)],
    ("analyst", "threats-triage"): [(12, 4), (30, 9), (0, 0), (45, 12), (20, 6), (0, 0), (8, 2)],
    ("analyst3", "threats-triage"): [(41, 10), (0, 0), (66, 15), (0, 0), (0, 0), (0, 0), (0, 0)],
}


@step("exposure")
def seed_exposure(*, stdout, scale: float) -> None:
    users = {u.username: u for u in get_user_model().objects.all()}
    queues = {q.slug: q for q in Queue.objects.filter(slug__in=GRAPHIC_QUEUES)}
    for slug, (minutes, cases, every) in GRAPHIC_QUEUES.items():
        ExposurePolicy.objects.update_or_create(
            queue=queues[slug],
            defaults={
                "graphic": True,
                "daily_budget_minutes": minutes,
                "daily_budget_cases": cases,
                "break_every_minutes": every,
            },
        )
    today = timezone.localdate()
    for (username, slug), days in EXPOSURE.items():
        for back, (minutes, opened) in enumerate(days):
            if minutes == 0:
                continue
            ExposureTally.objects.update_or_create(
                user=users[username],
                queue=queues[slug],
                day=today - timedelta(days=back),
                defaults={"seconds": minutes * 60, "cases_opened": opened},
            )
    reviewer, queue = users["analyst2"], queues["self-harm"]
    if not ExposureOverride.objects.filter(reviewer=reviewer, queue=queue, day=today).exists():
        services.exposure_override_grant(
            actor=users["senior"],
            reviewer=reviewer,
            queue=queue,
            extra_minutes=15,
            extra_cases=0,
            reason="Finishing the P0 self-harm escalation handed over this morning",
        )
    stdout.write(
        "  self-harm and threats-triage are graphic; analyst has reached today's "
        "self-harm budget (see /workspace/exposure/ as senior)\n"
    )
