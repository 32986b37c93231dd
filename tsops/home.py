"""The sections of each role's home page.

Each section is a small dict for ``templates/tsops/home.html``. Apps contribute
their sections through :data:`SECTION_PROVIDERS` (a provider returns ``None``
when the section does not apply to the user).
"""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse
from django.utils import timezone

from tsops.permissions import has_capability

SectionProvider = Callable[[object], dict | None]
CLAIMED_SHOWN = 10
ESCALATIONS_SHOWN = 10
SECTION_PROVIDERS: list[SectionProvider] = []


def register(provider: SectionProvider) -> SectionProvider:
    SECTION_PROVIDERS.append(provider)
    return provider


@register
def _queues(user) -> dict | None:
    if not has_capability(user, "work_standard_queues"):
        return None
    try:
        from cases.selectors import queue_summaries
    except ImportError:
        queues = []
    else:
        queues = queue_summaries(actor=user)
    return {"kind": "queues", "title": "Your queues", "queues": queues}


@register
def _claimed(user) -> dict | None:
    """The cases the member is working now, so they pick up where they left off."""
    if not has_capability(user, "work_standard_queues"):
        return None
    from cases.presentation import mark_deadlines
    from cases.selectors import case_claimed_list

    cases = case_claimed_list(actor=user, limit=CLAIMED_SHOWN)
    mark_deadlines(cases, timezone.now())
    return {"kind": "claimed", "title": "Cases you are working on", "cases": cases}


@register
def _team_inbox(user) -> dict | None:
    """A specialist's team's open escalations, most urgent first."""
    if not has_capability(user, "work_team_cases"):
        return None
    from escalations.models import Escalation
    from escalations.selectors import escalation_list
    from tsops.permissions import teams_of
    from tsops.presentation import relative_text

    now = timezone.now()
    escalations = list(
        escalation_list(actor=user)
        .filter(team__slug__in=teams_of(user), status__in=Escalation.ACTIVE_STATUSES)
        .order_by("severity", "ack_due", "pk")[: ESCALATIONS_SHOWN + 1]
    )
    for escalation in escalations:
        escalation.overdue = escalation.is_overdue(now)
        escalation.ack_text = relative_text(escalation.ack_due, now)
    return {
        "kind": "team",
        "title": "Your team's open escalations",
        "escalations": escalations[:ESCALATIONS_SHOWN],
        "more": len(escalations) > ESCALATIONS_SHOWN,
        "inbox": reverse("escalations:team-inbox-list"),
    }


@register
def _lead(user) -> dict | None:
    if not has_capability(user, "run_qa"):
        return None
    return {"kind": "lead", "title": "Quality and metrics"}


@register
def _lookup(user) -> dict | None:
    if not has_capability(user, "lookup_enforcement") or has_capability(
        user, "work_standard_queues"
    ):
        return None
    return {
        "kind": "lookup",
        "title": "Enforcement lookup",
        "action": reverse("enforcement:lookup"),
    }


NOTIFICATIONS_SHOWN = 10


@register
def _notifications(user) -> dict | None:
    """The member's unread in-app notifications (e.g. an appeal overturned their decision)."""
    from tsops.models import Notification

    unread = Notification.objects.filter(user=user, read_at__isnull=True).order_by(
        "-created_at", "-id"
    )
    shown = list(unread[: NOTIFICATIONS_SHOWN + 1])
    if not shown:
        return None
    return {
        "kind": "notifications",
        "title": "Notifications",
        "notifications": shown[:NOTIFICATIONS_SHOWN],
        "more": len(shown) > NOTIFICATIONS_SHOWN,
    }


def sections_for(user) -> list[dict]:
    return [section for provider in SECTION_PROVIDERS if (section := provider(user)) is not None]
