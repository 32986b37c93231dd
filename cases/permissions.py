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


def can_claim_case(user, case: Case) -> bool:
    return visibility.can_view_case(user, case) and visibility.can_work_queue(user, case.queue)


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
