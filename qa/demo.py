"""Demo QA: two sampling plans, a week of daily draws over the demo decisions, reviews in
every state (waiting, claimed, answered, scored pass and fail), feedback acknowledged and
disputed, disputes adjudicated both ways, and two calibration sessions.

Runs after the decisions and appeals steps (INSTALLED_APPS order), through the real services;
only the timestamps are moved back afterwards so the figures spread over the week.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models.functions import TruncDate
from django.utils import timezone

from enforcement.models import Decision
from qa import services
from qa.models import QAReview, Rubric, SamplingPlan
from tsops.demo import step
from tsops.permissions import has_capability

DAYS = 7
NOTES_PASS = [
    "Clear violation, right section, action fits the history.",
    "Good call. The rationale could cite the report count, but it is fine.",
    "Agree on all points.",
]
NOTES_FAIL = [
    ("false_positive", "The link is a news article about the scam, not the scam itself."),
    ("wrong_policy", "This is impersonation (IMP-1), not harassment."),
    ("wrong_action", "First offence: a warning was enough; the suspension is disproportionate."),
    ("documentation", "No evidence captured: the content may be deleted before an appeal."),
    ("false_negative", "The second report shows a clear threat that was missed."),
]
DISPUTES = [
    "The article itself contains the phishing link in its body: see the evidence hash.",
    "The account had two prior warnings, visible in the strike history at the time.",
]


@step("qa")
def seed_qa(*, stdout, scale: float) -> None:
    users = get_user_model().objects
    senior = users.get(username="senior")
    judge = users.filter(username="senior2").first() or senior
    reviewers = [
        u
        for u in users.filter(username__in=["analyst", "analyst2", "analyst3", "senior"])
        if has_capability(u, "review_qa")
    ]
    rubric = Rubric.objects.get(name="Default")
    daily = services.plan_save(
        actor=senior,
        data={
            "name": "Daily sample · all standard queues",
            "rubric": rubric,
            "period": SamplingPlan.Period.DAY,
            "size_mode": SamplingPlan.SizeMode.FIXED,
            "fixed_size": max(6, round(20 * scale)),
            "stratify_by": SamplingPlan.Stratify.ANALYST,
            "decision_kind": SamplingPlan.DecisionKind.HUMAN,
            "always_action_types": ["ban"],
            "always_new_analyst_days": 30,
        },
    )
    services.plan_save(
        actor=senior,
        data={
            "name": "Weekly estimate · ±5 points at 95%",
            "rubric": rubric,
            "period": SamplingPlan.Period.WEEK,
            "size_mode": SamplingPlan.SizeMode.MARGIN,
            "confidence": 0.95,
            "margin": 0.05,
            "stratify_by": SamplingPlan.Stratify.QUEUE,
        },
    )
    rng = random.Random(7)
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    # The last week of days that have decisions (small demos bunch their decisions up).
    days = sorted(
        Decision.objects.filter(created_at__lt=today, automated=False)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("day", flat=True)
        .distinct()
        .order_by("-day")[:DAYS]
    )
    samples = []
    for day in days:
        start = datetime.combine(day, time.min, UTC)
        sample, _ = services.sample_draw(
            actor=senior,
            plan_id=daily.pk,
            start=start,
            end=start + timedelta(days=1),
            seed=rng.getrandbits(62),
        )
        samples.append(sample)
    counts = {"scored": 0, "open": 0, "disputed": 0}
    seen = {"left_open": False, "upheld": False}
    # The newest three reviews are left waiting, claimed and answered, whatever the draws held,
    # so the reviewers' queue shows every state.
    left = ["new", "in_review", "answered"]
    for age, sample in enumerate(reversed(samples)):
        for review in sample.reviews.order_by("pk"):
            state = left.pop(0) if left else None
            counts[_work(review, age, reviewers, judge, rng, seen, state)] += 1
    stdout.write(
        f"  {len(samples)} daily QA samples: {counts['scored']} reviews scored "
        f"({counts['disputed']} disputed), {counts['open']} open\n"
    )
    try:
        from qa.demo_calibration import seed_calibration
    except ImportError:
        return
    participants = list(users.filter(username__in=["associate", "analyst", "analyst2", "analyst3"]))
    from cases.models import Case

    cases = list(Case.objects.filter(restricted=False, status="resolved").order_by("-pk")[:12])
    sessions = seed_calibration(senior=senior, participants=participants, cases=cases)
    stdout.write(f"  {len(sessions)} calibration sessions\n")


def _work(
    review: QAReview, age: int, reviewers, judge, rng: random.Random, seen: dict, state=None
) -> str:
    """Take one review to `state` if given, else as far as its age suggests: yesterday's partly
    open, older all scored."""
    reviewer = rng.choice([r for r in reviewers if r.pk != review.analyst_id])
    roll = rng.random()
    if state == "new" or (state is None and age == 0 and roll < 0.35):
        return "open"
    if state == "in_review" or (state is None and age == 0 and roll < 0.5):
        services.review_claim(actor=reviewer, review_id=review.pk)
        return "open"
    # Older samples hold at least two failures (one dispute left open, one settled).
    forced = age > 0 and seen.get("failed", 0) < 2
    correct = rng.random() < 0.82 and not forced
    decision = review.decision
    services.review_answer(
        actor=reviewer,
        review_id=review.pk,
        outcome=decision.outcome if correct else "no_violation",
        policy_section=decision.policy_section.code if decision.policy_section else "",
        notes="" if correct else "Reads as satire to me.",
    )
    if state == "answered" or (state is None and age == 0 and roll < 0.6):
        return "open"
    scores = dict.fromkeys((c["key"] for c in services.rubric_criteria(review.rubric)), True)
    error_types: list[str] = []
    notes = rng.choice(NOTES_PASS)
    if not correct:
        # (A documentation slip alone does not fail the default rubric.)
        error_type, notes = rng.choice(NOTES_FAIL[:-2] if forced else NOTES_FAIL)
        error_types = [error_type]
        failing = {
            "false_positive": "correct_outcome",
            "false_negative": "correct_outcome",
            "wrong_policy": "correct_policy_section",
            "wrong_action": "proportionate_action",
            "documentation": "evidence_complete",
        }[error_type]
        scores[failing] = False
        if error_type in ("wrong_policy", "wrong_action"):
            scores["rationale_clear"] = False
    review = services.review_score(
        actor=reviewer, review_id=review.pk, scores=scores, error_types=error_types, notes=notes
    )
    # A day or two after the decision, but never in the future.
    scored_at = review.decided_at + timedelta(hours=20 + rng.randint(0, 30))
    latest = timezone.now() - timedelta(minutes=rng.randint(5, 90))
    scored_at = max(min(scored_at, latest), review.decided_at + timedelta(minutes=45))
    QAReview.objects.filter(pk=review.pk).update(
        answered_at=scored_at - timedelta(minutes=rng.randint(5, 40)), scored_at=scored_at
    )
    if age == 0:
        return "scored"
    if not review.passed:
        seen["failed"] = seen.get("failed", 0) + 1
    analyst = review.analyst
    if review.passed:
        # One passed review is always left unacknowledged; the rest mostly acknowledged.
        if seen.get("pending") and (not seen.get("acked") or rng.random() < 0.8):
            seen["acked"] = True
            services.review_acknowledge(actor=analyst, review_id=review.pk)
        seen["pending"] = True
        return "scored"
    if seen.get("disputes", 0) >= 2 and rng.random() < 0.4:
        services.review_acknowledge(actor=analyst, review_id=review.pk)
        return "scored"
    services.review_dispute(actor=analyst, review_id=review.pk, reason=rng.choice(DISPUTES))
    seen["disputes"] = seen.get("disputes", 0) + 1
    # Every other dispute is settled by the second lead (never the reviewer), both ways.
    settle = not seen.get("settled") or rng.random() < 0.5
    if not seen["left_open"]:
        seen["left_open"] = True
    elif settle and judge.pk != reviewer.pk:
        seen["settled"] = True
        seen["upheld"] = not seen["upheld"]
        services.review_adjudicate(
            actor=judge,
            review_id=review.pk,
            uphold=seen["upheld"],
            notes="Checked against the section's guidance and the evidence at the time.",
        )
    return "disputed"
