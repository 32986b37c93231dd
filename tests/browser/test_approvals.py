"""The analyst workspace in headless Chromium at 1440x900: a senior's approvals (what was
reported, the account's standing, most severe first, a permanent ban confirmed), the response
templates with their live preview, the support lookup's standing, and raising an escalation
with no team chosen for you. Screenshots in test-artifacts/browser/<test>/."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from cases.intake import report_submit
from cases.models import Case
from enforcement import responses, services
from enforcement.models import EnforcementAction, ResponseTemplate
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}


def submit(platform, n: int, reason: str, owner: str, text: str, **extra) -> Case:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"r-ws-{n}",
            "reason": reason,
            "description": extra.pop("description", "Reported by a user who lost money."),
            "reporter_id": f"reporter-{n}",
            "subject": {
                "kind": "content",
                "external_id": f"post-ws-{n}",
                "owner_id": owner,
                "text": text,
                **extra,
            },
        },
    )
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)


def decide(actor, case: Case, section: str, actions: list[dict]):
    case = case_services.case_claim(actor=actor, case_id=case.pk)
    return services.decision_make(
        actor=actor,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section=section,
        rationale="INTERNAL: pattern matches the current wave",
        actions=actions,
    )


def click_and_wait(page, locator, label: str) -> None:
    with page.expect_navigation():
        locator.click()
    page.wait_for_load_state("load")
    screenshot(page, label)


@pytest.fixture
def team():
    return {
        "platform": make_member("platform_svc", roles.PLATFORM),
        "analyst": make_member("noor_analyst", roles.ANALYST),
        "associate": make_member("ada_associate", roles.ASSOCIATE),
        "senior": make_member("grace_senior", roles.SENIOR),
        "support": make_member("sam_support", roles.SUPPORT),
    }


@pytest.fixture
def waiting(team):
    """A P3 suspension proposed first, then a P1 ban on an account with a history."""
    spam = submit(team["platform"], 1, "spam", "acct-spammer", "Cheap followers at bit.ly/x " * 3)
    suspension = decide(
        team["associate"], spam, "SPAM-1.1", [{"type": "suspend", "duration_hours": 720}]
    ).actions.get()
    earlier = submit(team["platform"], 2, "scam_fraud", "acct-scammer", "Send gift cards now")
    decide(team["analyst"], earlier, "FRAUD-2.1", [{"type": "remove_content"}, {"type": "warn"}])
    scam = submit(
        team["platform"],
        3,
        "scam_fraud",
        "acct-scammer",
        "<b>Guaranteed returns</b> — wire 500 € and get 5,000 € back. " * 12,
        media=["https://cdn.example/receipt.jpg"],
        description="They took my savings <script>alert(1)</script>",
    )
    ban = decide(team["analyst"], scam, "FRAUD-2.1", [{"type": "ban"}]).actions.get()
    return {"suspension": suspension, "ban": ban}


def test_a_senior_reads_the_cards_and_confirms_a_permanent_ban(
    page, live_server, team, waiting, console_messages
):
    page.set_viewport_size(WIDE)
    ban, suspension = waiting["ban"], waiting["suspension"]
    login(page, live_server, "grace_senior")
    visit(page, reverse("enforcement:approval-list"), "approvals")

    ids = page.locator("[data-action-id]").evaluate_all(
        "els => els.map(e => Number(e.dataset.actionId))"
    )
    assert ids == [ban.pk, suspension.pk]  # P1 before P3, whatever the age
    card = page.get_by_test_id(f"approval-{ban.pk}")
    content = card.get_by_test_id("approval-content").inner_text()
    assert "<b>Guaranteed returns</b>" in content and "…" in content
    assert "They took my savings <script>alert(1)</script>" in content
    assert "Scam or fraud" in content and "scam_fraud" not in content
    assert "1 media item hidden here" in content
    assert page.locator("img[src*='receipt']").count() == 0
    standing = card.get_by_test_id("approval-standing").inner_text()
    assert "acct-scammer" in standing
    assert card.get_by_test_id("standing-restrictions").inner_text() == "0"
    assert card.get_by_test_id("standing-strikes").inner_text().startswith("2")
    assert card.get_by_test_id("standing-prior-cases").inner_text() == "1"
    card.scroll_into_view_if_needed()
    screenshot(page, "ban-card")

    # Approving without the confirmation: the browser keeps the form, nothing is approved.
    button = card.get_by_role("button", name="Approve permanent ban")
    button.click()
    assert card.get_by_label("I confirm this permanent ban").evaluate("el => !el.validity.valid")
    ban.refresh_from_db()
    assert ban.status == EnforcementAction.Status.PENDING_APPROVAL
    card.get_by_label("I confirm this permanent ban").check()
    screenshot(page, "ban-confirmed")
    click_and_wait(page, button, "ban-approved")
    assert "Approved: Ban the account permanently" in page.locator(".messages").inner_text()
    ban.refresh_from_db()
    assert ban.status == EnforcementAction.Status.ACTIVE

    # The suspension needs no confirmation.
    card = page.get_by_test_id(f"approval-{suspension.pk}")
    assert card.get_by_label("I confirm this permanent ban").count() == 0
    click_and_wait(page, card.get_by_role("button", name="Approve", exact=True), "all-approved")
    assert page.get_by_test_id("approvals-empty").is_visible()
    assert [m for m in console_messages if m.type == "error"] == []


def test_a_senior_writes_a_template_with_a_live_preview_and_revises_it(
    page, live_server, team, console_messages
):
    page.set_viewport_size(WIDE)
    login(page, live_server, "grace_senior")
    visit(page, reverse("enforcement:response-template-list"), "templates")
    section = page.get_by_test_id("template-section-SPAM-1.1")
    click_and_wait(page, section.get_by_role("link", name="New template"), "new-template")
    form = page.get_by_test_id("template-form")
    assert form.get_by_label("Policy section").input_value() == "SPAM-1.1"
    form.get_by_label("Title").fill("Standard notice")
    form.get_by_label("Text").fill(
        "We {action} under “{section_title}”. Appeal by {apeal_deadline}."
    )
    preview = page.get_by_test_id("template-preview")
    preview.get_by_text("Unknown variable {apeal_deadline}").wait_for()
    screenshot(page, "preview-error")
    form.get_by_label("Text").fill(
        "We reviewed your post under “{section_title}”: we {action}. "
        "You can appeal until {appeal_deadline}."
    )
    preview.get_by_test_id("preview-text").wait_for()
    text = preview.inner_text()
    assert "we suspend the account for 7 days" in text and "Commercial spam" in text
    screenshot(page, "preview-ok")
    click_and_wait(page, form.get_by_role("button", name="Create"), "created")
    template = ResponseTemplate.objects.get(title="Standard notice")

    click_and_wait(
        page,
        page.get_by_test_id("template-section-SPAM-1.1").get_by_role("link", name="Edit"),
        "edit",
    )
    page.get_by_label("Text").fill(template.body + " Thank you.")
    click_and_wait(page, page.get_by_role("button", name="Save as version 2"), "revised")
    assert "is now version 2" in page.locator(".messages").inner_text()
    assert ResponseTemplate.objects.get(pk=template.pk).body == template.body
    assert [m for m in console_messages if m.type == "error"] == []


def test_support_sees_the_standing_first_and_a_friendly_page_for_nothing(
    page, live_server, team, waiting
):
    page.set_viewport_size(WIDE)
    responses.response_template_create(
        actor=team["senior"],
        section_code="FRAUD-2.1",
        kind="message",
        title="Notice",
        body="We {action}.",
    )
    login(page, live_server, "sam_support")
    visit(page, reverse("enforcement:lookup") + "?q=acct-scammer", "lookup")
    html = page.content()
    assert html.index('data-testid="lookup-standing"') < html.index('data-testid="lookup-result"')
    assert page.get_by_test_id("standing-strikes").inner_text().startswith("2")
    page.get_by_test_id("active-only").check()
    click_and_wait(page, page.get_by_role("button", name="Filter"), "lookup-active-only")
    assert "in force now" in page.get_by_test_id("lookup-count").inner_text()
    response = visit(page, reverse("enforcement:lookup") + "?q=acct-nobody", "lookup-nothing")
    assert response.status == 200
    assert (
        "No enforcement on record for acct-nobody"
        in page.get_by_test_id("lookup-nothing").inner_text()
    )


def test_an_analyst_must_choose_the_team_and_the_case_takes_the_severity(page, live_server, team):
    page.set_viewport_size(WIDE)
    case = submit(team["platform"], 9, "harassment", "acct-threat", "see you at the station")
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:case-detail", args=[case.pk]), "case")
    form = page.get_by_test_id("escalate-form")
    team_select = form.get_by_label("Team", exact=True)
    assert team_select.input_value() == ""
    assert form.get_by_label("Severity").input_value() == case.severity_code
    form.get_by_label("Summary").fill("Names a place and a time.")
    form.get_by_label("Why it meets the team's criteria").fill("Credible threat.")
    form.scroll_into_view_if_needed()
    form.get_by_role("button", name="Escalate").click()
    assert team_select.evaluate("el => !el.validity.valid")
    screenshot(page, "team-required")
    team_select.select_option("fraud-security")
    form.get_by_label("Severity").select_option("P0")
    click_and_wait(page, form.get_by_role("button", name="Escalate"), "escalated")
    case.refresh_from_db()
    assert case.status == Case.Status.ESCALATED and case.severity == 0
    assert case.first_action_due > timezone.now()
