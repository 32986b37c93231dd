"""Redis outage: ingestion and decisions keep answering while Redis is stopped and then frozen,
the worker outlives the broker, and afterwards every event is delivered once and the missed
SLA sweep catches up (issue 9, scenario 3)."""

import pytest

from bench.reliability import scenarios
from tests.reliability.conftest import assert_passed

pytestmark = pytest.mark.slow


def test_console_answers_through_a_redis_outage_and_catches_up(stack):
    outcome = scenarios.redis_outage(
        stack,
        outage=5,
        freeze=3,
        decide_cases=60,
        sla_cases=20,
        warm=2,
        between=3,
        after=3,
        beat_scale=30,
        catch_up=120,
        web_workers=2,
    )
    requests, ok, _slowest = outcome.figures["outage"]
    assert requests > 0 and ok == requests, "requests while Redis was stopped must succeed"
    assert_passed(outcome)


def test_a_worker_outlives_the_broker_going_away_mid_task(stack):
    assert_passed(scenarios.worker_outlives_broker(stack, down=4))
