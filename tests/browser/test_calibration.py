"""A calibration session in headless Chromium: a senior picks three cases and three
participants, sets the gold answers and opens it; each participant follows their notification,
answers every case blind and hands in; the senior closes it and the results page shows the
kappas and the case the team split on.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from cases.intake import report_submit
from qa.models import CalibrationAnswer, CalibrationSession
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

SESSION = "Spam calibration · week 12"
TEXTS = (
    "Fresh sourdough today at bakery.example/shop",
    "WIN A FREE PHONE!!! click bit.example/free <b>now</b>",
    "Join my crypto group, 10x guaranteed: t.example/moon",
)
# (outcome label, section, action, severity) per case; None fields are left blank.
GOLD = [
    ("Violation", "SPAM-1.1", "remove_content", "P3"),
    ("No violation", None, None, None),
    ("Violation", "SPAM-1.2", "warn", "P3"),
]
ANSWERS = {
    "ada_associate": GOLD,
    "noor_analyst": [
        ("Violation", "SPAM-1.1", "remove_content", "P2"),
        ("No violation", None, None, None),
        ("Violation", "SPAM-1.1", "remove_content", "P3"),
    ],
    "mateo_analyst": [
        ("Violation", "SPAM-1.1", "remove_content", "P3"),
        ("Violation", "SPAM-1.2", "warn", "P3"),
        ("Violation", "SPAM-1.1", "remove_content", "P2"),
    ],
}
PARTICIPANTS = list(ANSWERS)


@pytest.fixture
def spam_cases():
    platform = make_member("platform_svc", roles.PLATFORM)
    make_member("grace_senior", roles.SENIOR)
    make_member("ada_associate", roles.ASSOCIATE)
    make_member("noor_analyst", roles.ANALYST)
    make_member("mateo_analyst", roles.ANALYST)
    case_ids = []
    for n, text in enumerate(TEXTS):
        result = report_submit(
            actor=platform,
            data={
                "source": "user_report",
                "external_id": f"r-cal-{n}",
                "reason": "spam",
                "description": "looks like spam",
                "reporter_id": f"reporter-{n}",
                "subject": {
                    "kind": "content",
                    "external_id": f"post-cal-{n}",
                    "owner_id": f"acct-cal-{n}",
                    "text": text,
                },
            },
        )
        case_ids.append(result.case_id)
    return case_ids


def click_and_wait(page, locator, label: str) -> None:
    with page.expect_navigation():
        locator.click()
    page.wait_for_load_state("load")
    screenshot(page, label)


def sign_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("load")


def console_errors(console_messages) -> list:
    return [
        (m.text[:80], m.location.get("url", ""))
        for m in console_messages
        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
    ]


def fill_answer(page, answer, label: str) -> None:
    """Fill the answer (or gold) form of the case on screen and save it."""
    outcome, section, action, severity = answer
    form = page.get_by_test_id("answer-form")
    form.get_by_label(outcome, exact=True).check()
    form.get_by_label("Policy section").select_option(section or "")
    form.get_by_label("Action", exact=True).select_option(action or "")
    form.get_by_label("Severity").select_option(severity or "")
    click_and_wait(page, form.get_by_role("button"), label)
    assert "saved" in page.locator(".messages").inner_text()


def test_a_senior_runs_a_calibration_session_with_three_participants_and_reads_the_kappa(
    page, live_server, spam_cases, console_messages
):
    # The senior sets the session up: three cases by id, three participants.
    login(page, live_server, "grace_senior")
    visit(page, reverse("qa:calibration-list"), "calibration-list-empty")
    click_and_wait(page, page.get_by_role("link", name="New session"), "new-session")
    page.get_by_label("Name", exact=True).fill(SESSION)
    page.get_by_label("Case ids").fill(", ".join(str(i) for i in spam_cases))
    for username in PARTICIPANTS:
        page.get_by_label(username).check()
    screenshot(page, "new-session-filled")
    click_and_wait(page, page.get_by_role("button", name="Create session"), "session-draft")
    session = CalibrationSession.objects.get()
    assert page.get_by_test_id("session-status").inner_text() == "Draft (setting gold answers)"

    # Gold answers, case by case ("Save and next"), then open the session.
    click_and_wait(page, page.get_by_role("link", name="Set gold").first, "gold-case-1")
    for n, gold in enumerate(GOLD, start=1):
        assert TEXTS[n - 1] in page.get_by_test_id("snapshot").inner_text()
        fill_answer(page, gold, f"gold-saved-{n}")
    assert [g.inner_text() for g in page.get_by_test_id("gold").all()] == [
        "Violation · SPAM-1.1 · Remove content · P3",
        "No violation",
        "Violation · SPAM-1.2 · Warn the user · P3",
    ]
    click_and_wait(page, page.get_by_role("button", name="Open for answers"), "session-open")
    assert page.get_by_test_id("session-status").inner_text() == "Open for answers"
    sign_out(page)

    # Each participant follows the notification, answers blind and hands in.
    for username, answers in ANSWERS.items():
        login(page, live_server, username)
        note = page.get_by_test_id("notification").filter(has_text=SESSION)
        click_and_wait(page, note.get_by_role("link"), f"{username}-session")
        assert page.get_by_test_id("my-calibration").is_visible()
        click_and_wait(page, page.get_by_role("link", name="Answer").first, f"{username}-case-1")
        for n, answer in enumerate(answers, start=1):
            html = page.content()
            # The case as reported, but never the gold or anyone else's answer.
            assert escape(TEXTS[n - 1]) in html
            assert page.get_by_test_id("gold").count() == 0
            assert page.get_by_test_id("gold-panel").count() == 0
            assert "checked" not in page.get_by_test_id("answer-form").inner_html()
            fill_answer(page, answer, f"{username}-saved-{n}")
        assert page.get_by_role("link", name="Change").count() == 3
        click_and_wait(
            page, page.get_by_role("button", name="Hand in my answers"), f"{username}-handed-in"
        )
        assert page.get_by_test_id("handed-in").is_visible()
        sign_out(page)
    assert CalibrationAnswer.objects.count() == 9

    # The senior sees everyone handed in (not what they answered), closes, reads the results.
    login(page, live_server, "grace_senior")
    visit(page, reverse("qa:calibration-detail", args=[session.pk]), "session-progress")
    progress = page.get_by_test_id("calibration-progress")
    assert progress.locator(".badge.ok").count() == 3
    assert "SPAM-1.2" not in progress.inner_text()
    click_and_wait(
        page, page.get_by_role("button", name="Close and show results"), "calibration-results"
    )
    assert page.url.endswith(reverse("qa:calibration-results", args=[session.pk]))
    # Fleiss' kappa on the outcome: P̄ = 7/9, P̄e = 53/81, κ = 10/28 ≈ 0.36.
    assert page.get_by_test_id("fleiss-outcome").inner_text() == "0.36"
    assert page.get_by_test_id("fleiss-policy_section").inner_text() == "0.25"
    assert page.get_by_test_id("cohen-row").count() == 3
    overall = {
        row.get_attribute("data-username"): row.get_by_test_id("overall").inner_text()
        for row in page.get_by_test_id("participant-result").all()
    }
    assert overall == {"ada_associate": "100%", "mateo_analyst": "42%", "noor_analyst": "75%"}
    candidates = page.get_by_test_id("candidate")
    assert candidates.count() == 2

    # The clarification of the case the team split on.
    first = candidates.first
    first.get_by_label("Policy clarification for case 2").fill(
        "One link to the poster's own shop is self-promotion, not spam."
    )
    click_and_wait(page, first.get_by_role("button", name="Save clarification"), "clarified")
    assert "Clarification saved" in page.locator(".messages").inner_text()
    sign_out(page)

    # A participant reads the same results, with the clarification.
    login(page, live_server, "mateo_analyst")
    visit(page, reverse("qa:calibration-results", args=[session.pk]), "participant-results")
    assert page.get_by_test_id("fleiss-outcome").inner_text() == "0.36"
    assert "self-promotion" in page.get_by_test_id("clarification").first.inner_text()
    assert console_errors(console_messages) == [], console_errors(console_messages)
