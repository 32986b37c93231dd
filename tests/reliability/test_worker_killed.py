"""Worker killed: a Celery worker SIGKILLed during rollups, action expiry and webhook delivery
completes the work after its restart, rollups equal a clean rebuild, no action expires twice,
and no acknowledged webhook is sent again beyond the requests in flight (issue 9,
scenario 4)."""

import pytest

from bench.reliability import scenarios
from tests.reliability.conftest import assert_passed

pytestmark = pytest.mark.slow


def test_work_completes_once_after_the_worker_is_killed(stack):
    outcome = scenarios.worker_killed(
        stack,
        reports=600,
        actions=60,
        history_days=10,
        fast_forward_locks=True,
        beat_scale=30,
        receiver_delay_ms=30,
    )
    assert outcome.figures["rollup_rows"] > 0
    assert_passed(outcome)


def test_a_killed_dispatcher_leaves_only_its_requests_in_flight_unrecorded(stack):
    # Deterministic: the receiver SIGKILLs the dispatcher right after acknowledging its 40th
    # request. Answers kept in memory for a batch would show up here as dozens re-sent.
    outcome = scenarios.dispatcher_killed(stack, events=120, kill_after=40)
    assert outcome.figures["killed"]
    assert_passed(outcome)
