"""Decide & next: after a decision the next case of the same queue opens, claimed; a failed
decision sent by htmx answers the decision column alone with its error summary."""

from __future__ import annotations

from django.urls import reverse

from cases.models import Case
from enforcement.models import Decision
from tests.enforcement.test_views import RATIONALE, claimed, decide_url, form_data
from tests.enforcement.test_views import login as login  # noqa: F401  (the fixture)
from tests.factories import make_case
from tsops.services import preferences_update

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_a_decision_opens_the_next_case_of_the_queue_claimed(platform_account, analyst, login):
    case = claimed(platform_account, analyst)
    waiting = make_case(platform_account, reason="spam")
    response = login(analyst).post(decide_url(case), form_data(case))

    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case-detail", args=[waiting.pk])
    waiting.refresh_from_db()
    assert waiting.status == Case.Status.IN_REVIEW and waiting.claimed_by == analyst


def test_decide_and_next_turned_off_stays_on_the_case(platform_account, analyst, login):
    case = claimed(platform_account, analyst)
    waiting = make_case(platform_account, reason="spam")
    preferences_update(actor=analyst, decide_and_next=False)
    response = login(analyst).post(decide_url(case), form_data(case))

    assert response["Location"] == reverse("cases:case-detail", args=[case.pk])
    waiting.refresh_from_db()
    assert waiting.status == Case.Status.NEW


def test_htmx_decision_redirects_the_page_to_the_next_case(platform_account, analyst, login):
    case = claimed(platform_account, analyst)
    waiting = make_case(platform_account, reason="spam")
    response = login(analyst).post(decide_url(case), form_data(case), **HTMX)

    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("cases:case-detail", args=[waiting.pk])
    assert Decision.objects.filter(case=case).count() == 1


def test_a_failed_htmx_decision_answers_the_panel_with_an_error_summary(
    platform_account, analyst, login
):
    case = claimed(platform_account, analyst)
    response = login(analyst).post(
        decide_url(case), form_data(case, rationale="", action_0_type=""), **HTMX
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="panel decide-panel" id="decide"')
    assert 'data-testid="error-summary"' in html
    assert 'data-focus-field="rationale"' in html
    assert "<html" not in html  # the column only: the rest of the page stays as it was
    assert Decision.objects.filter(case=case).count() == 0


def test_a_stale_htmx_decision_answers_409_and_keeps_what_was_written(
    platform_account, analyst, login
):
    case = claimed(platform_account, analyst)
    stale = form_data(case)
    Case.objects.filter(pk=case.pk).update(version=case.version + 1)
    response = login(analyst).post(decide_url(case), stale, **HTMX)

    assert response.status_code == 409
    html = response.content.decode()
    assert "changed by" in html and RATIONALE in html
    assert f'name="version" value="{case.version + 1}"' in html
