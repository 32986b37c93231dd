"""Every read of QA reviews: the reviewer's queue, the blind view of a case, the revealed
decision, an analyst's feedback, disputes to adjudicate, and pass rates with intervals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.http import Http404
from django.utils import timezone

from cases.models import CaseEvent, Evidence, Note, Report
from cases.timeline import EventKind
from enforcement.models import EnforcementAction
from qa import stats
from qa.models import ErrorType, QAReview, Sample, SamplingPlan
from qa.permissions import can_adjudicate_review, can_run_qa, can_see_review
from tsops.errors import HiddenObject
from tsops.permissions import has_capability, teams_of

# What the reviewer may see of the case's history before answering: everything the analyst
# could have seen up to the decision, and nothing that tells what was decided.
BLIND_EVENT_KINDS = frozenset(
    {
        EventKind.CASE_CREATED,
        EventKind.REPORT_ADDED,
        EventKind.CASE_SEVERITY_RAISED,
        EventKind.CASE_SEVERITY_CHANGED,
        EventKind.CASE_MOVED,
        EventKind.CASE_TAGGED,
        EventKind.CASE_LINKED,
        EventKind.EVIDENCE_ADDED,
        EventKind.NOTE_ADDED,
    }
)


def _visible_reviews(actor) -> QuerySet[QAReview]:
    """Reviews of restricted cases only for their team's members."""
    return QAReview.objects.filter(Q(restricted=False) | Q(team__in=teams_of(actor)))


def review_get_for(*, actor, review_id: int) -> QAReview:
    """The review, or 404 when it does not exist or the actor may not see it."""
    review = (
        QAReview.objects.select_related(
            "case",
            "case__subject",
            "case__subject__owner",
            "queue",
            "analyst",
            "reviewer",
            "rubric",
            "sample__plan",
            "adjudicated_by",
        )
        .filter(pk=review_id)
        .first()
    )
    if review is None:
        raise Http404("No such QA review.")
    if not can_see_review(actor, review):
        raise HiddenObject("No such QA review.", actor=actor, obj=review)
    return review


def review_queue(*, actor, status: str = "open", limit: int = 200) -> list[QAReview]:
    """Reviews for the reviewers' queue: open ones (never the actor's own decisions), the
    actor's claimed or answered ones, or the scored ones the actor reviewed."""
    reviews = _visible_reviews(actor).select_related("queue", "case")
    if status == "mine":
        reviews = reviews.filter(
            Q(claimed_by=actor, status=QAReview.Status.IN_REVIEW)
            | Q(reviewer=actor, status=QAReview.Status.ANSWERED)
        )
    elif status == "scored":
        reviews = reviews.filter(reviewer=actor, status=QAReview.Status.SCORED).order_by(
            "-scored_at"
        )
        return list(reviews[:limit])
    else:
        reviews = reviews.filter(status=QAReview.Status.NEW).exclude(analyst=actor)
    return list(reviews.order_by("severity", "decided_at", "id")[:limit])


def review_counts(*, actor) -> dict[str, int]:
    """How many reviews wait for the actor: open in the queue, and held by them."""
    reviews = _visible_reviews(actor)
    return reviews.aggregate(
        open=Count("id", filter=Q(status=QAReview.Status.NEW) & ~Q(analyst=actor)),
        mine=Count(
            "id",
            filter=Q(claimed_by=actor, status=QAReview.Status.IN_REVIEW)
            | Q(reviewer=actor, status=QAReview.Status.ANSWERED),
        ),
    )


@dataclass
class BlindView:
    """The case as the analyst saw it when deciding: nothing of the decision itself."""

    case: object
    subject: object
    account: object
    report_groups: list[dict]
    reports: list[Report]
    evidence: list[Evidence]
    notes: list[Note]
    events: list[CaseEvent]
    prior_actions: list[EnforcementAction]


def blind_view(review: QAReview) -> BlindView:
    """What the reviewer works from before answering, cut at the moment of the decision:
    reports, evidence and others' notes from before it, the history events that do not
    reveal an outcome, and the account's earlier enforcement (not this decision's)."""
    case = review.case
    cut = review.decided_at
    reports = Report.objects.filter(case=case, received_at__lte=cut)
    groups = list(
        reports.values("reason")
        .annotate(
            total=Count("id"),
            automated=Count("id", filter=Q(source=Report.Source.AUTOMATED_FLAG)),
            human=Count("id", filter=~Q(source=Report.Source.AUTOMATED_FLAG)),
        )
        .order_by("-total", "reason")
    )
    events = list(
        CaseEvent.objects.filter(case=case, at__lte=cut, kind__in=BLIND_EVENT_KINDS)
        .select_related("actor")
        .order_by("at", "id")[:200]
    )
    account = case.subject.account
    prior = []
    if account is not None:
        prior = list(
            EnforcementAction.objects.filter(
                Q(subject=account) | Q(subject__owner=account), created_at__lt=cut
            )
            .exclude(decision_id=review.decision_id)
            .exclude(case__restricted=True)
            .select_related("decision__policy_section")
            .order_by("-created_at")[:20]
        )
    return BlindView(
        case=case,
        subject=case.subject,
        account=account,
        report_groups=groups,
        reports=list(reports.order_by("-received_at", "-id")[:50]),
        evidence=list(Evidence.objects.filter(case=case, created_at__lte=cut).order_by("pk")),
        # The decider's own notes would tell the reviewer what they were about to decide.
        notes=list(
            Note.objects.filter(case=case, created_at__lte=cut)
            .exclude(author_id=review.analyst_id)
            .select_related("author")
            .order_by("created_at")
        ),
        events=events,
        prior_actions=prior,
    )


def original_decision(review: QAReview) -> dict | None:
    """The decision under review with its actions — only once the reviewer has answered."""
    if not review.revealed:
        return None
    decision = review.decision
    actions = list(decision.actions.order_by("pk"))
    return {
        "decision": decision,
        "outcome": decision.outcome,
        "policy_section": decision.policy_section,
        "rationale": decision.rationale,
        "statement_of_reasons": decision.statement_of_reasons,
        "automated": decision.automated,
        "decided_by": decision.decided_by,
        "actions": actions,
    }


def feedback_for_analyst(*, actor, limit: int = 200) -> list[QAReview]:
    """The actor's own reviewed decisions, newest first."""
    return list(
        QAReview.objects.filter(analyst=actor, status=QAReview.Status.SCORED)
        .select_related("case", "queue", "policy_section")
        .order_by("-scored_at")[:limit]
    )


def disputes_to_adjudicate(*, actor, limit: int = 200) -> list[QAReview]:
    """Open disputes the actor may settle (never ones they reviewed or decided)."""
    if not has_capability(actor, "adjudicate_qa"):
        return []
    reviews = (
        _visible_reviews(actor)
        .filter(feedback=QAReview.Feedback.DISPUTED)
        .select_related("case", "analyst", "reviewer", "queue")
        .order_by("feedback_at")[: limit * 2]
    )
    return [r for r in reviews if can_adjudicate_review(actor, r)][:limit]


def plan_list(*, actor) -> list[SamplingPlan]:
    if not can_run_qa(actor):
        return []
    teams = teams_of(actor)
    return list(
        SamplingPlan.objects.filter(Q(team="") | Q(team__in=teams))
        .select_related("rubric")
        .order_by("-active", "name")
    )


def plan_get_for(*, actor, plan_id: int) -> SamplingPlan:
    plan = SamplingPlan.objects.select_related("rubric", "created_by").filter(pk=plan_id).first()
    if plan is None:
        raise Http404("No such sampling plan.")
    if not can_run_qa(actor) or (plan.team and plan.team not in teams_of(actor)):
        raise HiddenObject("No such sampling plan.", actor=actor, obj=plan)
    return plan


def sample_get_for(*, actor, sample_id: int) -> Sample:
    sample = Sample.objects.select_related("plan").filter(pk=sample_id).first()
    if sample is None:
        raise Http404("No such sample.")
    plan_get_for(actor=actor, plan_id=sample.plan_id)
    return sample


def sample_reviews(sample: Sample) -> list[QAReview]:
    return list(
        sample.reviews.select_related("analyst", "reviewer", "queue", "case").order_by(
            "inclusion", "pk"
        )
    )


# --- Pass rates --------------------------------------------------------------------------------

GROUPINGS = {
    "analyst": ("analyst_id", "analyst__username"),
    "queue": ("queue_id", "queue__name"),
    "policy_section": ("policy_section__code", "policy_section__code"),
    "period": ("week", "week"),
    "inclusion": ("inclusion", "inclusion"),
}


@dataclass
class RateRow:
    key: object
    label: str
    n: int
    passed: int
    rate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "n": self.n,
            "passed": self.passed,
            "pass_rate": self.rate,
            "interval_low": self.low,
            "interval_high": self.high,
        }


def _rate_row(key, label, n: int, passed: int) -> RateRow:
    interval = stats.wilson_interval(passed, n)
    return RateRow(
        key=key,
        label=str(label if label is not None else "—"),
        n=n,
        passed=passed,
        rate=passed / n if n else None,
        low=interval[0] if interval else None,
        high=interval[1] if interval else None,
    )


def scored_reviews(
    *,
    actor,
    start: date | None = None,
    end: date | None = None,
    analyst_id: int | None = None,
    include_targeted: bool = False,
) -> QuerySet[QAReview]:
    """The scored reviews a quality figure is computed over, as the actor may see them:
    seniors (run_qa) the whole team's (restricted ones only for their team), everyone else
    only their own decisions. By default only the random draw counts — always-included
    decisions (every ban, new analysts) are chosen on purpose and would bias the estimate.
    ``end`` is inclusive."""
    reviews = _visible_reviews(actor).filter(status=QAReview.Status.SCORED, passed__isnull=False)
    if not can_run_qa(actor):
        reviews = reviews.filter(analyst=actor)
    if analyst_id is not None:
        reviews = reviews.filter(analyst_id=analyst_id)
    if not include_targeted:
        reviews = reviews.filter(inclusion=QAReview.Inclusion.RANDOM)
    tz = timezone.get_current_timezone()
    if start is not None:
        reviews = reviews.filter(scored_at__gte=datetime.combine(start, time.min, tz))
    if end is not None:
        reviews = reviews.filter(
            scored_at__lt=datetime.combine(end + timedelta(days=1), time.min, tz)
        )
    return reviews


def pass_rates(
    *,
    actor,
    group_by: str = "analyst",
    start: date | None = None,
    end: date | None = None,
    analyst_id: int | None = None,
    include_targeted: bool = False,
) -> dict:
    """QA pass rate overall and per group, each with its sample size and 95% Wilson
    interval; plus the error-type breakdown of the failed ones."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    reviews = scored_reviews(
        actor=actor,
        start=start,
        end=end,
        analyst_id=analyst_id,
        include_targeted=include_targeted,
    )
    key_field, label_field = GROUPINGS[group_by]
    grouped = reviews
    if group_by == "period":
        grouped = grouped.annotate(week=TruncWeek("scored_at"))
    values = (key_field, label_field) if key_field != label_field else (key_field,)
    rows = (
        grouped.values(*values)
        .annotate(n=Count("id"), passed=Count("id", filter=Q(passed=True)))
        .order_by(key_field)
    )
    groups = []
    for row in rows:
        key = row[key_field]
        label = row[label_field]
        if group_by == "period" and key is not None:
            key = key.date().isoformat()
            label = f"Week of {key}"
        groups.append(_rate_row(key, label, row["n"], row["passed"]))
    totals = reviews.aggregate(n=Count("id"), passed=Count("id", filter=Q(passed=True)))
    overall = _rate_row("all", "All", totals["n"], totals["passed"])
    errors = {value: 0 for value in ErrorType.values}
    for types in reviews.filter(passed=False).values_list("error_types", flat=True):
        for error_type in types:
            errors[error_type] = errors.get(error_type, 0) + 1
    return {
        "group_by": group_by,
        "overall": overall,
        "groups": groups,
        "errors": [
            {"type": value, "label": ErrorType(value).label, "count": errors[value]}
            for value in ErrorType.values
        ],
        "include_targeted": include_targeted,
    }
