"""Concurrent edits: twenty clients saving (or deciding) the same case version at once: one
succeeds, the others get 409, the history shows one change (issue 9, scenario 6)."""

import pytest

from bench.reliability import scenarios
from tests.reliability.conftest import assert_passed

pytestmark = pytest.mark.slow


def test_twenty_clients_one_version(stack):
    assert_passed(scenarios.concurrent_edits(stack, clients=20, rounds=2))
