"""Demo decisions: most demo cases decided realistically, through the real services."""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases.lifecycle import case_lock, case_transition
from cases.models import Case
from cases.timeline import EventKind
from enforcement import services
from enforcement.models import EnforcementAction
from enforcement.selectors import policy_sections_for_reason
from tsops.demo import step
from tsops.progress import Progress

# reason -> typical actions for a violation
ACTIONS_BY_REASON = {
    "spam": [[{"type": "remove_content"}], [{"type": "remove_content"}, {"type": "warn"}]],
    "scam_fraud": [
        [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 168}],
        [{"type": "hold_transaction"}, {"type": "suspend", "duration_hours": 720}],
    ],
    "harassment": [
        [{"type": "remove_content"}, {"type": "warn"}],
        [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 72}],
    ],
    "hate": [[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 24}]],
    "violent_threat": [[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 720}]],
    "child_safety": [[{"type": "remove_content"}, {"type": "ban"}]],
    "self_harm": [[{"type": "age_restrict"}], [{"type": "remove_content"}]],
    "impersonation": [
        [{"type": "require_verification"}],
        [{"type": "suspend", "duration_hours": 72}],
    ],
    "account_takeover": [[{"type": "require_verification"}]],
    "doxxing": [[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 168}]],
    "ip_infringement": [[{"type": "remove_content"}]],
    "illegal_goods": [
        [
            {"type": "remove_content"},
            {"type": "restrict_feature", "feature": "selling", "duration_hours": 720},
        ]
    ],
    "misinformation": [[{"type": "label"}], [{"type": "reduce_distribution"}]],
    "other": [[{"type": "remove_content"}]],
}
ACCOUNT_ACTIONS = {
    "warn",
    "suspend",
    "ban",
    "require_verification",
    "restrict_feature",
    "demonetize",
}


# Response templates: one user message per section, and rationale snippets for the busiest.
DEMO_MESSAGE = (
    "We reviewed your content under our policy “{section_title}” and found that it breaks "
    "this policy. As a result we {action}. {closing}You can appeal this decision until "
    "{appeal_deadline} from the notice in your account."
)
DEMO_CLOSINGS = {
    "CHILD-5.1": "This decision is final for the account and we have reported it as the law "
    "requires. ",
    "VIOL-4.1": "Threats of violence put people at risk, whatever the intent. ",
    "SPAM-1.1": "Repeated spam leads to longer restrictions (this one lasts: {duration}). ",
}
DEMO_SNIPPETS = {
    "SPAM-1.1": [
        (
            "Link farm",
            "Post exists to drive traffic to an off-platform shop; same link posted "
            "across many threads within minutes.",
        ),
        (
            "Repeat offender",
            "Account has prior spam removals in the last 90 days; escalating "
            "per the strike ladder.",
        ),
    ],
    "FRAUD-2.1": [
        (
            "Advance-fee scam",
            "Asks for an upfront payment or gift cards in exchange for a "
            "prize, job or loan; classic advance-fee pattern.",
        ),
        (
            "Off-platform payment",
            "Pushes the buyer to pay outside the platform's protected "
            "checkout; matches the fraud desk's current wave.",
        ),
    ],
    "HARASS-3.1": [
        (
            "Targeted, repeated",
            "Content targets a named person and is part of a series from "
            "the same account within the last week.",
        ),
    ],
    "VIOL-4.1": [
        (
            "Credible and specific",
            "Names a target, a place or a time; treated as credible per "
            "section guidance regardless of a joking tone.",
        ),
    ],
    "CHILD-5.1": [
        (
            "Hash match",
            "Media matched a known hash list entry; not opened, handled per the "
            "child-safety procedure.",
        ),
    ],
}


@step("response templates")
def seed_response_templates(*, stdout, scale: float) -> None:
    """A user message for every current section and rationale snippets for the busiest, kept
    by the demo senior; one message revised once, so its history shows two versions."""
    from enforcement import responses
    from enforcement.models import ResponseTemplate
    from enforcement.selectors import policy_sections_current

    if ResponseTemplate.objects.exists():
        return
    senior = get_user_model().objects.get(username="senior")
    for section in policy_sections_current().order_by("code"):
        closing = DEMO_CLOSINGS.get(section.code, "")
        responses.response_template_create(
            actor=senior,
            section_code=section.code,
            kind=ResponseTemplate.Kind.MESSAGE,
            title="Standard notice",
            body=DEMO_MESSAGE.replace("{closing}", closing),
        )
        for title, body in DEMO_SNIPPETS.get(section.code, []):
            responses.response_template_create(
                actor=senior,
                section_code=section.code,
                kind=ResponseTemplate.Kind.RATIONALE,
                title=title,
                body=body,
            )
    first = ResponseTemplate.objects.filter(section_code="HARASS-3.1", kind="message").first()
    if first is not None:
        responses.response_template_revise(
            actor=senior,
            template_id=first.pk,
            title=first.title,
            body=first.body.replace("it breaks this policy", "it targets a person"),
        )
    stdout.write(f"  response templates: {ResponseTemplate.objects.count()} versions")


DECISION_MINUTES = {0: 6, 1: 25, 2: 170, 3: 560}


@step("decisions")
def seed_decisions(*, stdout, scale: float) -> None:
    user_model = get_user_model()
    deciders = list(
        user_model.objects.filter(
            username__in=["analyst", "analyst2", "analyst3", "associate", "associate2"]
        )
    )
    senior = user_model.objects.get(username="senior")
    childsafety = user_model.objects.filter(username="childsafety").first()
    rng = random.Random(4)  # noqa: S311 - reproducible demo data
    now = timezone.now()
    # A team that mostly keeps up: the last few hours' arrivals are open, a fifth of the last
    # two days' still wait (some past their deadlines), and a few old cases are stuck.
    candidates = list(
        Case.objects.filter(status="new", created_at__lt=now - timedelta(hours=4))
        .select_related("subject", "queue")
        .order_by("created_at")
    )
    recent = now - timedelta(days=2)
    candidates = [c for c in candidates if rng.random() < (0.8 if c.created_at > recent else 0.99)]
    progress = Progress("decisions", len(candidates))
    made = pending = 0
    for case in candidates:
        # Time to decide: exponential around a share of the severity's first-action target,
        # so most cases meet it and a tail breaches.
        mean = DECISION_MINUTES.get(case.severity, 240)
        decided_at = case.created_at + timedelta(minutes=5 + rng.expovariate(1 / mean))
        if decided_at > now - timedelta(hours=1):
            progress.advance()
            continue
        if case.restricted:
            decider = childsafety
            if decider is None:
                progress.advance()
                continue
        else:
            from cases.visibility import can_work_queue

            options = [u for u in deciders if can_work_queue(u, case.queue)]
            decider = rng.choice(options) if options else senior
        roll = rng.random()
        sections = policy_sections_for_reason(case.reason)
        with transaction.atomic():
            # Claimed at the (backdated) moment of the decision, as the decider would have.
            case = case_transition(
                case_lock(case.pk, decider),
                Case.Status.IN_REVIEW,
                actor=decider,
                reason="claimed",
                event=EventKind.CASE_CLAIMED,
                data={"queue": case.queue.slug},
                at=decided_at,
            )
            if roll < 0.22 or not sections:
                services.decision_make(
                    actor=decider,
                    case_id=case.pk,
                    version=case.version,
                    outcome="no_violation" if roll < 0.17 else "insufficient_evidence",
                    rationale="Reviewed the content and context; it does not break the policy.",
                    at=decided_at,
                )
            else:
                actions = [
                    dict(a)
                    for a in rng.choice(ACTIONS_BY_REASON.get(case.reason, [[{"type": "warn"}]]))
                ]
                if case.subject.kind == "account":
                    actions = [a for a in actions if a["type"] in ACCOUNT_ACTIONS] or [
                        {"type": "warn"}
                    ]
                if case.subject.account is None:
                    actions = [a for a in actions if a["type"] not in ACCOUNT_ACTIONS] or [
                        {"type": "remove_content"}
                    ]
                if rng.random() < 0.03 and case.subject.account is not None:
                    actions.append({"type": "ban"})
                decision = services.decision_make(
                    actor=decider,
                    case_id=case.pk,
                    version=case.version,
                    outcome="violation",
                    policy_section=sections[0].code,
                    rationale=f"Matches {sections[0].code}: {case.reason.replace('_', ' ')} "
                    "confirmed from the reported content and the account's history.",
                    actions=actions,
                    at=decided_at,
                )
                waiting = decision.actions.filter(status="pending_approval")
                for action in waiting:
                    approve_at = decided_at + timedelta(minutes=rng.randrange(10, 240))
                    if approve_at > now - timedelta(minutes=30) or rng.random() < 0.1:
                        pending += 1
                        continue
                    approver = senior if action.proposed_by != senior else None
                    if approver is None or case.restricted:
                        pending += 1
                        continue
                    if rng.random() < 0.12:
                        services.action_reject(
                            actor=approver,
                            action_id=action.pk,
                            reason="Not proportionate for a first offence; suspend instead.",
                        )
                    else:
                        services.action_approve(actor=approver, action_id=action.pk, at=approve_at)
        made += 1
        progress.advance()
    progress.finish()
    from cases.demo import claim_some

    claim_some(stdout)
    expired = services.actions_expire_due(limit=100_000)
    reversed_count = 0
    for action in EnforcementAction.objects.filter(
        status="active", action_type="suspend", case__restricted=False
    ).order_by("?")[:15]:
        services.action_reverse(
            actor=senior,
            action_id=action.pk,
            reason="Reviewed again: the account was compromised at the time.",
        )
        reversed_count += 1
    stdout.write(
        f"  {made} decisions, {pending} actions awaiting approval, {expired} expired, "
        f"{reversed_count} reversed\n"
    )
