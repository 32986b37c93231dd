"""Who may plan, review, dispute, adjudicate and calibrate. The reviewer is never the
analyst who decided; an adjudicator is never the reviewer or the analyst."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from cases.visibility import CaseCondition
from qa.models import CalibrationSession, QAReview
from tsops import roles
from tsops.permissions import has_capability, role_of, teams_of

# Who may take part in calibration sessions.
PARTICIPANT_ROLES = (roles.ASSOCIATE, roles.ANALYST, roles.SENIOR)


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


def is_calibration_participant(user, session: CalibrationSession) -> bool:
    return session.participants.filter(pk=user.pk).exists()


def can_manage_session(user, session: CalibrationSession | None = None) -> bool:
    """Create calibration sessions (no ``session``), or set gold, invite, open, close and
    clarify one: ``run_qa``, and not one of its participants (a senior who answers must not
    also know the gold)."""
    if not can_run_qa(user):
        return False
    return session is None or not is_calibration_participant(user, session)


def can_see_session(user, session: CalibrationSession) -> bool:
    """A calibration session is seen by those who may run QA and by its participants."""
    return can_run_qa(user) or is_calibration_participant(user, session)


def is_eligible_participant(user) -> bool:
    """Calibration is for the people who decide cases: associates, analysts and seniors."""
    return user.is_active and role_of(user) in PARTICIPANT_ROLES


# The blind holds, over the case's id ({case}) for the user (the last parameter): a QA review
# of one of the case's decisions they claimed and have not answered, and an open calibration
# session holding the case that they have not handed in.
BLIND_QA_REVIEW_SQL = (
    "EXISTS (SELECT 1 FROM qa_qareview r WHERE r.case_id = {case} AND r.status = %s "
    "AND r.claimed_by_id = %s)"
)
BLIND_CALIBRATION_SQL = (
    "EXISTS (SELECT 1 FROM qa_calibrationcase i "
    "JOIN qa_calibrationsession s ON s.id = i.session_id "
    "JOIN qa_calibrationparticipant p ON p.session_id = s.id "
    "WHERE i.case_id = {case} AND s.status = %s AND p.submitted_at IS NULL AND p.user_id = %s)"
)


def blind_hold_annotations(user) -> dict[str, CaseCondition]:
    """Annotations for a Case queryset: whether ``user`` is answering blind on the case and
    so may not open it yet — a QA review of one of its decisions they hold but have not
    answered, or an open calibration session holding it that they have not handed in. The
    case page would show the decision the blind answer must not see."""
    return {
        "blind_qa_review": CaseCondition(
            BLIND_QA_REVIEW_SQL, [QAReview.Status.IN_REVIEW.value, user.pk]
        ),
        "blind_calibration": CaseCondition(
            BLIND_CALIBRATION_SQL, [CalibrationSession.Status.OPEN.value, user.pk]
        ),
    }


def blind_hold_message(case) -> str:
    """Why the case is closed to its blind reviewer, or "" (reads `blind_hold_annotations`)."""
    if getattr(case, "blind_qa_review", False):
        return (
            f"You are reviewing a decision on case #{case.pk} blind. The case opens to you "
            "once you have recorded your own answer on the QA review."
        )
    if getattr(case, "blind_calibration", False):
        return (
            f"Case #{case.pk} is in a calibration session you have not handed in yet. "
            "It opens to you once you have submitted your answers or the session closes."
        )
    return ""


def check_respond_to_review(user, review: QAReview) -> None:
    """Acknowledge or dispute: the analyst whose decision was reviewed, no one else."""
    if review.analyst_id != user.pk:
        raise PermissionDenied("Only the analyst whose decision was reviewed responds.")


def check_reverse_from_review(user) -> None:
    """Reversing an action found wrong by QA: as for any reversal, a senior."""
    if not has_capability(user, "approve_actions"):
        raise PermissionDenied("Reversing actions needs a senior role.")
