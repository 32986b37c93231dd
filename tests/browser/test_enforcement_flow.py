"""Enforcement in headless Chromium: an analyst decides, an associate's ban waits for a
senior's approval, and support looks the account up and sees only what the user may be told.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from cases import services as case_services
from cases.intake import report_submit
from cases.models import Case
from enforcement.models import Decision, EnforcementAction
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.browser

RATIONALE = "INTERNAL-ONLY: 40 identical posts with a shortened link in one hour"


def submit(platform, external_id: str, post: str, owner: str, reason: str = "spam") -> Case:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": external_id,
            "reason": reason,
            "description": "reported by reporter-jane-77",
            "reporter_id": "reporter-jane-77",
            "subject": {
                "kind": "content",
                "external_id": post,
                "owner_id": owner,
                "text": "cheap followers at bit.ly/x",
            },
        },
    )
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)


@pytest.fixture
def team():
    return {
        "platform": make_member("platform_svc", roles.PLATFORM),
        "analyst": make_member("noor_analyst", roles.ANALYST),
        "associate": make_member("ada_associate", roles.ASSOCIATE),
        "senior": make_member("grace_senior", roles.SENIOR),
        "support": make_member("sam_support", roles.SUPPORT),
    }


def console_errors(console_messages) -> list:
    return [
        (m.text[:60], m.location)
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


def test_an_analyst_decides_a_case_with_a_suspension(page, live_server, team, console_messages):
    case = submit(team["platform"], "r-1", "post-spam-1", "acct-spammer")
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:case-detail", args=[case.pk]), "case-unclaimed")
    assert "Claim this case to decide it" in page.get_by_test_id("decide").inner_text()
    click_and_wait(
        page, page.get_by_role("button", name=re.compile(r"^Claim")).first, "case-claimed"
    )

    guidance = page.get_by_test_id("policy-guidance")
    assert "SPAM-1.1" in guidance.inner_text() and "Look for volume" in guidance.inner_text()
    form = page.get_by_test_id("decision-form")
    assert form.locator("select[name=policy_section]").input_value() == "SPAM-1.1"
    assert form.get_by_role("combobox", name="Policy section").input_value().startswith("SPAM-1.1")
    assert "Warn the user" in page.get_by_test_id("recommendation").inner_text()
    form.get_by_label("Rationale").fill(RATIONALE)
    row = page.get_by_test_id("action-row-1")
    row.get_by_label("Action 1", exact=True).select_option("suspend")
    row.locator("[name=action_0_duration]").fill("3")
    row.get_by_label("Unit of action 1").select_option("days")

    # The draft follows the chosen section and actions (htmx swaps the field in place).
    form.locator("details.statement > summary").click()
    with page.expect_response(lambda r: "/decide/draft/" in r.url) as drafted:
        form.get_by_role("button", name="Draft again from section").click()
    assert drafted.value.status == 200
    # The internal rationale stays out of the URL (and so out of any request log).
    assert "rationale" not in drafted.value.url and "INTERNAL" not in drafted.value.url
    assert "policy_section=SPAM-1.1" in drafted.value.url
    expect(form.get_by_label("Statement to the user")).to_have_value(
        re.compile(r"Action: Suspend the account for 3 day\(s\)")
    )
    screenshot(page, "decision-filled")

    click_and_wait(page, form.get_by_test_id("decide-submit"), "decided")

    # Decide & next: the queue has nothing more for the analyst, and says so.
    message = page.locator(".messages").inner_text()
    assert "is empty" in message
    visit(page, reverse("cases:case-detail", args=[case.pk]), "decided-case")
    assert "Decision made" in message and "Suspend the account for 3 days" in message
    assert page.get_by_test_id("case-status").inner_text() == "Resolved"
    timeline = page.get_by_test_id("timeline").text_content()
    assert "Decision made" in timeline and "Action applied" in timeline
    assert "Suspend the account for 3 days" in timeline
    actions = page.get_by_test_id("case-actions")
    assert "Suspend the account for 3 days" in actions.inner_text()
    assert "Active" in actions.inner_text()
    assert page.get_by_test_id("decision-form").count() == 0
    decision = Decision.objects.get(case=case)
    assert "Suspend the account for 3 day(s)" in decision.statement_of_reasons
    assert console_errors(console_messages) == [], console_errors(console_messages)


def test_an_associate_proposes_a_ban_and_a_senior_approves_it(
    page, live_server, team, console_messages
):
    case = submit(team["platform"], "r-2", "post-spam-2", "acct-repeat")
    login(page, live_server, "ada_associate")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queues").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Spam & platform abuse").click()
    page.wait_for_load_state("load")
    screenshot(page, "associate-queue")
    with page.expect_navigation():
        page.locator("body").press("n")
    page.wait_for_load_state("load")
    screenshot(page, "associate-case")
    assert page.url.endswith(reverse("cases:case-detail", args=[case.pk]))
    assert "waits for a senior" in page.get_by_test_id("action-rows").text_content()

    form = page.get_by_test_id("decision-form")
    form.get_by_label("Rationale").fill(RATIONALE)
    page.get_by_test_id("action-row-1").get_by_label("Action 1", exact=True).select_option("ban")
    click_and_wait(page, form.get_by_test_id("decide-submit"), "ban-proposed")

    assert "waiting for a senior's approval" in page.locator(".messages").inner_text()
    visit(page, reverse("cases:case-detail", args=[case.pk]), "ban-proposed-case")
    assert page.get_by_test_id("case-status").inner_text() == "Pending approval"
    assert "Pending approval" in page.get_by_test_id("case-actions").inner_text()
    timeline = page.get_by_test_id("timeline").text_content()
    assert "Action proposed for approval" in timeline
    action = EnforcementAction.objects.get(case=case)
    assert action.status == "pending_approval"

    sign_out(page)
    login(page, live_server, "grace_senior")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    page.wait_for_load_state("load")
    screenshot(page, "approvals")
    item = page.get_by_test_id(f"approval-{action.pk}")
    text = item.inner_text()
    assert "Ban the account permanently" in text and "ada_associate" in text
    assert "SPAM-1.1" in text and "40 identical posts" in text
    # A permanent ban is approved only with its confirmation ticked.
    item.get_by_label("I confirm this permanent ban").check()
    click_and_wait(page, item.get_by_role("button", name="Approve permanent ban"), "approved")

    assert "Approved: Ban the account permanently" in page.locator(".messages").inner_text()
    assert page.get_by_test_id("approvals-empty").is_visible()
    action.refresh_from_db()
    assert action.status == "active" and action.approved_by.username == "grace_senior"

    visit(page, reverse("cases:case-detail", args=[case.pk]), "case-after-approval")
    assert page.get_by_test_id("case-status").inner_text() == "Resolved"
    timeline = page.get_by_test_id("timeline").text_content()
    assert "Action approved" in timeline and "Case resolved" in timeline
    assert console_errors(console_messages) == [], console_errors(console_messages)


def test_a_senior_rejects_a_proposal_with_a_reason(page, live_server, team):
    case = submit(team["platform"], "r-3", "post-spam-3", "acct-first")
    associate = team["associate"]
    case = case_services.case_claim(actor=associate, case_id=case.pk)
    from enforcement import services

    decision = services.decision_make(
        actor=associate,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=[{"type": "ban"}],
    )
    action = decision.actions.get()
    login(page, live_server, "grace_senior")
    visit(page, reverse("enforcement:approval-list"), "approvals-before-reject")
    item = page.get_by_test_id(f"approval-{action.pk}")
    item.get_by_label(f"Reason to reject action {action.pk}").fill("First offence: warn instead")
    click_and_wait(page, item.get_by_role("button", name="Reject"), "rejected")

    assert "back in its queue" in page.locator(".messages").inner_text()
    visit(page, reverse("cases:case-detail", args=[case.pk]), "case-after-reject")
    assert page.get_by_test_id("case-status").inner_text() == "New"
    timeline = page.get_by_test_id("timeline").text_content()
    assert "Action rejected" in timeline and "reason: First offence: warn instead" in timeline
    assert "Returned to the queue" in timeline


def test_a_support_agent_looks_the_account_up_and_sees_the_public_facts_only(
    page, live_server, team
):
    analyst = team["analyst"]
    case = submit(team["platform"], "r-4", "post-spam-4", "acct-looked-up")
    case = case_services.case_claim(actor=analyst, case_id=case.pk)
    case_services.note_add(actor=analyst, case_id=case.pk, body="NOTE-SECRET: part of ring 12")
    case.refresh_from_db()
    from enforcement import services

    services.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        statement_of_reasons="We removed your post for repeated commercial spam.",
        actions=[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 24}],
    )
    login(page, live_server, "sam_support")
    screenshot(page, "support-home")
    page.get_by_label("Account or item id").fill("acct-looked-up")
    click_and_wait(page, page.get_by_role("button", name="Look up"), "lookup")

    assert page.url.startswith(f"{live_server.url}{reverse('enforcement:lookup')}?q=")
    result = page.get_by_test_id("lookup-result")
    rows = page.get_by_test_id("lookup-row")
    assert rows.count() == 2
    text = result.inner_text()
    assert "Suspend the account" in text and "Remove content" in text
    assert "SPAM-1.1" in text and "Commercial spam" in text
    assert "We don't allow repetitive, unsolicited commercial content" in text
    assert "We removed your post for repeated commercial spam." in text
    assert "can be appealed until" in text
    main = page.locator("main").inner_text()
    for secret in (
        "INTERNAL-ONLY",
        "NOTE-SECRET",
        "reporter-jane-77",
        "noor_analyst",
        "cheap followers",
        "Look for volume",
    ):
        assert secret not in main, secret
    assert page.locator(f"a[href*='/cases/{case.pk}/']").count() == 0
    entry = AccessLog.objects.get(action=AccessLog.Action.LOOKED_UP)
    assert entry.object_id == "account:acct-looked-up"

    # The console's case pages stay closed to support.
    response = visit(page, reverse("cases:case-detail", args=[case.pk]), "support-case-404")
    assert response.status == 404


@pytest.mark.parametrize("width", [390, 1024])
def test_the_enforcement_pages_fit_narrow_screens(page, live_server, team, width):
    case = submit(team["platform"], "r-5", "post-spam-5", "acct-narrow")
    case_services.case_claim(actor=team["senior"], case_id=case.pk)
    associate_case = submit(team["platform"], "r-6", "post-spam-6", "acct-narrow-2")
    associate_case = case_services.case_claim(actor=team["associate"], case_id=associate_case.pk)
    from enforcement import services

    services.decision_make(
        actor=team["associate"],
        case_id=associate_case.pk,
        version=associate_case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=[{"type": "suspend", "duration_hours": 720}],
    )
    page.set_viewport_size({"width": width, "height": 844})
    login(page, live_server, "grace_senior")
    for path, label in (
        (reverse("cases:case-detail", args=[case.pk]), "decide"),
        (reverse("cases:case-detail", args=[associate_case.pk]), "pending"),
        (reverse("enforcement:approval-list"), "approvals"),
        (reverse("enforcement:lookup") + "?q=acct-narrow-2", "lookup"),
        (reverse("cases:queue-detail", args=["spam"]), "queue"),
    ):
        visit(page, path, f"{label}-{width}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {label} page scrolls sideways at {width}px"


def test_an_analyst_decides_a_spam_wave_from_the_queue_page(page, live_server, team):
    wave = [
        submit(team["platform"], f"r-w{i}", f"post-wave-{i}", f"acct-wave-{i}") for i in range(3)
    ]
    spared = submit(team["platform"], "r-w9", "post-wave-9", "acct-wave-9")
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:queue-detail", args=["spam"]), "queue")
    for case in wave:
        page.get_by_label(f"Select case {case.pk}").check()
    bulk = page.get_by_test_id("bulk-decide")
    bulk.locator("summary").click()
    bulk.get_by_label("Policy section").select_option("SPAM-1.1")
    bulk.get_by_label("Action").select_option("remove_content")
    bulk.get_by_label("Rationale").fill("Wave 12: same link from fresh accounts within a minute")
    screenshot(page, "bulk-decide-open")
    click_and_wait(page, bulk.get_by_role("button", name="Decide selected"), "wave-decided")

    assert "Decided 3 case(s) under SPAM-1.1: 3 resolved" in page.locator(".messages").inner_text()
    rows = page.locator("[data-case-id]")
    assert [rows.nth(i).get_attribute("data-case-id") for i in range(rows.count())] == [
        str(spared.pk)
    ]
    for case in wave:
        case.refresh_from_db()
        assert case.status == "resolved"
        assert Decision.objects.get(case=case).actions.get().action_type == "remove_content"
