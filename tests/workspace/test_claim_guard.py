"""Exposure budgets at claim time: every claim path refuses a graphic queue's case past the
reviewer's budget for today, with a message saying so; a senior's override lifts it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from cases.models import Case, Queue
from cases.services import ClaimRefused
from workspace import services
from workspace.models import ExposureTally

pytestmark = pytest.mark.django_db

REFUSAL = (
    "You have reached today's exposure budget for Self-harm (60 of 60 minutes). "
    "Take a break; a senior can extend it."
)


def exposed(user, queue, *, minutes=0, cases=0, day=None):
    ExposureTally.objects.update_or_create(
        user=user,
        queue=queue,
        day=day or timezone.localdate(),
        defaults={"seconds": minutes * 60, "cases_opened": cases},
    )


def test_claim_next_is_refused_past_the_minutes_budget(analyst, graphic_queue, graphic_case):
    exposed(analyst, graphic_queue, minutes=60)

    with pytest.raises(ClaimRefused) as refused:
        case_services.case_claim_next(actor=analyst, queue=graphic_queue)

    assert str(refused.value) == REFUSAL
    assert Case.objects.get(pk=graphic_case.pk).status == Case.Status.NEW


def test_claim_next_is_allowed_just_under_the_budget(analyst, graphic_queue, graphic_case):
    ExposureTally.objects.create(
        user=analyst, queue=graphic_queue, day=timezone.localdate(), seconds=60 * 60 - 1
    )

    assert case_services.case_claim_next(actor=analyst, queue=graphic_queue).pk == graphic_case.pk


def test_claiming_one_case_is_refused_past_the_cases_budget(analyst, graphic_queue, graphic_case):
    exposed(analyst, graphic_queue, minutes=5, cases=3)

    with pytest.raises(ClaimRefused, match=r"\(3 of 3 cases\)"):
        case_services.case_claim(actor=analyst, case_id=graphic_case.pk)
    assert Case.objects.get(pk=graphic_case.pk).claimed_by is None


def test_yesterday_s_exposure_does_not_count_today(analyst, graphic_queue, graphic_case):
    exposed(analyst, graphic_queue, minutes=90, cases=9, day=timezone.localdate() - timedelta(1))

    assert case_services.case_claim(actor=analyst, case_id=graphic_case.pk).claimed_by == analyst


def test_another_reviewer_s_exposure_does_not_count(analyst, analyst2, graphic_queue, graphic_case):
    exposed(analyst2, graphic_queue, minutes=60)

    assert case_services.case_claim_next(actor=analyst, queue=graphic_queue).pk == graphic_case.pk


def test_a_queue_not_marked_graphic_has_no_budget(analyst, graphic_queue, plain_case):
    general = Queue.objects.get(slug="general")
    exposed(analyst, general, minutes=600, cases=100)

    assert case_services.case_claim_next(actor=analyst, queue=general).pk == plain_case.pk


def test_an_unmarked_queue_stops_limiting(analyst, graphic_queue, graphic_case):
    exposed(analyst, graphic_queue, minutes=60)
    graphic_queue.exposure_policy.graphic = False
    graphic_queue.exposure_policy.save()

    assert case_services.case_claim_next(actor=analyst, queue=graphic_queue).pk == graphic_case.pk


def test_a_senior_s_override_lifts_the_refusal(analyst, senior, graphic_queue, graphic_case):
    exposed(analyst, graphic_queue, minutes=60, cases=3)
    services.exposure_override_grant(
        actor=senior,
        reviewer=analyst,
        queue=graphic_queue,
        extra_minutes=15,
        extra_cases=0,
        reason="urgent escalation",
    )
    with pytest.raises(ClaimRefused, match=r"\(3 of 3 cases\)"):
        case_services.case_claim_next(actor=analyst, queue=graphic_queue)

    services.exposure_override_grant(
        actor=senior,
        reviewer=analyst,
        queue=graphic_queue,
        extra_minutes=0,
        extra_cases=2,
        reason="urgent escalation",
    )
    assert case_services.case_claim_next(actor=analyst, queue=graphic_queue).pk == graphic_case.pk


def test_renewing_a_claim_already_held_is_not_refused(analyst, graphic_queue, graphic_case):
    case_services.case_claim(actor=analyst, case_id=graphic_case.pk)
    exposed(analyst, graphic_queue, minutes=60)

    assert case_services.case_claim(actor=analyst, case_id=graphic_case.pk).claimed_by == analyst


# --- The HTML and API paths -------------------------------------------------------------------


def test_the_case_page_claim_shows_the_refusal(client, analyst, graphic_queue, graphic_case):
    exposed(analyst, graphic_queue, minutes=60)
    client.force_login(analyst)

    response = client.post(reverse("cases:case-claim", args=[graphic_case.pk]), follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("cases:case-detail", args=[graphic_case.pk])
    assert REFUSAL.replace("'", "&#x27;") in response.content.decode()
    assert Case.objects.get(pk=graphic_case.pk).claimed_by is None


def test_next_case_on_the_queue_page_shows_the_refusal(
    client, analyst, graphic_queue, graphic_case
):
    exposed(analyst, graphic_queue, minutes=60)
    client.force_login(analyst)

    response = client.post(reverse("cases:queue-claim-next", args=["self-harm"]), follow=True)

    # Back on the queue's page, the refusal said as a message.
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("cases:queue-detail", args=["self-harm"])
    assert REFUSAL.replace("'", "&#x27;") in response.content.decode()
    assert Case.objects.get(pk=graphic_case.pk).claimed_by is None


def test_the_api_claim_answers_409_with_the_refusal(
    api_client_for, analyst, graphic_queue, graphic_case
):
    exposed(analyst, graphic_queue, minutes=60)

    response = api_client_for(analyst).post("/api/v1/queues/self-harm/claim")

    assert response.status_code == 409
    assert response.json()["error"] == {"status": 409, "code": "conflict", "message": REFUSAL}
    assert Case.objects.get(pk=graphic_case.pk).claimed_by is None


def test_the_api_claim_works_within_the_budget(
    api_client_for, analyst, graphic_queue, graphic_case
):
    exposed(analyst, graphic_queue, minutes=59, cases=2)

    response = api_client_for(analyst).post("/api/v1/queues/self-harm/claim")

    assert response.status_code == 200
    assert response.json()["id"] == graphic_case.pk
