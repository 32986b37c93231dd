"""seed_demo loads members and content on an empty database, and only then with --if-empty."""

import io
from datetime import timedelta

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
    # Metrics: the rollups cover the demo's days, so the dashboard has figures at once.
    from metrics.kpis import kpi_report

    senior = users.get(username="senior")
    first = Case.objects.order_by("created_at").first().created_at.date()
    report = kpi_report(actor=senior, date_from=first, date_to=first + timedelta(days=40))
    # (A senior outside the specialist teams: their restricted cases are not counted.)
    visible = Case.objects.filter(restricted=False).count()
    assert report["kpis"]["cases_created"]["value"] == visible
    again = io.StringIO()
    call_command("seed_demo", "--if-empty", stdout=again)
    assert "already has members" in again.getvalue()


def test_the_rollups_step_stays_last_whatever_order_the_demo_modules_load_in(monkeypatch):
    from tsops import demo

    monkeypatch.setattr(demo, "SEED_STEPS", [])
    monkeypatch.setattr(demo, "_LAST_STEPS", set())

    def noop(**_):
        return None

    demo.step("members")(noop)
    demo.step("metrics", last=True)(noop)  # its module imported early (say, by a test)
    demo.step("escalations")(noop)
    demo.step("rules", before="metrics")(noop)
    demo.step("labels", before="rules")(noop)
    assert [name for name, _ in demo.SEED_STEPS] == [
        "members",
        "escalations",
        "labels",
        "rules",
        "metrics",
    ]
