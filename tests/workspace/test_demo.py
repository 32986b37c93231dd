"""The demo's exposure: graphic queues with budgets, figures for the leads' page, and one
reviewer already at today's budget; seeding twice changes nothing."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from cases.models import Queue
from workspace import selectors
from workspace.demo import seed_exposure
from workspace.models import ExposureOverride, ExposurePolicy, ExposureTally

pytestmark = pytest.mark.django_db


def test_the_demo_shows_exposure_with_one_reviewer_at_the_budget():
    from tsops.demo import seed_members

    seed_members(stdout=io.StringIO(), scale=1)
    for _ in range(2):
        seed_exposure(stdout=io.StringIO(), scale=1)

    assert set(ExposurePolicy.objects.values_list("queue__slug", flat=True)) == {
        "self-harm",
        "threats-triage",
    }
    users = get_user_model().objects
    senior, analyst = users.get(username="senior"), users.get(username="analyst")
    today = selectors.exposure_team(actor=senior, day=timezone.localdate())
    assert {(r.reviewer.username, r.queue.slug) for r in today} >= {
        ("analyst", "self-harm"),
        ("analyst2", "self-harm"),
        ("analyst3", "self-harm"),
    }
    budget = selectors.exposure_budget_get(user=analyst, queue=Queue.objects.get(slug="self-harm"))
    assert budget.exhausted_by == "minutes"
    assert ExposureOverride.objects.get().reviewer.username == "analyst2"
    assert ExposureTally.objects.filter(user=analyst).count() == 11  # the days with exposure
