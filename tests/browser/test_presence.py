"""Presence and exposure in headless Chromium: two analysts, each signed in in a browser
context of their own, open the same case and see each other within one poll interval (the
interval shortened through its setting); the queue's row shows who is on the case; a reviewer
at a graphic queue's budget is refused the claim with the reason, and a break prompt can be
dismissed."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case, Queue
from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import (
    ARTIFACTS,
    PASSWORD,
    VIEWPORT,
    login,
    screenshot,
    visit,
)
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from workspace.models import ExposurePolicy, ExposureTally

pytestmark = pytest.mark.browser

INTERVAL = 2  # seconds between polls in these tests (WORKSPACE_POLL_SECONDS)
# One poll interval, plus a second for the request and the swap.
WITHIN_ONE_POLL = (INTERVAL + 1) * 1000


@pytest.fixture
def team(db, settings):
    settings.WORKSPACE_POLL_SECONDS = INTERVAL
    platform = make_member("platform_svc", roles.PLATFORM)
    noor = make_member("noor_analyst", roles.ANALYST)
    mateo = make_member("mateo_analyst", roles.ANALYST)
    return platform, noor, mateo


@pytest.fixture
def second_page(browser, live_server, request):
    """Another browser context (cookies of its own) for the second analyst."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)

    def shot(label: str) -> None:
        page.screenshot(path=str(folder / f"second-{label}.png"), full_page=True)

    page.shot = shot
    yield page
    context.close()


def sign_in(page, username: str) -> None:
    """Sign in through the form (for a page of a context of the test's own)."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def claim_button(page):
    """The case page's "Claim" button (its label may carry a shortcut key)."""
    return page.locator("form[action$='/claim/'] button[type=submit]").first


def console_errors(console_messages) -> list:
    return [m.text[:120] for m in console_messages if m.type == "error"]


def test_two_analysts_on_one_case_see_each_other(
    page, second_page, live_server, team, console_messages
):
    platform, noor, mateo = team
    case = make_case(platform, reason="other")
    case_url = reverse("cases:case-detail", args=[case.pk])

    login(page, live_server, noor.username)
    visit(page, case_url, "noor-alone-on-the-case")
    presence = page.get_by_test_id("presence-line")
    expect(presence).to_contain_text("Nobody else is on this case.")

    sign_in(second_page, mateo.username)
    second_page.goto(case_url)
    # Mateo's first poll runs as his page loads: Noor is already there.
    expect(second_page.get_by_test_id("presence-line")).to_contain_text(
        "Also here: noor_analyst (viewing)"
    )
    # Noor's page learns of Mateo at its next poll.
    expect(presence).to_contain_text("mateo_analyst (viewing)", timeout=WITHIN_ONE_POLL)
    screenshot(page, "noor-sees-mateo")
    second_page.shot("mateo-sees-noor")

    # Mateo claims the case: he is working on it now.
    claim_button(second_page).click()
    second_page.wait_for_load_state("load")
    assert Case.objects.get(pk=case.pk).claimed_by_id == mateo.pk
    expect(presence).to_contain_text("mateo_analyst (working)", timeout=WITHIN_ONE_POLL)
    screenshot(page, "noor-sees-mateo-working")
    assert_no_serious_violations(page, "case page with presence")

    # The queue's row says who is on the case.
    queue_url = reverse("cases:queue-detail", args=["general"]) + "?status=open"
    visit(page, queue_url, "queue-row-presence")
    cell = page.locator(f"#presence-case-{case.pk}")
    # (Noor was on the case page a moment ago: she is listed too, as "you".)
    expect(cell).to_contain_text("mateo_analyst (working)", timeout=WITHIN_ONE_POLL)
    screenshot(page, "queue-row-shows-mateo")

    # Mateo leaves: after two intervals without his polls nobody else is on the case.
    second_page.close()
    visit(page, case_url, "noor-alone-again")
    expect(presence).to_contain_text(
        "Nobody else is on this case.", timeout=(2 * INTERVAL + 2) * 1000
    )
    assert console_errors(console_messages) == []


def test_a_reviewer_at_the_budget_is_refused_and_a_break_prompt_is_dismissed(
    page, live_server, team, console_messages
):
    platform, noor, _ = team
    queue = Queue.objects.get(slug="self-harm")
    ExposurePolicy.objects.create(
        queue=queue, daily_budget_minutes=60, daily_budget_cases=20, break_every_minutes=20
    )
    case = make_case(platform, reason="self_harm")
    ExposureTally.objects.create(
        user=noor, queue=queue, day=timezone.localdate(), seconds=60 * 60, cases_opened=4
    )

    login(page, live_server, noor.username)
    visit(page, reverse("cases:case-detail", args=[case.pk]), "case-of-a-graphic-queue")
    claim_button(page).click()
    page.wait_for_load_state("load")
    screenshot(page, "claim-refused")
    expect(page.locator("body")).to_contain_text(
        "You have reached today's exposure budget for Self-harm (60 of 60 minutes). "
        "Take a break; a senior can extend it."
    )
    assert Case.objects.get(pk=case.pk).claimed_by is None

    # Under the budget again, and about to cross the 80-minute mark of "every 20 minutes".
    ExposureTally.objects.filter(user=noor).update(seconds=80 * 60 - 1)
    ExposurePolicy.objects.filter(queue=queue).update(daily_budget_minutes=120)
    prompt = page.get_by_test_id("break-prompt")
    expect(prompt).to_contain_text("Time for a short break", timeout=WITHIN_ONE_POLL)
    expect(page.get_by_test_id("exposure-today")).to_contain_text("of 120 min")
    screenshot(page, "break-prompt")
    assert_no_serious_violations(page, "case page with a break prompt")
    prompt.get_by_role("button", name="Dismiss").click()
    expect(prompt).to_have_count(0)
    # The next polls leave it dismissed.
    page.wait_for_timeout(INTERVAL * 1000 + 500)
    expect(page.get_by_test_id("break-prompt")).to_have_count(0)
    screenshot(page, "break-prompt-dismissed")
    assert console_errors(console_messages) == []
