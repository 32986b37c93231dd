"""seed_demo loads members and content on an empty database, and only then with --if-empty."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cases.models import Case
from enforcement.models import Decision


@pytest.mark.django_db
def test_seed_demo_if_empty_loads_a_working_operation_once():
    out = io.StringIO()
    call_command("seed_demo", "--if-empty", "--scale", "0.04", stdout=out)
    assert "demo data loaded" in out.getvalue()
    users = get_user_model().objects
    for username in ("associate", "analyst", "senior", "support", "platform", "childsafety"):
        assert users.get(username=username).groups.exists()
    assert Case.objects.count() >= 200
    assert Case.objects.filter(status="new").exists()
    assert Case.objects.filter(status="resolved").exists()
    assert Case.objects.filter(restricted=True).exists()
    assert Decision.objects.filter(outcome="violation").exists()
    # QA: plans, a week of draws, reviews in every state and disputes both open and settled.
    from qa.models import QAReview, SamplingPlan

    assert SamplingPlan.objects.count() == 2
    statuses = set(QAReview.objects.values_list("status", flat=True))
    assert {"scored", "answered"} <= statuses and statuses & {"new", "in_review"}
    feedback = set(QAReview.objects.values_list("feedback", flat=True))
    assert {"pending", "acknowledged", "disputed"} <= feedback
    assert feedback & {"upheld", "overturned"}
    again = io.StringIO()
    call_command("seed_demo", "--if-empty", stdout=again)
    assert "already has members" in again.getvalue()
