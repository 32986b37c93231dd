"""When strikes stop counting has one home: enforcement.strikes.strikes_void_unless_standing.

A violation's strikes count while one of its decision's actions stands (active, expired or
awaiting approval); rejecting or reversing the last of them — a senior, an overturned
appeal — voids them. A modified appeal keeps them: the violation stands, lighter.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from appeals.services import appeal_claim, appeal_decide, appeal_file
from cases.services import case_claim_next
from enforcement import services, strikes
from enforcement.models import Decision, EnforcementAction, Strike
from tests.factories import make_case

pytestmark = pytest.mark.django_db

ACCOUNT = "acct-strikes"


def decide(platform_account, analyst, key: str, actions: list[dict]) -> Decision:
    case = make_case(
        platform_account,
        reason="spam",
        subject={
            "kind": "content",
            "external_id": f"post-strikes-{key}",
            "owner_id": ACCOUNT,
            "text": "buy followers",
        },
    )
    case_claim_next(actor=analyst, queue=case.queue)
    case.refresh_from_db()
    return services.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Spam link farm",
        actions=actions,
    )


def counting(decision: Decision) -> bool:
    strike = Strike.objects.get(decision=decision)
    return strikes.is_counting(strike, timezone.now())


def by_type(decision: Decision, action_type: str) -> EnforcementAction:
    return decision.actions.get(action_type=action_type)


def test_strikes_stop_counting_only_when_the_last_standing_action_is_reversed(
    platform_account, analyst, senior
):
    decision = decide(
        platform_account,
        analyst,
        "a",
        [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 24}],
    )
    account = decision.case.subject.owner
    points = strikes.active_strikes(account)
    assert points > 0 and counting(decision)

    services.action_reverse(actor=senior, action_id=by_type(decision, "suspend").pk, reason="r")
    assert counting(decision) and strikes.active_strikes(account) == points

    services.action_reverse(
        actor=senior, action_id=by_type(decision, "remove_content").pk, reason="r"
    )
    assert not counting(decision) and strikes.active_strikes(account) == 0


def test_an_action_awaiting_approval_keeps_the_violation_standing(
    platform_account, analyst, senior
):
    # Remove content applies at once; a ban is above an analyst's ceiling and waits.
    decision = decide(platform_account, analyst, "b", [{"type": "remove_content"}, {"type": "ban"}])
    ban = by_type(decision, "ban")
    assert ban.status == EnforcementAction.Status.PENDING_APPROVAL

    services.action_reverse(
        actor=senior, action_id=by_type(decision, "remove_content").pk, reason="r"
    )
    assert counting(decision)

    services.action_reject(actor=senior, action_id=ban.pk, reason="Not enough for a ban")
    assert not counting(decision)


def test_the_rule_voids_nothing_while_an_action_stands(platform_account, analyst):
    decision = decide(platform_account, analyst, "c", [{"type": "remove_content"}])
    assert strikes.strikes_void_unless_standing(decision, at=timezone.now()) == 0
    assert counting(decision)
    EnforcementAction.objects.filter(decision=decision).update(
        status=EnforcementAction.Status.REVERSED
    )
    assert strikes.strikes_void_unless_standing(decision, at=timezone.now()) == 1
    assert not counting(decision)
    # Already void: nothing more to do.
    assert strikes.strikes_void_unless_standing(decision, at=timezone.now()) == 0


@pytest.mark.parametrize(
    "outcome, replacement, still_counting",
    [("overturned", None, False), ("modified", {"type": "warn"}, True)],
)
def test_an_overturned_appeal_voids_the_strikes_and_a_modified_one_keeps_them(
    platform_account, analyst, analyst2, support_agent, outcome, replacement, still_counting
):
    decision = decide(
        platform_account, analyst, outcome, [{"type": "suspend", "duration_hours": 72}]
    )
    appeal, _ = appeal_file(
        actor=support_agent,
        action_id=by_type(decision, "suspend").pk,
        statement="too harsh",
        external_id=f"strikes-{outcome}",
    )
    appeal_claim(actor=analyst2, appeal_id=appeal.pk)
    appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome=outcome,
        rationale="Reviewed",
        response_to_user="We looked again.",
        replacement_action=replacement,
    )
    assert by_type(decision, "suspend").status == EnforcementAction.Status.REVERSED
    assert counting(decision) is still_counting
