"""QA pages: who may open them, plan forms with their computed n, bad input as form errors,
the rubric in the admin, and escaped user text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from qa import services
from qa.models import Rubric, SamplingPlan
from tests.qa.conftest import DAY, NEXT_DAY, decide

pytestmark = pytest.mark.django_db


def test_who_may_open_which_qa_page(
    associate, analyst, senior, support_agent, specialist, session_client_for, make_plan
):
    plan = make_plan()
    expected = {
        reverse("qa:home"): {associate: 200, analyst: 200, senior: 200, support_agent: 403},
        reverse("qa:review-list"): {associate: 403, analyst: 200, senior: 200},
        reverse("qa:plan-create"): {associate: 403, analyst: 403, senior: 200},
        reverse("qa:plan-detail", args=[plan.pk]): {analyst: 403, senior: 200},
        reverse("qa:dispute-list"): {analyst: 403, senior: 200},
        reverse("qa:my-feedback"): {associate: 200, analyst: 200, support_agent: 403},
        reverse("qa:figures"): {associate: 200, senior: 200, support_agent: 403},
    }
    for url, answers in expected.items():
        for user, status in answers.items():
            response = session_client_for(user).get(url)
            assert response.status_code == status, (url, user.username, response.status_code)


def test_a_senior_creates_a_margin_plan_and_sees_its_computed_n(senior, session_client_for):
    client = session_client_for(senior)
    response = client.post(
        reverse("qa:plan-create"),
        {
            "name": "Weekly ±5",
            "active": "on",
            "rubric": Rubric.objects.get(name="Default").pk,
            "period": "week",
            "size_mode": "margin",
            "fixed_size": "50",
            "confidence": "0.950",
            "margin": "0.05",
            "expected_rate": "0.5",
            "decision_kind": "any",
            "always_new_analyst_days": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SamplingPlan.objects.get(name="Weekly ±5").size_mode == "margin"
    page = client.get(response["Location"]).content.decode()
    assert "= 385 for a large population" in page


def test_bad_plan_input_is_a_form_error(senior, session_client_for):
    response = session_client_for(senior).post(
        reverse("qa:plan-create"),
        {"name": "", "size_mode": "margin", "margin": "1.5", "expected_rate": "0.5"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required" in body and "Between 0 and 1" in body


def test_figures_with_a_reversed_range_answer_400(senior, session_client_for):
    response = session_client_for(senior).get(
        reverse("qa:figures"), {"start": "2026-12-01", "end": "2026-11-01"}
    )
    assert response.status_code == 400
    assert "The end is before the start." in response.content.decode()


def test_drawing_from_the_page_is_idempotent(
    platform_account, analyst, senior, session_client_for, make_plan
):
    import time_machine

    decide(platform_account, analyst, at=DAY + timedelta(hours=3))
    plan = make_plan()
    client = session_client_for(senior)
    with time_machine.travel(NEXT_DAY + timedelta(hours=1)):
        first = client.post(reverse("qa:plan-draw", args=[plan.pk]), follow=True)
        second = client.post(reverse("qa:plan-draw", args=[plan.pk]), follow=True)
    assert "Drew 1 at random from 1 decisions" in first.content.decode()
    assert "already drawn" in second.content.decode()
    assert plan.samples.count() == 1


def test_user_text_is_escaped_on_the_review_page(
    platform_account, analyst, analyst2, senior, session_client_for, make_plan
):
    decide(platform_account, analyst, at=DAY + timedelta(hours=1))
    sample, _ = services.sample_draw(actor=senior, plan_id=make_plan().pk, start=DAY, end=NEXT_DAY)
    review = sample.reviews.get()
    services.review_answer(
        actor=analyst2, review_id=review.pk, outcome="violation", notes="<script>alert(1)</script>"
    )
    page = session_client_for(analyst2).get(reverse("qa:review-detail", args=[review.pk]))
    body = page.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_seniors_edit_the_rubric_in_the_admin_and_others_cannot(
    senior, analyst, session_client_for
):
    rubric = Rubric.objects.get(name="Default")
    url = reverse("admin:qa_rubric_change", args=[rubric.pk])
    assert session_client_for(senior).get(url).status_code == 200
    assert session_client_for(analyst).get(url).status_code in (302, 403)


def test_an_incomplete_score_or_empty_dispute_comes_back_as_a_form_error(
    platform_account, analyst, analyst2, senior, session_client_for, make_plan
):
    decide(platform_account, analyst, at=DAY + timedelta(hours=1))
    sample, _ = services.sample_draw(actor=senior, plan_id=make_plan().pk, start=DAY, end=NEXT_DAY)
    review = sample.reviews.get()
    services.review_answer(actor=analyst2, review_id=review.pk, outcome="no_violation")
    client = session_client_for(analyst2)
    response = client.post(
        reverse("qa:review-score", args=[review.pk]),
        {"criterion_correct_outcome": "fail", "version": review.version + 1},
    )
    assert response.status_code == 400
    assert 'data-testid="score-form"' in response.content.decode()
    review.refresh_from_db()
    assert review.status == "answered"
    response = client.post(
        reverse("qa:review-score", args=[review.pk]),
        {
            **{
                f"criterion_{key}": "pass"
                for key in (
                    "correct_outcome",
                    "correct_policy_section",
                    "proportionate_action",
                    "evidence_complete",
                    "rationale_clear",
                )
            },
            "criterion_correct_outcome": "fail",
            "version": review.version,
        },
    )
    # A failed review must name its error type: the service's field error lands on the form.
    assert response.status_code == 400
    assert "names at least one error type" in response.content.decode()
    response = session_client_for(analyst).post(
        reverse("qa:review-respond", args=[review.pk]), {"response": "dispute", "reason": ""}
    )
    assert response.status_code == 404  # not scored yet: the analyst cannot see it
