"""PostgreSQL restart: web, worker and beat recover by themselves from a restart and a crash,
requests meanwhile fail with 503 and never hang, and no acknowledged write is lost
(issue 9, scenario 5)."""

import pytest

from bench.reliability import scenarios
from tests.reliability.conftest import assert_passed

pytestmark = pytest.mark.slow


def test_a_restart_and_a_crash_under_load(stack):
    outcome = scenarios.postgres_restart(
        stack,
        down=3,
        crash=True,
        warm=3,
        after=4,
        synchronous_commit="on",
        threads=2,
        web_workers=2,
    )
    assert outcome.figures["failed_during"], "the outage must have been felt by some request"
    assert outcome.figures["lost"] == 0
    assert_passed(outcome)
