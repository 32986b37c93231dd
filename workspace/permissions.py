"""Who may see whose exposure and who may extend a budget: pure predicates."""

from __future__ import annotations

from tsops.permissions import has_capability


def can_view_exposure(user) -> bool:
    """Reviewers (anyone who works queues) see their own figures; leads see the team's."""
    return user.is_authenticated and (
        has_capability(user, "work_standard_queues")
        or has_capability(user, "work_team_cases")
        or can_view_team_exposure(user)
    )


def can_view_team_exposure(user) -> bool:
    """Leads see every reviewer's exposure (in the queues whose figures they may see)."""
    return has_capability(user, "view_team_metrics")


def can_grant_exposure_override(user, reviewer=None) -> bool:
    """A senior extends a reviewer's budget, never their own."""
    if not has_capability(user, "approve_actions"):
        return False
    return reviewer is None or reviewer.pk != user.pk
