"""Who may raise and work escalations: pure predicates over (user, object)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from cases.models import Case
from cases.visibility import can_view_case
from escalations.models import Escalation, Team
from tsops.permissions import has_capability, teams_of


def is_team_member(user, team: Team | str) -> bool:
    slug = team if isinstance(team, str) else team.slug
    return (
        user.is_authenticated and has_capability(user, "work_team_cases") and slug in teams_of(user)
    )


def can_raise_escalation(user, case: Case) -> bool:
    return has_capability(user, "raise_escalations") and can_view_case(user, case)


def check_raise_escalation(user, case: Case) -> None:
    if not can_raise_escalation(user, case):
        raise PermissionDenied("You may not escalate this case.")


def can_work_escalation(user, escalation: Escalation) -> bool:
    """Acknowledge, resolve or return: members of the escalation's team only."""
    return is_team_member(user, escalation.team.slug)
