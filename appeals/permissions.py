"""Who may file, see and decide appeals. The reviewer is never the decider or approver."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from appeals.models import Appeal
from cases.visibility import can_view_case, can_work_queue
from tsops.permissions import has_capability


def can_file_appeal(user) -> bool:
    return has_capability(user, "file_appeal")


def check_file_appeal(user) -> None:
    if not can_file_appeal(user):
        raise PermissionDenied("Your role may not file appeals.")


def can_view_appeal(user, appeal: Appeal) -> bool:
    """An appeal follows its case: on a restricted case, those who may see the case and
    decide appeals (its team); otherwise whoever works the appeal's queue."""
    if appeal.case.restricted:
        return has_capability(user, "decide_appeals") and can_view_case(user, appeal.case)
    return can_work_queue(user, appeal.queue)


def is_conflicted(user, appeal: Appeal) -> bool:
    """Whether the user decided, proposed or approved the appealed action."""
    action = appeal.action
    return user.pk in {action.decision.decided_by_id, action.proposed_by_id, action.approved_by_id}


def can_review_appeal(user, appeal: Appeal) -> bool:
    if not can_view_appeal(user, appeal) or is_conflicted(user, appeal):
        return False
    # A ban is only reviewed by a senior.
    return not appeal.needs_senior or has_capability(user, "approve_actions")
