"""Whether an enforcement action may still be appealed, and until when.

The one rule behind filing an appeal (``appeals.services.appeal_file``), the appeal form's
warning, the support lookup and its API, and the sentence the statement of reasons tells the
user. An action may be appealed while it is applied (active, or expired after running its
course), until ``APPEAL_WINDOW_DAYS`` after it took effect, and while no appeal on it is
still open; once an appeal is decided, another may be filed within the window.

Open appeals are found through the action's reverse relation ``appeals``: the appeals app
builds on enforcement, so enforcement never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from enforcement.models import EnforcementAction

APPEALABLE_STATUSES = (EnforcementAction.Status.ACTIVE, EnforcementAction.Status.EXPIRED)
# The statuses of an appeal still being worked (appeals.models.Appeal.OPEN; a test holds the
# two equal).
OPEN_APPEAL_STATUSES = ("new", "in_review")


def appeal_window() -> timedelta:
    return timedelta(days=settings.APPEAL_WINDOW_DAYS)


def appeal_deadline(start: datetime) -> datetime:
    """The last moment an action that took effect at ``start`` may be appealed."""
    return start + appeal_window()


def appeal_window_text(start: datetime) -> str:
    """What the statement of reasons tells the user: the window and the date it closes."""
    closes = timezone.localtime(appeal_deadline(start))
    return (
        f"You can appeal this decision within {settings.APPEAL_WINDOW_DAYS} days, "
        f"until {closes.day} {closes:%B %Y}."
    )


@dataclass(frozen=True)
class AppealEligibility:
    """The answer for one action at one moment. ``reason`` names why it may not be appealed
    ("status", "window" or "open_appeal"; "" when it may) and ``problem`` says it in words."""

    deadline: datetime
    reason: str = ""
    problem: str = ""

    @property
    def eligible(self) -> bool:
        return not self.reason


def appeal_eligibility(
    action: EnforcementAction, *, now: datetime | None = None
) -> AppealEligibility:
    """May ``action`` be appealed at ``now``, and until when. Reads the action's appeals
    (prefetch ``appeals`` when asking for many actions)."""
    now = now or timezone.now()
    deadline = appeal_deadline(action.starts_at or action.created_at)
    status = action.effective_status(now)
    if status not in APPEALABLE_STATUSES:
        return AppealEligibility(
            deadline, "status", f"A {status.replace('_', ' ')} action cannot be appealed."
        )
    if now > deadline:
        return AppealEligibility(
            deadline,
            "window",
            f"The appeal window of {settings.APPEAL_WINDOW_DAYS} days has passed.",
        )
    if any(appeal.status in OPEN_APPEAL_STATUSES for appeal in action.appeals.all()):
        return AppealEligibility(deadline, "open_appeal", "This action already has an open appeal.")
    return AppealEligibility(deadline)


def latest_appeal(action: EnforcementAction):
    """The action's most recently filed appeal, or None (from the prefetch when there is one)."""
    return max(action.appeals.all(), key=lambda appeal: (appeal.filed_at, appeal.pk), default=None)
