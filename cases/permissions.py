"""Who may see and work which queues and cases: pure predicates over (user, object), and
checks that refuse with the reason (used by services and by API views before a body is read)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from cases.models import Case, Queue
from tsops.permissions import has_capability, role_of, teams_of


def can_work_queue(user, queue: Queue) -> bool:
    """Restricted queues belong to their team; others to the roles they list."""
    if not user.is_authenticated or not queue.active:
        return False
    needed = "decide_appeals" if queue.kind == Queue.Kind.APPEALS else "work_standard_queues"
    if queue.team:
        return queue.team in teams_of(user) and has_capability(user, "work_team_cases")
    role = role_of(user)
    return role is not None and role in queue.allowed_roles and has_capability(user, needed)


def can_view_case(user, case: Case) -> bool:
    """Restricted cases: only their team. Others: whoever may work the case's queue, and the
    team the case is escalated to."""
    if not user.is_authenticated:
        return False
    if case.restricted:
        return bool(case.team) and case.team in teams_of(user)
    if can_work_queue(user, case.queue):
        return True
    # Team members (who may hold no role) see unrestricted cases escalated to their team.
    from escalations.permissions import has_active_escalation_to_team_of

    return has_active_escalation_to_team_of(user, case)


def can_edit_case(user, case: Case) -> bool:
    return can_view_case(user, case)


def can_claim_case(user, case: Case) -> bool:
    return can_view_case(user, case) and can_work_queue(user, case.queue)


def can_view_pii(user) -> bool:
    """Analysts and above see identifiers' fingerprints without recording a reason."""
    return has_capability(user, "view_pii")


def can_reveal_pii(user) -> bool:
    return has_capability(user, "reveal_pii") or has_capability(user, "view_pii")


def can_submit_reports(user) -> bool:
    """The platform pushes reports; staff working queues may file internal/support reports."""
    return has_capability(user, "push_reports") or has_capability(user, "work_standard_queues")


def check_submit_reports(user) -> None:
    if not can_submit_reports(user):
        raise PermissionDenied("Your role may not submit reports.")


def can_bulk_edit(user) -> bool:
    return has_capability(user, "work_all_queues")


def check_bulk_edit(user) -> None:
    if not can_bulk_edit(user):
        raise PermissionDenied("Bulk actions need an analyst role.")
