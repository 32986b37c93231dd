"""Rule inputs as of a moment: a reversal later on changes what a later report sees, never
what an earlier one saw (the account's standing then, as a backtest replays it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from detection.inputs import build_inputs
from enforcement import services as enforcement
from enforcement.models import EnforcementAction, Strike
from tests.detection.test_rules_intake import (  # noqa: F401 (fixtures)
    T0,
    _facts,
    decided_account,
    live,
    senior2,
    submit,
)
from tests.factories import SubjectPayloadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reversed_account(decided_account, senior):  # noqa: F811
    """The decision's actions (and with them its strike) reversed by a senior at T0 + 4 days."""
    with time_machine.travel(T0 + timedelta(days=4), tick=False):
        for action in EnforcementAction.objects.filter(
            decision__case__subject__owner=decided_account
        ):
            enforcement.action_reverse(
                actor=senior, action_id=action.pk, reason="The link was a news article."
            )
    assert Strike.objects.get(account=decided_account).voided_at == T0 + timedelta(days=4)
    return decided_account


def test_a_reversal_counts_from_its_moment_on(reversed_account):
    before, between, after = build_inputs(
        [
            _facts(reversed_account, T0 + timedelta(days=1)),
            _facts(reversed_account, T0 + timedelta(days=3)),
            _facts(reversed_account, T0 + timedelta(days=5)),
        ]
    )
    assert (before["account.strikes"], before["account.active_restrictions"]) == (0, ())
    assert between["account.strikes"] > 0 and between["account.active_restrictions"] == ("warn",)
    # Reversed: the strike no longer counts and nothing is in force; it was still applied once.
    assert (after["account.strikes"], after["account.active_restrictions"]) == (0, ())
    assert after["account.prior_actions"] == between["account.prior_actions"] >= 1
    assert before["account.prior_actions"] == 0


def test_intake_after_the_reversal_sees_a_clean_standing(
    platform_account,
    live,  # noqa: F811
    reversed_account,
):
    live("account.strikes > 0", [{"type": "tag", "tag": "repeat-offender"}])
    live('"warn" in account.active_restrictions', [{"type": "tag", "tag": "warned"}])
    with time_machine.travel(T0 + timedelta(days=5), tick=False):
        later = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-asof"))
    assert later.tags == []
