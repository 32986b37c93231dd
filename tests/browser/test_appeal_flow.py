"""An appeal in headless Chromium: support files it from the lookup, an analyst who had no part
in the action takes it with `n`, reads it beside the original case and overturns it, and the
original decider finds the reviewer's feedback on their home page.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import reverse

from appeals.models import Appeal
from appeals.setup import install_appeal_queues
from cases import services as case_services
from cases.intake import report_submit
from cases.models import Case
from enforcement import services as enforcement
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles
from tsops.models import Notification

pytestmark = pytest.mark.browser

RATIONALE = "INTERNAL-ONLY: the same shop link in 40 posts within an hour"
EVIDENCE = "Crawler log: 40 posts with bakery.example/shop between 09:00 and 09:50"
STATEMENT = "I run a small bakery. <b>That link</b> is my own shop and I post it once a day."
REVIEW = "Posting log shows one post a day; the 40 were a scheduler bug. Not spam."
RESPONSE = "We reversed the suspension: your posts did not break our spam rules. Sorry."


@pytest.fixture
def decided_action():
    """noor_analyst suspended acct-bakery for three days for spam, with evidence on the case."""
    # The appeals queue comes from a data migration, which a transactional test's flush
    # removes; it is put back like the roles and the taxonomy.
    install_appeal_queues(apps)
    platform = make_member("platform_svc", roles.PLATFORM)
    decider = make_member("noor_analyst", roles.ANALYST)
    make_member("mateo_analyst", roles.ANALYST)
    make_member("sam_support", roles.SUPPORT)
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": "r-bakery",
            "reason": "spam",
            "description": "keeps posting the same link",
            "reporter_id": "reporter-jane-77",
            "subject": {
                "kind": "content",
                "external_id": "post-bakery-1",
                "owner_id": "acct-bakery",
                "text": "Fresh sourdough today at bakery.example/shop",
            },
        },
    )
    case = Case.objects.get(pk=result.case_id)
    case = case_services.case_claim(actor=decider, case_id=case.pk)
    case_services.evidence_add(actor=decider, case_id=case.pk, kind="log", excerpt=EVIDENCE)
    case.refresh_from_db()
    decision = enforcement.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=[{"type": "suspend", "duration_hours": 72}],
    )
    return decision.actions.get()


def console_errors(console_messages) -> list:
    return [
        (m.text[:80], m.location.get("url", ""))
        for m in console_messages
        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
    ]


def click_and_wait(page, locator, label: str) -> None:
    with page.expect_navigation():
        locator.click()
    page.wait_for_load_state("load")
    screenshot(page, label)


def sign_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("load")


def test_support_files_an_appeal_a_second_analyst_overturns_it_and_the_decider_learns_why(
    page, live_server, decided_action, console_messages
):
    action = decided_action

    # Support: look the account up, file the appeal from the action's row.
    login(page, live_server, "sam_support")
    page.get_by_label("Account or item id").fill("acct-bakery")
    click_and_wait(page, page.get_by_role("button", name="Look up"), "support-lookup")
    row = page.get_by_test_id("lookup-row")
    assert "Suspend the account" in row.inner_text()
    click_and_wait(page, row.get_by_role("link", name="File an appeal"), "support-file-page")
    assert "SPAM-1.1" in page.get_by_test_id("appeal-action").inner_text()
    assert RATIONALE not in page.content() and EVIDENCE not in page.content()
    external_id = page.get_by_label("External id").input_value()
    assert external_id.startswith("support-")
    page.get_by_label("The user's statement").fill(STATEMENT)
    page.get_by_label("Appellant's platform id").fill("user-bakery-owner")
    screenshot(page, "support-file-filled")
    click_and_wait(page, page.get_by_role("button", name="File the appeal"), "support-status")

    appeal = Appeal.objects.get()
    assert (appeal.external_id, appeal.filed_by.username) == (external_id, "sam_support")
    assert page.get_by_test_id("appeal-status").inner_text() == "New"
    assert (
        appeal.due_at.strftime("%Y-%m-%d %H:%M") in page.get_by_test_id("appeal-due").inner_text()
    )
    assert RATIONALE not in page.content()
    sign_out(page)

    # A second analyst takes the next appeal with `n` and reads it beside the original case.
    login(page, live_server, "mateo_analyst")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Appeals").click()
    page.wait_for_load_state("load")
    screenshot(page, "appeals-queue")
    assert page.locator("[data-appeal-id]").first.get_attribute("data-appeal-id") == str(appeal.pk)
    with page.expect_navigation():
        page.locator("body").press("n")
    page.wait_for_load_state("load")
    screenshot(page, "appeal-claimed")

    assert page.url.endswith(reverse("appeals:appeal-detail", args=[appeal.pk]))
    assert page.get_by_test_id("appeal-status").inner_text() == "In review"
    assert page.get_by_test_id("appeal-claimant").inner_text().startswith("mateo_analyst")
    # The user's words, as text, beside the decision as it was made.
    assert page.get_by_test_id("appeal-statement").locator(".statement-text").inner_text() == (
        STATEMENT
    )
    original = page.get_by_test_id("original-decision")
    assert page.get_by_test_id("original-rationale").inner_text() == RATIONALE
    assert page.get_by_test_id("original-decider").inner_text() == "noor_analyst"
    assert "Suspend the account for 3 days" in original.inner_text()
    assert EVIDENCE in page.get_by_test_id("evidence").inner_text()
    assert "Fresh sourdough" in page.get_by_test_id("snapshot").inner_text()
    assert "SPAM-1.1" in page.get_by_test_id("policy-section").inner_text()
    assert page.get_by_test_id("internal-guidance").inner_text().strip()
    assert page.get_by_test_id("history-row").count() == 1
    assert page.locator("main b").count() == 0

    form = page.get_by_test_id("appeal-decision-form")
    form.get_by_label("Overturned — reverse the action").check()
    form.get_by_label("Rationale").fill(REVIEW)
    form.get_by_label("Response to the user").fill(RESPONSE)
    screenshot(page, "appeal-decision-filled")
    click_and_wait(page, form.get_by_role("button", name="Decide appeal"), "appeal-overturned")

    assert "overturned" in page.locator(".messages").inner_text()
    assert page.get_by_test_id("appeal-status").inner_text() == "Overturned"
    assert RESPONSE in page.get_by_test_id("response-to-user").inner_text()
    assert page.get_by_test_id("appealed-action-status").inner_text() == "Reversed"
    assert "Appeal decided" in page.get_by_test_id("timeline").text_content()
    action.refresh_from_db()
    assert action.status == "reversed"
    sign_out(page)

    # The original decider sees the reviewer's rationale on their home page.
    login(page, live_server, "noor_analyst")
    notes = page.get_by_test_id("notification")
    assert notes.count() == 1
    assert f"Appeal overturned your decision on case #{action.case_id}" in notes.inner_text()
    assert REVIEW in notes.inner_text()
    with page.expect_response(lambda r: "/notifications/" in r.url) as marked:
        notes.get_by_role("button", name="Mark read").click()
    assert marked.value.status == 200
    page.get_by_test_id("notification").wait_for(state="detached")
    screenshot(page, "decider-home-after-read")
    assert Notification.objects.get().read_at is not None
    assert console_errors(console_messages) == [], console_errors(console_messages)


@pytest.mark.parametrize("width", [390, 1024])
def test_the_appeal_pages_fit_narrow_screens(page, live_server, decided_action, width):
    from appeals import services

    support = make_member("sam_support", roles.SUPPORT)
    appeal, _ = services.appeal_file(
        actor=support, action_id=decided_action.pk, statement=STATEMENT, external_id="w-1"
    )
    reviewer = make_member("mateo_analyst", roles.ANALYST)
    services.appeal_claim(actor=reviewer, appeal_id=appeal.pk)
    page.set_viewport_size({"width": width, "height": 844})
    login(page, live_server, "mateo_analyst")
    for path, label in (
        (reverse("appeals:appeal-list") + "?status=in_review", "appeals"),
        (reverse("appeals:appeal-detail", args=[appeal.pk]), "appeal"),
    ):
        visit(page, path, f"{label}-{width}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {label} page scrolls sideways at {width}px"


def test_a_senior_reads_the_overturn_figures_and_cannot_review_an_action_they_approved(
    page, live_server, decided_action
):
    from appeals import services

    support = make_member("sam_support", roles.SUPPORT)
    reviewer = make_member("mateo_analyst", roles.ANALYST)
    senior = make_member("grace_senior", roles.SENIOR)
    decider = decided_action.decision.decided_by
    for n, outcome in enumerate(["overturned", "upheld", "upheld"]):
        case = case_services.case_claim(
            actor=decider,
            case_id=report_submit(
                actor=decider,
                data={
                    "source": "internal",
                    "external_id": f"r-more-{n}",
                    "reason": "spam",
                    "subject": {"kind": "content", "external_id": f"post-more-{n}"},
                },
            ).case_id,
        )
        action = enforcement.decision_make(
            actor=decider,
            case_id=case.pk,
            version=case.version,
            outcome="violation",
            policy_section="SPAM-1.1",
            rationale="spam",
            actions=[{"type": "remove_content"}],
        ).actions.get()
        appeal, _ = services.appeal_file(
            actor=support, action_id=action.pk, statement="not spam", external_id=f"f-{n}"
        )
        services.appeal_decide(
            actor=reviewer,
            appeal_id=appeal.pk,
            outcome=outcome,
            rationale="checked",
            response_to_user="done",
        )
    # An associate's month-long suspension, approved by the senior: they may not review it.
    associate = make_member("ada_associate", roles.ASSOCIATE)
    case = case_services.case_claim(
        actor=associate,
        case_id=report_submit(
            actor=associate,
            data={
                "source": "internal",
                "external_id": "r-approved",
                "reason": "spam",
                "subject": {"kind": "content", "external_id": "post-x", "owner_id": "acct-x"},
            },
        ).case_id,
    )
    approved = enforcement.decision_make(
        actor=associate,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="spam",
        actions=[{"type": "suspend", "duration_hours": 720}],
    ).actions.get()
    enforcement.action_approve(actor=senior, action_id=approved.pk)
    conflicted, _ = services.appeal_file(
        actor=support, action_id=approved.pk, statement="too long", external_id="c-1"
    )

    login(page, live_server, "grace_senior")
    visit(page, reverse("appeals:overview"), "overview")
    assert page.get_by_test_id("overturn-rate").inner_text() == "33%"
    assert "noor_analyst" in page.get_by_test_id("by-decider").inner_text()
    visit(page, reverse("appeals:appeal-detail", args=[conflicted.pk]), "conflicted-appeal")
    notice = page.get_by_test_id("conflict-notice")
    assert "another reviewer must decide this appeal" in notice.inner_text()
    assert page.get_by_test_id("appeal-decision-form").count() == 0
    assert page.get_by_role("button", name="Claim").count() == 0
