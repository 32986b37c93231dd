"""The analyst's loop in headless Chromium at 1440x900: claim with ``n``, decide with the keyboard
alone (accept the ladder's recommendation, write the rationale, Ctrl+Enter) and land on the next
case of the queue, twenty times in a row, counting the key presses and never scrolling.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cases.intake import report_submit
from cases.models import Case
from enforcement.models import Decision
from enforcement.responses import response_template_create
from tests.browser.conftest import ARTIFACTS, PASSWORD
from tests.conftest import make_member
from tsops import roles
from tsops.services import preferences_update

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
NARROW = {"width": 1280, "height": 800}
RUN = 20


def submit(platform, n: int, reason: str = "spam") -> Case:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"ws-report-{n}",
            "reason": reason,
            "description": f"reporter says post {n} is the same link again",
            "reporter_id": f"reporter-{n}",
            "subject": {
                "kind": "content",
                "external_id": f"ws-post-{n}",
                "owner_id": f"ws-account-{n}",
                "text": f"cheap followers at bit.ly/x{n} — buy now, limited offer",
            },
        },
    )
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)


@pytest.fixture
def team():
    return {
        "platform": make_member("ws_platform", roles.PLATFORM),
        "analyst": make_member("ws_analyst", roles.ANALYST),
    }


@pytest.fixture
def wide(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, viewport=WIDE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    yield page
    print("console errors:", errors)
    context.close()


def shot(page, name: str) -> None:
    """The first viewport only: what the analyst sees without scrolling."""
    folder = ARTIFACTS / "workspace"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


class Keys:
    """The keyboard, counting each press (typing a text is counted apart)."""

    def __init__(self, page):
        self.page = page
        self.presses = 0

    def press(self, key: str) -> None:
        self.presses += 1
        self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)


def in_first_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    scrolled = page.evaluate("window.scrollY")
    return box is not None and scrolled == 0 and box["y"] >= 0 and box["y"] + box["height"] <= 900


def test_twenty_decisions_in_a_row_with_the_keyboard_alone(wide, team):
    page = wide
    cases = [submit(team["platform"], n) for n in range(RUN)]
    queue = cases[0].queue
    sign_in(page, "ws_analyst")
    page.goto(reverse("cases:queue-detail", args=[queue.slug]))
    keys = Keys(page)
    with page.expect_navigation():
        keys.press("n")
    per_decision = []
    decided = []
    for number in range(RUN):
        page.wait_for_load_state("load")
        match = re.search(r"/cases/(\d+)/$", page.url)
        assert match, f"decision {number + 1}: landed on {page.url}"
        case_id = int(match[1])
        submit_button = page.get_by_test_id("decide-submit")
        assert in_first_viewport(page, submit_button), "the submit control is below the fold"
        if number == 0:
            shot(page, "case-1440x900")
        before = keys.presses
        keys.press("a")  # accept the ladder's recommendation
        keys.press("r")  # to the rationale
        keys.type(f"Same link farm as the others, post {number}")
        with page.expect_navigation():
            keys.press("Control+Enter")
        per_decision.append(keys.presses - before)
        assert page.evaluate("window.scrollY") == 0
        decided.append(case_id)

    # After the twentieth, the queue is empty and says so plainly.
    page.wait_for_load_state("load")
    assert page.url.endswith(reverse("cases:queue-detail", args=[queue.slug]))
    assert "is empty: there is no case waiting for you" in page.inner_text("body")
    assert per_decision == [3] * RUN, per_decision
    assert sorted(decided) == sorted(c.pk for c in cases)
    decisions = Decision.objects.filter(case__in=cases)
    assert decisions.count() == RUN
    assert all(d.followed_recommendation is not False for d in decisions)
    assert all(d.outcome == Decision.Outcome.VIOLATION for d in decisions)
    assert page.console_errors == []


def test_the_case_page_fits_a_1280_screen_too(browser, live_server, team):
    case = submit(team["platform"], 1)
    context = browser.new_context(base_url=live_server.url, viewport=NARROW)
    page = context.new_page()
    try:
        sign_in(page, "ws_analyst")
        page.goto(reverse("cases:case-detail", args=[case.pk]))
        page.get_by_role("button", name=re.compile("^Claim")).first.click()
        page.wait_for_load_state("load")
        shot(page, "case-1280x800")
        for testid in ("snapshot", "reports", "account-standing", "decide-submit"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box and box["y"] < 800, f"{testid} is below the fold at 1280x800"
    finally:
        context.close()


def test_a_failed_decision_shows_its_errors_in_place_and_focuses_the_field(wide, team):
    page = wide
    case = submit(team["platform"], 2)
    sign_in(page, "ws_analyst")
    page.goto(reverse("cases:case-detail", args=[case.pk]))
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_load_state("load")
    # A marker that a full page load would wipe out.
    page.evaluate("window.__stayed = true")
    with page.expect_response(lambda r: "/decide/" in r.url and r.request.method == "POST") as sent:
        page.keyboard.press("Control+Enter")
    assert sent.value.status == 400
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_visible()
    assert "Rationale" in summary.inner_text()
    assert page.evaluate("window.__stayed") is True
    expect(page.locator("#decide [name=rationale]")).to_be_focused()
    shot(page, "decision-error")
    # Fixing the field and submitting again decides, still without a mouse.
    page.keyboard.type("Link farm, same as its siblings")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert Decision.objects.filter(case=case).count() == 1


def test_section_type_ahead_follows_the_ladder_and_keys_do_not_fire_in_fields(wide, team):
    page = wide
    case = submit(team["platform"], 3)
    sign_in(page, "ws_analyst")
    page.goto(reverse("cases:case-detail", args=[case.pk]))
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_load_state("load")
    page.keyboard.press("r")
    page.keyboard.type("nlcpa")  # n, l, c, p, a typed into a field are letters, not shortcuts
    assert page.locator("#decide [name=rationale]").input_value() == "nlcpa"
    assert page.url.endswith(reverse("cases:case-detail", args=[case.pk]))
    page.keyboard.press("Escape")
    page.keyboard.press("p")
    combobox = page.get_by_role("combobox", name=re.compile("Policy section"))
    expect(combobox).to_be_focused()
    page.keyboard.type("hate")
    options = page.get_by_role("listbox").get_by_role("option")
    assert options.count() >= 1 and all(
        "hate" in text.lower() for text in options.all_inner_texts()
    )
    page.keyboard.press("Enter")
    section = page.locator("#decide select[name=policy_section]").input_value()
    assert section and section != "SPAM-1.1"
    # The action row held the old section's recommendation, so it follows the new section's.
    ladder = page.get_by_test_id("recommended").inner_text()
    row = page.get_by_test_id("action-row-1").locator("select[name=action_0_type]")
    assert row.input_value(), ladder
    page.keyboard.press("Escape")  # out of the type-ahead, back to the page's keys
    page.keyboard.press("2")  # no violation: the actions are set aside
    assert row.is_disabled()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    assert "Accept the ladder" in page.locator("#shortcut-help").inner_text()


def test_decide_and_next_can_be_turned_off(wide, team):
    page = wide
    first, _second = submit(team["platform"], 4), submit(team["platform"], 5)
    preferences_update(actor=team["analyst"], decide_and_next=False)
    sign_in(page, "ws_analyst")
    page.goto(reverse("cases:case-detail", args=[first.pk]))
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_load_state("load")
    page.keyboard.press("r")
    page.keyboard.type("Link farm")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    page.wait_for_load_state("load")
    assert page.url.endswith(reverse("cases:case-detail", args=[first.pk]))
    assert page.get_by_test_id("case-status").inner_text() == "Resolved"
    # ``n`` works on the case page too.
    with page.expect_navigation():
        page.keyboard.press("n")
    page.wait_for_load_state("load")
    assert page.url.endswith(reverse("cases:case-detail", args=[_second.pk]))


def test_a_rationale_snippet_goes_into_the_rationale(wide, team):
    page = wide
    senior = make_member("ws_senior", roles.SENIOR)
    response_template_create(
        actor=senior,
        section_code="SPAM-1.1",
        kind="rationale",
        title="Link farm",
        body="Identical text and a shortened link across new accounts <b>within</b> an hour.",
    )
    case = submit(team["platform"], 6)
    sign_in(page, "ws_analyst")
    page.goto(reverse("cases:case-detail", args=[case.pk]))
    with page.expect_navigation():
        page.keyboard.press("c")
    page.wait_for_load_state("load")
    page.keyboard.press("r")
    page.keyboard.type("Seen before.")
    button = page.locator("#snippets").get_by_role("button", name="Link farm")
    expect(button).to_be_visible()
    button.click()
    rationale = page.locator("#decide [name=rationale]").input_value()
    assert rationale == (
        "Seen before. Identical text and a shortened link across new accounts <b>within</b> "
        "an hour."
    )
    assert page.locator("#decide b").count() == 0  # the snippet is text, never markup
