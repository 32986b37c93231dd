"""Duplicate ingestion: every report sent twice by two concurrent clients, single and bulk with
overlapping batches, is stored once, on one open case per subject, with exact counts
(issue 9, scenario 2)."""

import pytest

from bench.reliability import scenarios
from tests.reliability.conftest import assert_passed

pytestmark = pytest.mark.slow


def test_every_report_twice_from_two_clients_is_kept_once(stack):
    outcome = scenarios.duplicate_ingestion(
        stack,
        reports=2000,
        subjects=500,
        batch=100,
        single_every=10,
        threads=2,
        web_workers=2,
        web_threads=4,
    )
    assert outcome.figures["rows"] == 2000
    assert outcome.figures["open_cases"] == 500
    assert_passed(outcome)
