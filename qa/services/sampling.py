"""Sampling writes: the period a draw covers, a plan's population, the sample size, the seeded
draw itself (``sample_draw``, and ``samples_draw_due`` for beat), and saving plans."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.utils import timezone

from enforcement.models import Decision, EnforcementAction
from qa import stats
from qa.models import QAReview, Sample, SamplingPlan
from qa.permissions import can_run_qa
from qa.services.reviews import QAConflict
from tsops.errors import HiddenObject
from tsops.permissions import teams_of

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
