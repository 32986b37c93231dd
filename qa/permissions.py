"""Who may plan, review, dispute, adjudicate and calibrate. The reviewer is never the
analyst who decided; an adjudicator is never the reviewer or the analyst."""

from __future__ import annotations

from qa.models import CalibrationSession, QAReview
from tsops.permissions import has_capability, teams_of


def can_run_qa(user) -> bool:
    """Plans, draws, calibration sessions and the team's quality figures."""
    return has_capability(user, "run_qa")


def can_review_qa(user) -> bool:
    return has_capability(user, "review_qa")


def can_see_review(user, review: QAReview) -> bool:
    """Restricted reviews only within their team; the analyst sees their own once scored."""
    if review.restricted and review.team not in teams_of(user):
        return False
    if review.analyst_id == user.pk:
        return review.status == QAReview.Status.SCORED
    return can_review_qa(user) or can_run_qa(user)


def can_work_review(user, review: QAReview) -> bool:
    """Answer and score: a reviewer who did not make the decision."""
    if review.analyst_id == user.pk or not can_review_qa(user):
        return False
    return not review.restricted or review.team in teams_of(user)


def can_respond_to_review(user, review: QAReview) -> bool:
    """Acknowledge or dispute: only the analyst whose decision was reviewed."""
    return (
        review.analyst_id == user.pk
        and review.status == QAReview.Status.SCORED
        and review.feedback == QAReview.Feedback.PENDING
    )


def can_adjudicate_review(user, review: QAReview) -> bool:
    """A senior other than the reviewer and the analyst."""
    if not has_capability(user, "adjudicate_qa"):
        return False
    if user.pk in (review.reviewer_id, review.analyst_id):
        return False
    return not review.restricted or review.team in teams_of(user)


def can_manage_calibration(user, session: CalibrationSession | None = None) -> bool:
    return can_run_qa(user)


def is_calibration_participant(user, session: CalibrationSession) -> bool:
    return session.participants.filter(pk=user.pk).exists()
