"""Fixtures of the workspace tests: a graphic queue, its cases, and a clean presence store."""

from __future__ import annotations

import pytest

from cases.models import Queue
from tests.factories import make_case
from workspace import presence
from workspace.models import ExposurePolicy


@pytest.fixture(autouse=True)
def _no_presence_left_over():
    """Presence lives in Redis, outside the test's transaction: case ids come round again in
    a new test database, so each test starts with none."""
    client = presence._client()
    for prefix in ("presence:*", "exposure:*"):
        for key in client.scan_iter(match=presence._cache().make_key(prefix)):
            client.delete(key)


@pytest.fixture
def graphic_queue(db) -> Queue:
    """Self-harm, marked graphic: 60 minutes and 3 cases a day, a break every 20 minutes."""
    queue = Queue.objects.get(slug="self-harm")
    ExposurePolicy.objects.create(
        queue=queue,
        graphic=True,
        daily_budget_minutes=60,
        daily_budget_cases=3,
        break_every_minutes=20,
    )
    return queue


@pytest.fixture
def graphic_case(platform_account, graphic_queue):
    return make_case(platform_account, reason="self_harm")


@pytest.fixture
def plain_case(platform_account):
    return make_case(platform_account, reason="other")


@pytest.fixture
def restricted_case(platform_account):
    return make_case(platform_account, reason="child_safety")
