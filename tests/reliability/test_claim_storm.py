"""Claim storm: claimer processes SIGKILLed mid-claim never leave a case with two claims, and
every claim has its one timeline event (issue 9, scenario 1)."""

import pytest

from bench.reliability import scenarios
from tests.reliability.conftest import assert_passed

pytestmark = pytest.mark.slow


def test_claimers_killed_mid_claim_never_double_claim(stack):
    # Claimers call case_claim_next in their own processes, so a SIGKILL lands inside the
    # claim's transaction (over HTTP it would only cut the answer; the harness does both).
    outcome = scenarios.claim_storm(
        stack, cases=1000, claimers=8, kills=2, mode="direct", kill_every=0.7
    )
    assert outcome.figures["killed"] == 2
    assert outcome.figures["twice"] == 0
    assert outcome.figures["states"] == {"in_review": 1000}
    assert_passed(outcome)
