"""Every write of QA reviews: drawing samples, claiming, answering blind, scoring, feedback,
disputes and their adjudication, and reversing a wrong decision found by QA.

Calibration sessions have their own module, :mod:`qa.calibration`.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.utils import timezone

from cases import timeline
from enforcement import catalogue
from enforcement import services as enforcement_services
from enforcement.models import Decision, EnforcementAction, PolicySection
from qa import stats
from qa.models import ErrorType, QAReview, Rubric, Sample, SamplingPlan
from qa.permissions import (
    can_adjudicate_review,
    can_respond_to_review,
    can_review_qa,
    can_run_qa,
    can_see_review,
    can_work_review,
)
from tsops.errors import ConflictError, HiddenObject
from tsops.models import Notification
from tsops.permissions import has_capability, teams_of

LEASE = timedelta(minutes=30)
MAX_TEXT = 5000

QA_REVIEW_SCORED = "QA_REVIEW_SCORED"
QA_REVIEW_DISPUTED = "QA_REVIEW_DISPUTED"
QA_REVIEW_ADJUDICATED = "QA_REVIEW_ADJUDICATED"
timeline.LABELS.update(
    {
        QA_REVIEW_SCORED: "QA review scored",
        QA_REVIEW_DISPUTED: "QA review disputed",
        QA_REVIEW_ADJUDICATED: "QA dispute adjudicated",
    }
)


class QAConflict(ConflictError):
    pass


# --- Sampling ------------------------------------------------------------------------------


def period_bounds(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The previous complete period (UTC): yesterday, or last Monday-to-Monday week."""
    now = now or timezone.now()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == SamplingPlan.Period.WEEK:
        this_week = today - timedelta(days=today.weekday())
        return this_week - timedelta(days=7), this_week
    return today - timedelta(days=1), today


@dataclass(frozen=True)
class Candidate:
    """One decision of a plan's population, with what the draw needs to know about it."""

    decision_id: int
    case_id: int
    analyst_id: int
    queue_id: int
    policy_section_id: int | None
    severity: int
    restricted: bool
    team: str
    decided_at: datetime
    stratum: str
    always: str  # "" or the QAReview.Inclusion that forces it in


def plan_population(plan: SamplingPlan, start: datetime, end: datetime) -> list[Candidate]:
    """The decisions in [start, end) in the plan's scope that no QA review covers yet,
    ordered by id (the order the seeded draw relies on)."""
    decisions = Decision.objects.filter(created_at__gte=start, created_at__lt=end).exclude(
        Exists(QAReview.objects.filter(decision=OuterRef("pk")))
    )
    if plan.team:
        decisions = decisions.filter(case__restricted=True, case__team=plan.team)
    else:
        decisions = decisions.filter(case__restricted=False)
    queue_ids = list(plan.queues.values_list("pk", flat=True))
    if queue_ids:
        decisions = decisions.filter(case__queue_id__in=queue_ids)
    if plan.reasons:
        decisions = decisions.filter(case__reason__in=plan.reasons)
    if plan.action_types:
        decisions = decisions.filter(
            Exists(
                EnforcementAction.objects.filter(
                    decision=OuterRef("pk"), action_type__in=plan.action_types
                )
            )
        )
    analyst_ids = list(plan.analysts.values_list("pk", flat=True))
    if analyst_ids:
        decisions = decisions.filter(decided_by_id__in=analyst_ids)
    if plan.roles:
        decisions = decisions.filter(decided_by__groups__name__in=plan.roles).distinct()
    if plan.decision_kind == SamplingPlan.DecisionKind.HUMAN:
        decisions = decisions.filter(automated=False)
    elif plan.decision_kind == SamplingPlan.DecisionKind.AUTOMATED:
        decisions = decisions.filter(automated=True)
    if plan.always_action_types:
        decisions = decisions.annotate(
            always_action=Exists(
                EnforcementAction.objects.filter(
                    decision=OuterRef("pk"), action_type__in=plan.always_action_types
                )
            )
        )
    rows = decisions.order_by("pk").values(
        "pk",
        "case_id",
        "decided_by_id",
        "case__queue_id",
        "policy_section_id",
        "policy_section__code",
        "case__severity",
        "case__restricted",
        "case__team",
        "created_at",
        "decided_by__date_joined",
        *(["always_action"] if plan.always_action_types else []),
    )
    new_days = timedelta(days=plan.always_new_analyst_days)
    population = []
    for row in rows:
        always = ""
        if row.get("always_action"):
            always = QAReview.Inclusion.ALWAYS_ACTION
        elif plan.always_new_analyst_days and (
            row["created_at"] - row["decided_by__date_joined"] < new_days
        ):
            always = QAReview.Inclusion.ALWAYS_NEW_ANALYST
        population.append(
            Candidate(
                decision_id=row["pk"],
                case_id=row["case_id"],
                analyst_id=row["decided_by_id"],
                queue_id=row["case__queue_id"],
                policy_section_id=row["policy_section_id"],
                severity=row["case__severity"],
                restricted=row["case__restricted"],
                team=row["case__team"],
                decided_at=row["created_at"],
                stratum=_stratum(plan, row),
                always=always,
            )
        )
    return population


def _stratum(plan: SamplingPlan, row: dict) -> str:
    if plan.stratify_by == SamplingPlan.Stratify.QUEUE:
        return f"queue:{row['case__queue_id']}"
    if plan.stratify_by == SamplingPlan.Stratify.ANALYST:
        return f"analyst:{row['decided_by_id']}"
    if plan.stratify_by == SamplingPlan.Stratify.POLICY_SECTION:
        return f"section:{row['policy_section__code'] or 'none'}"
    return ""


def plan_target_size(plan: SamplingPlan, population: int | None) -> int:
    """n for a population: the fixed number, or the margin-of-error size with the
    finite-population correction (capped by the population when it is known)."""
    if plan.size_mode == SamplingPlan.SizeMode.MARGIN:
        return stats.sample_size(
            confidence=float(plan.confidence),
            margin=float(plan.margin),
            p=float(plan.expected_rate),
            population=population,
        )
    if population is None:
        return plan.fixed_size
    return min(plan.fixed_size, population)


@dataclass(frozen=True)
class Draw:
    target: int
    chosen: list[tuple[Candidate, str]]  # (candidate, inclusion)
    strata: dict[str, list[int]]  # stratum → [population, drawn]


def draw_select(plan: SamplingPlan, population: list[Candidate], seed: int) -> Draw:
    """Choose the sample: every always-included decision, then a seeded random draw of n
    from the rest, allocated to strata in proportion to their size. Pure: the same plan,
    population and seed always give the same choice."""
    always = [c for c in population if c.always]
    rest = [c for c in population if not c.always]
    target = plan_target_size(plan, len(population))
    rng = random.Random(seed)
    by_stratum: dict[str, list[Candidate]] = {}
    for candidate in rest:
        by_stratum.setdefault(candidate.stratum, []).append(candidate)
    allocation = stats.allocate({k: len(v) for k, v in sorted(by_stratum.items())}, target)
    chosen: list[tuple[Candidate, str]] = [(c, c.always) for c in always]
    strata: dict[str, list[int]] = {}
    for key in sorted(by_stratum):
        members = by_stratum[key]
        picked = rng.sample(members, allocation[key])
        chosen.extend((c, QAReview.Inclusion.RANDOM) for c in sorted(picked, key=_by_id))
        strata[key or "all"] = [len(members), allocation[key]]
    return Draw(target=target, chosen=chosen, strata=strata)


def _by_id(candidate: Candidate) -> int:
    return candidate.decision_id


def sample_draw(
    *,
    actor,
    plan_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    seed: int | None = None,
) -> tuple[Sample, bool]:
    """Draw a plan's sample for a period (the previous one by default) and create its QA
    reviews. Idempotent: a second call for the same plan and period returns the existing
    sample and draws nothing (the plan row lock and the unique constraint make it so even
    when two beats run at once). ``actor`` is None for beat."""
    if actor is not None and not can_run_qa(actor):
        raise PermissionDenied("Drawing QA samples needs a senior role.")
    with transaction.atomic():
        plan = SamplingPlan.objects.select_for_update().filter(pk=plan_id).first()
        if plan is None:
            raise Http404("No such sampling plan.")
        # A team's plan samples its restricted decisions: drawing it (which tells how many
        # there are) is for that team's seniors only, like reading it.
        if actor is not None and plan.team and plan.team not in teams_of(actor):
            raise HiddenObject("No such sampling plan.", actor=actor, obj=plan)
        if start is None or end is None:
            start, end = period_bounds(plan.period)
        existing = Sample.objects.filter(plan=plan, period_start=start).first()
        if existing is not None:
            return existing, False
        if not plan.active:
            raise QAConflict("This plan is paused: activate it before drawing.")
        population = plan_population(plan, start, end)
        seed = seed if seed is not None else secrets.randbits(62)
        draw = draw_select(plan, population, seed)
        try:
            with transaction.atomic():
                sample = Sample.objects.create(
                    plan=plan,
                    period_start=start,
                    period_end=end,
                    seed=seed,
                    population_size=len(population),
                    target_size=draw.target,
                    drawn_size=sum(1 for _, how in draw.chosen if how == QAReview.Inclusion.RANDOM),
                    always_included=sum(
                        1 for _, how in draw.chosen if how != QAReview.Inclusion.RANDOM
                    ),
                    strata=draw.strata,
                    drawn_by=actor,
                )
                QAReview.objects.bulk_create(
                    QAReview(
                        sample=sample,
                        decision_id=c.decision_id,
                        case_id=c.case_id,
                        analyst_id=c.analyst_id,
                        queue_id=c.queue_id,
                        policy_section_id=c.policy_section_id,
                        severity=c.severity,
                        restricted=c.restricted,
                        team=c.team,
                        decided_at=c.decided_at,
                        inclusion=how,
                        stratum=c.stratum,
                        rubric=plan.rubric,
                    )
                    for c, how in draw.chosen
                )
        except IntegrityError:
            # Another plan's draw took one of these decisions at the same moment: retry
            # later (beat runs again) rather than reviewing a decision twice.
            raise QAConflict("A concurrent draw took some of these decisions; draw again.")
    return sample, True


def samples_draw_due(*, now: datetime | None = None) -> int:
    """Draw the previous period for every active plan (beat). Returns how many were new."""
    drawn = 0
    for plan_id, period in SamplingPlan.objects.filter(active=True).values_list("pk", "period"):
        start, end = period_bounds(period, now)
        try:
            _, created = sample_draw(actor=None, plan_id=plan_id, start=start, end=end)
        except QAConflict:
            continue
        drawn += created
    return drawn


# --- Claiming -------------------------------------------------------------------------------

CLAIM_SQL = """
WITH next_review AS (
    SELECT r.id FROM qa_qareview r
    WHERE r.status = 'new' AND r.analyst_id <> %(user)s
      AND (NOT r.restricted OR r.team = ANY(%(teams)s))
    ORDER BY r.severity, r.decided_at, r.id
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
)
UPDATE qa_qareview AS r
SET status = 'in_review', claimed_by_id = %(user)s, claimed_at = %(now)s,
    lease_expires_at = %(lease)s, version = r.version + 1, updated_at = %(now)s
FROM next_review WHERE r.id = next_review.id
RETURNING r.id
"""


def _expire_leases(now: datetime) -> int:
    return QAReview.objects.filter(
        status=QAReview.Status.IN_REVIEW, lease_expires_at__lt=now
    ).update(status=QAReview.Status.NEW, claimed_by=None, claimed_at=None, lease_expires_at=None)


def review_claim_next(*, actor) -> QAReview | None:
    """Claim the most urgent QA review the actor may do (never one of their own decisions);
    None when the queue is empty. One UPDATE over a CTE with SKIP LOCKED."""
    if not can_review_qa(actor):
        raise PermissionDenied("QA reviews need the reviewer capability.")
    now = timezone.now()
    with transaction.atomic():
        _expire_leases(now)
        with connection.cursor() as cursor:
            cursor.execute(
                CLAIM_SQL,
                {
                    "user": actor.pk,
                    "teams": teams_of(actor) or [""],
                    "now": now,
                    "lease": now + LEASE,
                },
            )
            row = cursor.fetchone()
    if row is None:
        return None
    return QAReview.objects.get(pk=row[0])


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


def _text(value, field: str, errors: dict, *, required: bool = False) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if value is None:
        errors[field] = "Must be text."
        return ""
    if required and not value:
        errors[field] = "Required."
    elif len(value) > MAX_TEXT:
        errors[field] = f"At most {MAX_TEXT} characters."
    return value


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
    notes = _text(notes, "notes", errors)
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
    notes = _text(notes, "notes", errors)
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
        timeline.record(review.case_id, QA_REVIEW_SCORED, actor, review_id=review.pk, passed=passed)
        Notification.objects.create(
            user_id=review.analyst_id,
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
        if review.analyst_id != actor.pk:
            raise PermissionDenied("Only the analyst whose decision was reviewed responds.")
        if not can_respond_to_review(actor, review):
            raise QAConflict("This feedback is already answered.")
        review.feedback = QAReview.Feedback.ACKNOWLEDGED
        review.feedback_at = timezone.now()
        _save(review, actor)
    return review


def review_dispute(*, actor, review_id: int, reason: str) -> QAReview:
    """The analyst disputes a failed review; a senior other than the reviewer adjudicates."""
    errors: dict[str, str] = {}
    reason = _text(reason, "reason", errors, required=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        review = _lock(review_id, actor)
        if review.analyst_id != actor.pk:
            raise PermissionDenied("Only the analyst whose decision was reviewed disputes it.")
        if not can_respond_to_review(actor, review):
            raise QAConflict("This feedback is already answered.")
        if review.passed:
            raise QAConflict("Only a failed review can be disputed; acknowledge this one.")
        review.feedback = QAReview.Feedback.DISPUTED
        review.feedback_at = timezone.now()
        review.dispute_reason = reason
        _save(review, actor)
        timeline.record(review.case_id, QA_REVIEW_DISPUTED, actor, review_id=review.pk)
        _notify_adjudicators(review)
    return review


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
    notes = _text(notes, "notes", errors, required=True)
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
        timeline.record(
            review.case_id, QA_REVIEW_ADJUDICATED, actor, review_id=review.pk, upheld=uphold
        )
        Notification.objects.create(
            user_id=review.analyst_id,
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
    review = QAReview.objects.filter(pk=review_id).first()
    if review is None:
        raise Http404("No such QA review.")
    if not can_see_review(actor, review):
        raise HiddenObject("No such QA review.", actor=actor, obj=review)
    if review.status != QAReview.Status.SCORED or review.passed is not False:
        raise QAConflict("Only a failed QA review offers a reversal.")
    if not EnforcementAction.objects.filter(pk=action_id, decision_id=review.decision_id).exists():
        raise Http404("No such action on this decision.")
    if not has_capability(actor, "approve_actions"):
        raise PermissionDenied("Reversing actions needs a senior role.")
    reason = (reason or "").strip()
    return enforcement_services.action_reverse(
        actor=actor,
        action_id=action_id,
        reason=f"QA review #{review.pk}: {reason}" if reason else "",
    )


# --- Plans -------------------------------------------------------------------------------------

PLAN_FIELDS = (
    "name",
    "active",
    "rubric",
    "period",
    "reasons",
    "action_types",
    "roles",
    "decision_kind",
    "team",
    "size_mode",
    "fixed_size",
    "confidence",
    "margin",
    "expected_rate",
    "stratify_by",
    "always_action_types",
    "always_new_analyst_days",
)


def plan_save(
    *, actor, plan: SamplingPlan | None = None, data: dict, queues=(), analysts=()
) -> SamplingPlan:
    """Create or update a sampling plan (fields already validated by the form)."""
    if not can_run_qa(actor):
        raise PermissionDenied("Sampling plans are set by seniors.")
    if data.get("team") and data["team"] not in teams_of(actor):
        raise PermissionDenied("Only a member of a team samples that team's restricted cases.")
    with transaction.atomic():
        if plan is None:
            plan = SamplingPlan(created_by=actor)
        for field in PLAN_FIELDS:
            if field in data:
                setattr(plan, field, data[field])
        plan._history_user = actor
        plan.save()
        plan.queues.set(queues)
        plan.analysts.set(analysts)
    return plan
