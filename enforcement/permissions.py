"""Who may decide, approve, reverse and look up enforcement."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from cases.models import Case
from cases.visibility import can_view_case, has_team_access
from enforcement.catalogue import within_ceiling
from enforcement.models import EnforcementAction
from tsops import roles
from tsops.permissions import has_capability, role_of, teams_of


def deciding_role(user, case: Case) -> str | None:
    """The role whose ceilings apply: the user's own, or analyst for a team member on a
    restricted case of their team."""
    role = role_of(user)
    if role == roles.SENIOR:
        return role
    if case.restricted and case.team in teams_of(user):
        return roles.ANALYST
    if _works_escalation(user, case):
        return roles.ANALYST
    return role


def _works_escalation(user, case: Case) -> bool:
    """A member of the team an escalated case is with (they decide it when resolving): the
    team holds the case's object permission while it is escalated to them."""
    return case.status == Case.Status.ESCALATED and has_team_access(user, case)


def can_decide_case(user, case: Case) -> bool:
    """May decide it now: entitled (:func:`_may_decide`) and the lifecycle lets a decision
    move the case on."""
    return case.is_decidable and _may_decide(user, case)


def _may_decide(user, case: Case) -> bool:
    """The analyst holding the claim, a senior who can see the case, or a member of the team
    an escalated case is with."""
    if not can_view_case(user, case):
        return False
    if has_capability(user, "approve_actions"):
        return True
    if _works_escalation(user, case):
        return True
    return case.status == Case.Status.IN_REVIEW and case.claimed_by_id == user.pk


def can_take_alone(user, case: Case, action_type: str, duration_hours: int | None) -> bool:
    return within_ceiling(deciding_role(user, case), action_type, duration_hours)


def can_approve_action(user, action: EnforcementAction) -> bool:
    """A senior who can see the case and did not propose the action."""
    return (
        has_capability(user, "approve_actions")
        and action.proposed_by_id != user.pk
        and can_view_case(user, action.case)
    )


def can_reverse_action(user, action: EnforcementAction) -> bool:
    return has_capability(user, "approve_actions") and can_view_case(user, action.case)


def can_lookup_enforcement(user) -> bool:
    return has_capability(user, "lookup_enforcement")


def can_manage_response_templates(user) -> bool:
    """Create, revise and retire response templates: seniors, like policy sections."""
    return has_capability(user, "configure_operations")


def can_view_response_templates(user) -> bool:
    """Read the response templates: whoever decides cases (roles and specialist teams)."""
    return (
        has_capability(user, "propose_action")
        or has_capability(user, "work_team_cases")
        or can_manage_response_templates(user)
    )


def can_export_statements(user) -> bool:
    return has_capability(user, "export_data") or has_capability(user, "receive_events")


# Checks: the predicate and the refusal's wording in one place, for the services (which
# enforce) and the API views (which refuse before reading a body).


def check_decide_case(user, case: Case) -> None:
    """The refusal (403) of someone not entitled; a case that cannot be decided in its status
    is the service's conflict (409), not a refusal."""
    if not _may_decide(user, case):
        raise PermissionDenied(
            "Only the analyst holding this case's claim, or a senior, may decide it."
        )


def check_review_action(user, action: EnforcementAction) -> None:
    """Approve or reject a pending action: a senior who did not propose it."""
    if action.proposed_by_id == user.pk:
        raise PermissionDenied("You proposed this action: another senior must review it.")
    if not can_approve_action(user, action):
        raise PermissionDenied("Reviewing actions needs a senior role.")


def check_reverse_action(user, action: EnforcementAction) -> None:
    if not can_reverse_action(user, action):
        raise PermissionDenied("Reversing actions needs a senior role.")


def check_bulk_decide(user) -> None:
    from cases.permissions import can_bulk_edit

    if not can_bulk_edit(user):
        raise PermissionDenied("Deciding cases in bulk needs an analyst role.")
