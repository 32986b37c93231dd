"""The exposure page: one's own figures for every reviewer, everyone's for leads, and the
seniors' overrides (logged with their history)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import Queue
from workspace.models import ExposureOverride, ExposurePolicy, ExposureTally

pytestmark = pytest.mark.django_db

PAGE = "/workspace/exposure/"


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def figures(graphic_queue, analyst, analyst2):
    today = timezone.localdate()
    ExposureTally.objects.create(
        user=analyst, queue=graphic_queue, day=today, seconds=41 * 60, cases_opened=2
    )
    ExposureTally.objects.create(
        user=analyst2, queue=graphic_queue, day=today, seconds=60 * 60, cases_opened=1
    )
    ExposureTally.objects.create(
        user=analyst2, queue=graphic_queue, day=today - timedelta(1), seconds=17 * 60
    )


def rows(response) -> list[str]:
    import re

    html = response.content.decode()
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r'<tr data-testid="exposure-row">(.*?)</tr>', html, re.S)
    ]


def test_a_reviewer_sees_their_own_figures_and_nobody_else_s(login, analyst, figures):
    response = login(analyst).get(PAGE)

    assert response.status_code == 200
    assert rows(response) == [
        f"{timezone.localdate():%a %-d %b} Self-harm 41 2 60 min · 3 cases — within budget"
    ]
    html = response.content.decode()
    assert "mateo_analyst" not in html and 'data-testid="team-exposure"' not in html
    assert 'data-testid="override"' not in html


def test_a_lead_sees_every_reviewer_on_a_day(login, senior, analyst, analyst2, figures):
    response = login(senior).get(PAGE)

    assert rows(response) == [
        "mateo_analyst Self-harm 60 1 60 min · 3 cases — budget reached",
        "noor_analyst Self-harm 41 2 60 min · 3 cases — within budget",
    ]
    yesterday = timezone.localdate() - timedelta(1)
    earlier = login(senior).get(PAGE, {"day": yesterday.isoformat()})
    assert rows(earlier) == ["mateo_analyst Self-harm 17 0 60 min · 3 cases — within budget"]


def test_a_lead_does_not_see_another_team_s_restricted_queue(login, senior, specialist):
    queue = Queue.objects.get(slug="child-safety")
    ExposurePolicy.objects.create(queue=queue, daily_budget_minutes=30)
    ExposureTally.objects.create(
        user=specialist, queue=queue, day=timezone.localdate(), seconds=600
    )

    response = login(senior).get(PAGE)

    assert rows(response) == []
    assert "Child safety" not in response.content.decode()
    assert rows(login(specialist).get(PAGE)) == [
        f"{timezone.localdate():%a %-d %b} Child safety (restricted) 10 0 30 min — within budget"
    ]


@pytest.mark.parametrize("day", ["yesterday-ish", "2999-01-01", "1900-01-01"])
def test_a_bad_day_is_answered_400(login, senior, day):
    response = login(senior).get(PAGE, {"day": day})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()


def test_the_page_is_refused_to_someone_who_reviews_nothing(login, support_agent):
    assert login(support_agent).get(PAGE).status_code == 403


def test_the_navigation_leads_reviewers_to_the_page(login, associate, support_agent):
    assert f'href="{PAGE}"' in login(associate).get("/").content.decode()
    assert f'href="{PAGE}"' not in login(support_agent).get("/").content.decode()


# --- Overrides --------------------------------------------------------------------------------


def grant(client, member, graphic, **data):
    body = {
        "reviewer": member.pk,
        "queue": graphic.pk,
        "extra_minutes": 15,
        "extra_cases": 0,
        "reason": "urgent escalation",
        **data,
    }
    return client.post(reverse("workspace:override-grant"), body)


def test_a_senior_extends_a_budget_and_it_is_logged(login, senior, analyst, graphic_queue):
    response = grant(login(senior), analyst, graphic_queue)

    assert response.status_code == 302 and response["Location"] == PAGE
    override = ExposureOverride.objects.get()
    assert (override.granted_by, override.reviewer, override.queue) == (
        senior,
        analyst,
        graphic_queue,
    )
    assert (override.day, override.extra_minutes, override.reason) == (
        timezone.localdate(),
        15,
        "urgent escalation",
    )
    history = override.history.get()
    assert (history.history_user, history.history_type) == (senior, "+")
    # The reviewer sees the extension among their own figures.
    assert rows(login(analyst).get(PAGE)) == [
        f"{timezone.localdate():%a %-d %b} Self-harm 0 0 75 min · 3 cases "
        "+15 min by grace_senior (urgent escalation) within budget"
    ]


def test_an_analyst_may_not_extend_a_budget(login, analyst, analyst2, graphic_queue):
    assert grant(login(analyst), analyst2, graphic_queue).status_code == 403
    assert not ExposureOverride.objects.exists()


def test_a_senior_may_not_extend_their_own_budget(login, senior, graphic_queue):
    response = grant(login(senior), senior, graphic_queue)

    assert response.status_code == 400
    assert not ExposureOverride.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"reason": ""},
        {"reason": "ok"},
        {"extra_minutes": 0, "extra_cases": 0},
        {"extra_minutes": -5},
        {"extra_minutes": 10_000},
        {"extra_minutes": "lots"},
        {"queue": 999_999},
    ],
)
def test_bad_input_is_answered_400_with_the_field_s_error(
    login, senior, analyst, graphic_queue, data
):
    response = grant(login(senior), analyst, graphic_queue, **data)

    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not ExposureOverride.objects.exists()


def test_a_queue_not_marked_graphic_cannot_be_extended(login, senior, analyst, graphic_queue):
    response = grant(login(senior), analyst, Queue.objects.get(slug="general"))

    assert response.status_code == 400
    assert not ExposureOverride.objects.exists()


def test_a_reviewer_who_does_not_work_the_queue_cannot_be_extended(
    login, senior, associate, graphic_queue
):
    # Self-harm is for analysts and seniors: the associate is not even offered.
    response = grant(login(senior), associate, graphic_queue)

    assert response.status_code == 400
    assert not ExposureOverride.objects.exists()
