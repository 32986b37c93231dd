"""Demo appeals: users contest a realistic share of the demo actions, through the real services.

Runs after the decisions step (apps are imported in INSTALLED_APPS order). About 8% of the
appealable actions get an appeal, filed by support or by the platform; most are decided by a
reviewer who had no part in the action (a fifth to a third overturned, some modified, the rest
upheld), and the latest stay new or in review, so the queue has appeals in every state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from appeals import services
from appeals.models import Appeal
from cases.models import CaseEvent
from cases.timeline import EventKind
from enforcement.appeal_window import appeal_eligibility
from enforcement.models import EnforcementAction
from tsops.demo import step
from tsops.models import Notification
from tsops.permissions import has_capability

SHARE = 0.08
# Small demos still show every state.
MINIMUM = 8
STATES = ("new", "in_review", "overturned", "modified", "upheld")
APPEAL_KINDS = [
    EventKind.APPEAL_FILED,
    EventKind.APPEAL_CLAIMED,
    EventKind.APPEAL_DECIDED,
    EventKind.CASE_REOPENED,
]

STATEMENTS = [
    "My account was hacked last week; I did not post this. I have since changed my password.",
    "This was a joke between friends, nobody was targeted. Please look at the whole thread.",
    "I am a small shop and this listing is legal where I live. I can send the licence.",
    "The post quoted someone else's abuse to call it out, it was not my opinion.",
    "I did not know this broke the rules. It was my first time, a warning would have been fair.",
    "The link goes to my own website, it is not spam. I post it once a day at most.",
    "That is my real name and my real photo, I am not impersonating anyone.",
    "A 30-day suspension for one comment is far too harsh.",
    "The video is news footage, already shown on TV, not glorifying anything.",
]
OVERTURN_RATIONALES = [
    "The login history shows a takeover at the time; the owner did not post this.",
    "Read in context the post condemns the abuse it quotes; no violation.",
    "The link is the user's own shop, posted at a normal rate; not spam under the section.",
]
UPHOLD_RATIONALES = [
    "The content matches the section as decided; the statement adds nothing that changes it.",
    "Repeated behaviour on the account; the action is proportionate.",
]
MODIFY_RATIONALES = [
    "A violation, but a first offence: the action was heavier than the ladder recommends.",
]
RESPONSES = {
    "overturned": "We looked at your appeal again and reversed the action. Sorry for the trouble.",
    "modified": "We reviewed your appeal: the content did break our rules, but we have replaced "
    "the action with a lighter one.",
    "upheld": "We reviewed your appeal carefully. The action stands: the content breaks our "
    "rules as explained in the original notice.",
}


def lighter(action: EnforcementAction) -> dict | None:
    """A proportionate lighter replacement for ``action``, or None when there is none."""
    kind = action.action_type
    if kind == "ban":
        return {"type": "suspend", "duration_hours": 720}
    if kind == "suspend":
        hours = action.duration_hours or 0
        return {"type": "suspend", "duration_hours": 24} if hours > 72 else {"type": "warn"}
    if kind in ("restrict_feature", "require_verification", "demonetize"):
        return {"type": "warn"}
    if kind in ("remove_content", "reduce_distribution", "age_restrict"):
        return {"type": "label"}
    return None


@dataclass
class Plan:
    action: EnforcementAction
    state: str
    filed_at: datetime
    reviewer: object | None = None


def _reviewers(action: EnforcementAction, candidates: list) -> list:
    """Demo members who may review an appeal on ``action`` (mirrors the service's rules, so
    a plan never asks the service for something it refuses)."""
    if action.case.restricted:
        return []
    involved = {action.decision.decided_by_id, action.proposed_by_id, action.approved_by_id}
    people = [u for u in candidates if u.pk not in involved]
    if action.action_type == "ban":
        people = [u for u in people if has_capability(u, "approve_actions")]
    return people


def _plan(rng: random.Random, actions: list, candidates: list, now: datetime) -> list[Plan]:
    plans = []
    for action in actions:
        start = action.starts_at or action.created_at
        reviewers = _reviewers(action, candidates)
        roll = rng.random()
        if roll < 0.1 or not reviewers:
            state = "new"
        elif roll < 0.2:
            state = "in_review"
        elif roll < 0.42:
            state = "overturned"
        elif roll < 0.47 and lighter(action):
            state = "modified"
        else:
            state = "upheld"
        # Open appeals arrived in the last few days (a few already past due); decided ones
        # any time after the action.
        is_open = state in ("new", "in_review")
        earliest = max(start, now - timedelta(hours=80)) if is_open else start
        latest = now - timedelta(hours=2 if is_open else 30)
        if latest <= earliest:
            latest = earliest + timedelta(minutes=30)
        span = (latest - earliest).total_seconds()
        filed_at = earliest + timedelta(seconds=rng.uniform(0.05, 1.0) * span)
        plans.append(Plan(action, state, min(filed_at, now), rng.choice(reviewers or [None])))
    # Every state at least once, when there are enough appeals to go round.
    counts = {s: sum(1 for p in plans if p.state == s) for s in STATES}
    for state in STATES:
        if counts[state]:
            continue
        for plan in plans:
            feasible = plan.reviewer is not None and (state != "modified" or lighter(plan.action))
            if counts[plan.state] > 1 and feasible:
                counts[plan.state] -= 1
                plan.state = state
                counts[state] += 1
                break
    return plans


def _backdate(appeal: Appeal, filed_at: datetime, decided_at: datetime | None, now) -> None:
    """Move the appeal, its timeline entries and its effects to when they happened."""
    shift = appeal.filed_at - filed_at
    updates = {"filed_at": filed_at, "due_at": appeal.due_at - shift}
    if appeal.claimed_at:
        updates["claimed_at"] = decided_at or appeal.claimed_at
    if decided_at is not None:
        updates["decided_at"] = decided_at
    Appeal.objects.filter(pk=appeal.pk).update(**updates)
    events = CaseEvent.objects.filter(case_id=appeal.case_id, kind__in=APPEAL_KINDS, at__gt=now)
    events.filter(kind=EventKind.APPEAL_FILED).update(at=filed_at)
    if decided_at is not None:
        events.exclude(kind=EventKind.APPEAL_FILED).update(at=decided_at)
        EnforcementAction.objects.filter(pk=appeal.action_id, status="reversed").update(
            ended_at=decided_at
        )
        replacement = appeal.replacement_action
        if replacement is not None:
            hours = replacement.duration_hours
            EnforcementAction.objects.filter(pk=replacement.pk).update(
                starts_at=decided_at,
                created_at=decided_at,
                expires_at=decided_at + timedelta(hours=hours) if hours else None,
            )
        # Feedback older than a week has been read.
        Notification.objects.filter(
            kind="appeal_overturned", created_at__gt=now, link=f"/cases/{appeal.case_id}/"
        ).update(
            created_at=decided_at,
            read_at=decided_at + timedelta(hours=3)
            if decided_at < now - timedelta(days=7)
            else None,
        )


def _seed_one(rng: random.Random, plan: Plan, filers: list, now: datetime) -> None:
    """File the planned appeal and take it as far as its planned state."""
    action = plan.action
    appeal, _ = services.appeal_file(
        actor=rng.choice(filers),
        action_id=action.pk,
        statement=rng.choice(STATEMENTS),
        appellant_id=f"appellant-{action.subject_id}",
        external_id=f"demo-appeal-{action.pk}",
    )
    started = timezone.now()
    decided_at = None
    if plan.state == "in_review":
        services.appeal_claim(actor=plan.reviewer, appeal_id=appeal.pk)
    elif plan.state in ("overturned", "modified", "upheld"):
        # Most within the 72-hour SLA, a few late.
        hours = min(rng.lognormvariate(3.2, 0.6), 110)
        decided_at = min(plan.filed_at + timedelta(hours=hours), now - timedelta(hours=1))
        if decided_at <= plan.filed_at:
            # Filed within the last hour (an action taken just now): decided since.
            decided_at = plan.filed_at + (now - plan.filed_at) / 2
        rationales = {
            "overturned": OVERTURN_RATIONALES,
            "modified": MODIFY_RATIONALES,
            "upheld": UPHOLD_RATIONALES,
        }[plan.state]
        # Decided straight from "new" (the service allows it): a claim first would only add a
        # timeline line and double the time this step takes.
        services.appeal_decide(
            actor=plan.reviewer,
            appeal_id=appeal.pk,
            outcome=plan.state,
            rationale=rng.choice(rationales),
            response_to_user=RESPONSES[plan.state],
            replacement_action=lighter(action) if plan.state == "modified" else None,
        )
    appeal.refresh_from_db()
    _backdate(appeal, plan.filed_at, decided_at, started - timedelta(seconds=1))


@step("appeals")
def seed_appeals(*, stdout, scale: float) -> None:
    user_model = get_user_model()
    filers = list(user_model.objects.filter(username__in=["support", "platform"]))
    candidates = list(
        user_model.objects.filter(username__in=["analyst", "analyst2", "analyst3", "senior"])
    )
    rng = random.Random(20)  # noqa: S311 - reproducible demo data
    now = timezone.now()
    appealable = [
        action
        for action in EnforcementAction.objects.filter(
            status__in=[EnforcementAction.Status.ACTIVE, EnforcementAction.Status.EXPIRED],
            appeals__isnull=True,
        )
        .select_related("case", "decision")
        .prefetch_related("appeals")
        .order_by("id")
        if appeal_eligibility(action, now=now).eligible
    ]
    chosen = [a for a in appealable if rng.random() < SHARE]
    if len(chosen) < MINIMUM:
        rest = [a for a in appealable if a not in chosen]
        chosen += rng.sample(rest, min(MINIMUM - len(chosen), len(rest)))
    plans = _plan(rng, chosen, candidates, now)

    counts = dict.fromkeys(STATES, 0)
    # One transaction: the outbox is handed over once, not once per appeal.
    with transaction.atomic():
        for plan in sorted(plans, key=lambda p: p.filed_at):
            _seed_one(rng, plan, filers, now)
            counts[plan.state] += 1
    decided = counts["overturned"] + counts["modified"] + counts["upheld"]
    rate = (counts["overturned"] + counts["modified"]) / decided if decided else 0
    stdout.write(
        f"  {len(plans)} appeals: {counts['new']} new, {counts['in_review']} in review, "
        f"{counts['upheld']} upheld, {counts['overturned']} overturned, "
        f"{counts['modified']} modified (overturn rate {rate:.0%}, "
        f"{(timezone.now() - now).total_seconds():.0f} s)\n"
    )
