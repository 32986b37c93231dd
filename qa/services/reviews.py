"""QA review writes: claiming (leases), the blind answer, rubric scoring, the analyst's
feedback and disputes, their adjudication, and reversing a wrong decision found by QA."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from cases import timeline
from cases.lifecycle import ReopenTrigger, case_reopen
from cases.timeline import EventKind
from enforcement import catalogue
from enforcement import services as enforcement_services
from enforcement.models import Decision, EnforcementAction, PolicySection
from qa.models import ErrorType, QAReview, Rubric
from qa.permissions import (
    can_adjudicate_review,
    can_respond_to_review,
    can_review_qa,
    can_see_review,
    can_work_review,
    check_respond_to_review,
    check_reverse_from_review,
)
from qa.services._input import clean_text
from tsops.claims import LeasedWork
from tsops.errors import ConflictError, HiddenObject
from tsops.models import Notification
from tsops.permissions import teams_of
from tsops.services import notification_send

LEASE = timedelta(minutes=30)
MAX_TEXT = 5000


class QAConflict(ConflictError):
    pass


# --- Claiming -------------------------------------------------------------------------------

# Reviews are claimed like cases (tsops.claims): never one's own decision, restricted ones only
# by their team.
REVIEW_WORK = LeasedWork(model=QAReview, lease=LEASE)
CLAIM_SQL = REVIEW_WORK.claim_sql(
    where="t.analyst_id <> %(user)s AND (NOT t.restricted OR t.team = ANY(%(teams)s))",
    order_by="t.severity, t.decided_at, t.id",
)


def _expire_leases(now: datetime) -> int:
    return len(REVIEW_WORK.expire_leases(now=now))


def review_claim_next(*, actor) -> QAReview | None:
    """Claim the most urgent QA review the actor may do (never one of their own decisions);
    None when the queue is empty. One UPDATE over a CTE with SKIP LOCKED."""
    if not can_review_qa(actor):
        raise PermissionDenied("QA reviews need the reviewer capability.")
    now = timezone.now()
    with transaction.atomic():
        _expire_leases(now)
        review_id = REVIEW_WORK.claim_next(
            sql=CLAIM_SQL, actor=actor, now=now, params={"teams": teams_of(actor) or [""]}
        )
    if review_id is None:
        return None
    return QAReview.objects.get(pk=review_id)


def _lock(review_id: int, actor) -> QAReview:
    review = (
        QAReview.objects.select_for_update(of=("self",))
        .select_related("decision", "rubric")
        .filter(pk=review_id)
        .first()
    )
    if review is None:
        raise Http404("No such QA review.")
    if not can_see_review(actor, review):
        raise HiddenObject("No such QA review.", actor=actor, obj=review)
    return review


def _check_version(review: QAReview, version: int | None) -> None:
    if version is not None and version != review.version:
        raise QAConflict(
            f"This review changed meanwhile (version {review.version}, you sent {version})."
        )


def _save(review: QAReview, actor) -> None:
    review.version += 1
    review._history_user = actor
    review.save()


def review_claim(*, actor, review_id: int) -> QAReview:
    """Claim one review from its page."""
    with transaction.atomic():
        review = _lock(review_id, actor)
        if not can_work_review(actor, review):
            raise PermissionDenied("You made this decision (or may not review it): not yours.")
        now = timezone.now()
        if review.status == QAReview.Status.IN_REVIEW and review.claimed_by_id == actor.pk:
            return review
        if review.status == QAReview.Status.IN_REVIEW and (
            review.lease_expires_at and review.lease_expires_at > now
        ):
            raise QAConflict("Another reviewer holds this review.")
        if review.status not in (QAReview.Status.NEW, QAReview.Status.IN_REVIEW):
            raise QAConflict("This review is already answered.")
        review.status = QAReview.Status.IN_REVIEW
        review.claimed_by = actor
        review.claimed_at = now
        review.lease_expires_at = now + LEASE
        _save(review, actor)
    return review


def review_release(*, actor, review_id: int) -> QAReview:
    with transaction.atomic():
        review = _lock(review_id, actor)
        if review.status != QAReview.Status.IN_REVIEW or review.claimed_by_id != actor.pk:
            raise QAConflict("You do not hold this review.")
        review.status = QAReview.Status.NEW
        review.claimed_by = None
        review.claimed_at = None
        review.lease_expires_at = None
        _save(review, actor)
    return review


# --- Blind answer and scoring ----------------------------------------------------------------


def review_answer(
    *,
    actor,
    review_id: int,
    outcome: str,
    policy_section: str = "",
    action: str = "",
    notes: str = "",
    version: int | None = None,
) -> QAReview:
    """Record the reviewer's own blind answer; after it, the original decision is shown."""
    errors: dict[str, str] = {}
    if outcome not in Decision.Outcome.values:
        errors["outcome"] = f"One of {', '.join(Decision.Outcome.values)}."
    policy_section = (policy_section or "").strip()
    if policy_section and not PolicySection.objects.filter(code=policy_section).exists():
        errors["policy_section"] = f"No policy section {policy_section!r}."
    action = (action or "").strip()
    if action and action not in catalogue.ACTIONS:
        errors["action"] = f"Unknown action type {action!r}."
    notes = clean_text(notes, "notes", errors, limit=MAX_TEXT)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = _lock(review_id, actor)
        if not can_work_review(actor, review):
            raise PermissionDenied("You made this decision (or may not review it): not yours.")
        _check_version(review, version)
        now = timezone.now()
        if review.status == QAReview.Status.IN_REVIEW and review.claimed_by_id != actor.pk:
            if review.lease_expires_at and review.lease_expires_at > now:
                raise QAConflict("Another reviewer holds this review.")
        elif review.status not in (QAReview.Status.NEW, QAReview.Status.IN_REVIEW):
            raise QAConflict("This review is already answered.")
        review.status = QAReview.Status.ANSWERED
        review.reviewer = actor
        review.claimed_by = actor
        review.lease_expires_at = None
        review.blind_outcome = outcome
        review.blind_policy_section = policy_section
        review.blind_action = action
        review.blind_notes = notes
        review.answered_at = now
        _save(review, actor)
    return review


def rubric_criteria(rubric: Rubric) -> list[dict]:
    return [
        {
            "key": c.key,
            "label": c.label,
            "help": c.help_text,
            "weight": c.weight,
            "critical": c.critical,
        }
        for c in rubric.criteria.all()
    ]


def rubric_score(criteria: list[dict], passed: dict[str, bool], threshold: int) -> tuple[int, bool]:
    """The weighted score (percent, rounded) and the verdict: pass when the score reaches
    the threshold and no critical criterion failed."""
    total = sum(c["weight"] for c in criteria)
    earned = sum(c["weight"] for c in criteria if passed[c["key"]])
    score = round(100 * earned / total) if total else 100
    critical_failed = any(c["critical"] and not passed[c["key"]] for c in criteria)
    return score, score >= threshold and not critical_failed


def review_score(
    *,
    actor,
    review_id: int,
    scores: dict,
    error_types: list | None = None,
    notes: str = "",
    version: int | None = None,
) -> QAReview:
    """Score the revealed decision on the rubric; pass or fail follows from the rubric.
    A failed review names at least one error type. The analyst is told."""
    error_types = list(error_types or [])
    errors: dict[str, str] = {}
    if not isinstance(scores, dict):
        raise ValidationError({"scores": "An object of criterion → true/false."})
    bad_types = [e for e in error_types if e not in ErrorType.values]
    if bad_types:
        errors["error_types"] = f"Unknown: {', '.join(map(str, bad_types))}."
    notes = clean_text(notes, "notes", errors, limit=MAX_TEXT)
    with transaction.atomic():
        review = _lock(review_id, actor)
        if not can_work_review(actor, review):
            raise PermissionDenied("You made this decision (or may not review it): not yours.")
        _check_version(review, version)
        if review.status == QAReview.Status.SCORED:
            raise QAConflict("This review is already scored.")
        if review.status != QAReview.Status.ANSWERED:
            raise QAConflict("Answer blind first: the decision is revealed only after that.")
        if review.reviewer_id != actor.pk:
            raise PermissionDenied("Only the reviewer who answered scores this review.")
        criteria = rubric_criteria(review.rubric)
        keys = {c["key"] for c in criteria}
        missing = sorted(keys - set(scores))
        unknown = sorted(set(scores) - keys)
        if missing:
            errors["scores"] = f"Score every criterion; missing: {', '.join(missing)}."
        elif unknown:
            errors["scores"] = f"Unknown criteria: {', '.join(map(str, unknown))}."
        elif not all(isinstance(v, bool) for v in scores.values()):
            errors["scores"] = "Each criterion is true (pass) or false (fail)."
        if errors:
            raise ValidationError(errors)
        score, passed = rubric_score(criteria, scores, review.rubric.pass_threshold)
        if not passed and not error_types:
            raise ValidationError({"error_types": "A failed review names at least one error type."})
        now = timezone.now()
        review.scores = [{**c, "passed": scores[c["key"]]} for c in criteria]
        review.score = score
        review.passed = passed
        review.error_types = sorted(set(error_types))
        review.reviewer_notes = notes
        review.scored_at = now
        review.status = QAReview.Status.SCORED
        review.feedback = QAReview.Feedback.PENDING
        review.feedback_at = None
        _save(review, actor)
        timeline.record(
            review.case_id, EventKind.QA_REVIEW_SCORED, actor, review_id=review.pk, passed=passed
        )
        notification_send(
            actor=actor,
            recipients=[review.analyst_id],
            kind="qa_reviewed",
            title=f"QA review of your decision on case #{review.case_id}: "
            f"{'pass' if passed else 'fail'} ({score}%)",
            body=notes,
            link=f"/qa/reviews/{review.pk}/",
        )
    return review


# --- Feedback, disputes, adjudication -----------------------------------------------------------


def review_acknowledge(*, actor, review_id: int) -> QAReview:
    """The analyst has read the feedback."""
    with transaction.atomic():
        review = _lock(review_id, actor)
        check_respond_to_review(actor, review)
        if not can_respond_to_review(actor, review):
            raise QAConflict("This feedback is already answered.")
        review.feedback = QAReview.Feedback.ACKNOWLEDGED
        review.feedback_at = timezone.now()
        _save(review, actor)
        _reopen_if_corrected(review, actor)
    return review


def review_dispute(*, actor, review_id: int, reason: str) -> QAReview:
    """The analyst disputes a failed review; a senior other than the reviewer adjudicates."""
    errors: dict[str, str] = {}
    reason = clean_text(reason, "reason", errors, limit=MAX_TEXT, required=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = _lock(review_id, actor)
        check_respond_to_review(actor, review)
        if not can_respond_to_review(actor, review):
            raise QAConflict("This feedback is already answered.")
        if review.passed:
            raise QAConflict("Only a failed review can be disputed; acknowledge this one.")
        review.feedback = QAReview.Feedback.DISPUTED
        review.feedback_at = timezone.now()
        review.dispute_reason = reason
        _save(review, actor)
        timeline.record(review.case_id, EventKind.QA_REVIEW_DISPUTED, actor, review_id=review.pk)
        _notify_adjudicators(review)
    return review


def _reopen_if_corrected(review: QAReview, actor) -> None:
    """A failure that is final (acknowledged, or its dispute rejected) whose blind answer has
    another outcome than the decision reopens the case as rework, unless the case has been
    decided again since (the decision is no longer the one of record)."""
    decision = review.decision
    if review.passed is not False or review.blind_outcome in ("", decision.outcome):
        return
    newer = Decision.objects.filter(case_id=review.case_id, pk__gt=decision.pk).exists()
    if newer or review.case.is_open:
        return
    case_reopen(
        actor=actor,
        case_id=review.case_id,
        trigger=ReopenTrigger.QA_CORRECTION,
        reason=(
            f"QA review #{review.pk} failed the decision: the reviewer found "
            f"{Decision.Outcome(review.blind_outcome).label.lower()}, the decision "
            f"{Decision.Outcome(decision.outcome).label.lower()}."
        ),
        checked=True,
        review_id=review.pk,
    )


def _notify_adjudicators(review: QAReview) -> None:
    user_model = get_user_model()
    seniors = (
        user_model.objects.filter(is_active=True, groups__name="senior")
        .exclude(pk__in=[review.reviewer_id, review.analyst_id])
        .distinct()
    )
    if review.restricted:
        seniors = seniors.filter(groups__name=review.team)
    Notification.objects.bulk_create(
        Notification(
            user=senior,
            kind="qa_disputed",
            title=f"QA dispute to adjudicate on case #{review.case_id}",
            link=f"/qa/reviews/{review.pk}/",
        )
        for senior in seniors
    )


def review_adjudicate(*, actor, review_id: int, uphold: bool, notes: str) -> QAReview:
    """Settle a dispute, finally: uphold the review, or overturn it (the decision passes)."""
    errors: dict[str, str] = {}
    notes = clean_text(notes, "notes", errors, limit=MAX_TEXT, required=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = _lock(review_id, actor)
        if not can_adjudicate_review(actor, review):
            raise PermissionDenied(
                "A dispute is adjudicated by a senior other than the reviewer and the analyst."
            )
        if review.feedback != QAReview.Feedback.DISPUTED:
            raise QAConflict("There is no open dispute on this review.")
        review.feedback = QAReview.Feedback.UPHELD if uphold else QAReview.Feedback.OVERTURNED
        review.adjudicated_by = actor
        review.adjudicated_at = timezone.now()
        review.adjudication_notes = notes
        if not uphold:
            review.passed = True
        _save(review, actor)
        _reopen_if_corrected(review, actor)
        timeline.record(
            review.case_id,
            EventKind.QA_REVIEW_ADJUDICATED,
            actor,
            review_id=review.pk,
            upheld=uphold,
        )
        notification_send(
            actor=actor,
            recipients=[review.analyst_id],
            kind="qa_adjudicated",
            title=f"Your QA dispute on case #{review.case_id} was "
            f"{'rejected' if uphold else 'accepted'}",
            body=notes,
            link=f"/qa/reviews/{review.pk}/",
        )
    return review


def live_actions(review: QAReview) -> list[EnforcementAction]:
    """The decision's actions whose harm is still live (in force and not yet expired)."""
    return [
        action
        for action in EnforcementAction.objects.filter(
            decision_id=review.decision_id, status=EnforcementAction.Status.ACTIVE
        ).order_by("pk")
        if action.effective_status() == EnforcementAction.Status.ACTIVE
    ]


def review_reverse_action(
    *, actor, review_id: int, action_id: int, reason: str
) -> EnforcementAction:
    """From a failed QA review, reverse one of the decision's live actions through the
    enforcement services (which check that the actor may reverse)."""
    from qa.selectors import review_get_for

    review = review_get_for(actor=actor, review_id=review_id)
    if review.status != QAReview.Status.SCORED or review.passed is not False:
        raise QAConflict("Only a failed QA review offers a reversal.")
    if not EnforcementAction.objects.filter(pk=action_id, decision_id=review.decision_id).exists():
        raise Http404("No such action on this decision.")
    check_reverse_from_review(actor)
    reason = (reason or "").strip()
    return enforcement_services.action_reverse(
        actor=actor,
        action_id=action_id,
        reason=f"QA review #{review.pk}: {reason}" if reason else "",
    )
