"""Who may work cases and file reports: pure predicates over (user, object), and checks that
refuse with the reason (used by services and by API views before a body is read). Who may see
a queue or a case is :mod:`cases.visibility`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from cases import visibility
from cases.models import Case
from tsops.permissions import has_capability


def can_edit_case(user, case: Case) -> bool:
    return visibility.can_view_case(user, case)


def can_work_case(user, case: Case) -> bool:
    """May hold the case's claim at all: sees it and works its queue (whatever its status)."""
    return visibility.can_view_case(user, case) and visibility.can_work_queue(user, case.queue)


def can_claim_case(user, case: Case) -> bool:
    """May claim it now: works it, and it is unclaimed or its claim's lease ran out."""
    holds = case.claimed_by_id is not None and case.claimed_by_id == user.pk
    return not holds and case.is_claimable_by(user.pk) and can_work_case(user, case)


def can_release_case(user, case: Case) -> bool:
    """Give the claim back: its holder, or an analyst and above for anyone's claim."""
    if case.status != Case.Status.IN_REVIEW:
        return False
    return case.claimed_by_id == user.pk or can_bulk_edit(user)


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


def can_reopen_case(user, case: Case) -> bool:
    """May reopen it now: entitled, and it is resolved."""
    return not case.is_open and _may_reopen(user, case)


def _may_reopen(user, case: Case) -> bool:
    """Analysts and above (a restricted case: its team) for a case they see."""
    if not visibility.can_view_case(user, case):
        return False
    if case.restricted:
        return has_capability(user, "work_team_cases")
    return has_capability(user, "work_all_queues")


def check_reopen_case(user, case: Case) -> None:
    """The refusal (403) of someone not entitled; reopening an open case is a conflict (409)."""
    if not _may_reopen(user, case):
        raise PermissionDenied("Reopening a case needs an analyst role (or its team's).")


def reveal_needs_reason(case: Case) -> bool:
    """Revealing sensitive evidence takes one click on a standard queue; on a restricted case
    or a specialist team's queue the member must also say why (kept in the access log)."""
    return bool(case.restricted or case.queue.team)
