"""An escalation in headless Chromium: an analyst escalates a threat case from the case page; a
threats team member finds it in the team inbox, acknowledges it and resolves it with a ban
(which waits for a senior's approval: a ban is above the analyst ceiling a team member decides
with); the analyst, outside the restricted team, can no longer open the case.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.intake import report_submit
from cases.models import Case
from enforcement.models import EnforcementAction
from escalations.models import Escalation
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.browser

THREAT = "I know where you live, 14 Elm Street, and I'm coming tonight"
SUMMARY = "Names the target's street and says tonight."
OUTCOME = "Credible threat confirmed; account banned and referred."


@pytest.fixture
def threat_case() -> Case:
    platform = make_member("platform_svc", roles.PLATFORM)
    make_member("noor_analyst", roles.ANALYST)
    make_member("tomas_threats", None, ("threats",))
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": "r-threat-1",
            "reason": "violent_threat",
            "description": "threatening my sister",
            "reporter_id": "reporter-77",
            "subject": {
                "kind": "content",
                "external_id": "post-threat-1",
                "owner_id": "acct-threat",
                "text": THREAT,
            },
        },
    )
    return Case.objects.get(pk=result.case_id)


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


def test_an_analyst_escalates_a_threat_and_the_threats_team_resolves_it_with_a_ban(
    page, live_server, threat_case, console_messages
):
    case_url = reverse("cases:case-detail", args=[threat_case.pk])

    # The analyst escalates from the case page and lands on their home page.
    login(page, live_server, "noor_analyst")
    visit(page, case_url, "analyst-case")
    assert page.get_by_role("link", name="Team inbox").count() == 0
    form = page.get_by_test_id("escalate-form")
    form.get_by_label("Team", exact=True).select_option("threats")
    form.get_by_label("Severity").select_option("P0")
    form.get_by_label("Summary").fill(SUMMARY)
    form.get_by_label("Why it meets the team's criteria").fill("Credible threat: place and time.")
    form.get_by_label("Recommended next steps").fill("Assess; consider a police referral.")
    screenshot(page, "analyst-escalate-filled")
    click_and_wait(page, form.get_by_role("button", name="Escalate"), "analyst-home")

    escalation = Escalation.objects.get(case=threat_case)
    at = timezone.localtime(escalation.raised_at)
    assert page.url.rstrip("/") == live_server.url
    assert f"Escalated to threats at {at:%H:%M}" in page.locator(".messages").inner_text()
    response = visit(page, case_url, "analyst-case-gone")
    assert response.status == 404
    assert THREAT not in page.content()
    # The browser reports that expected 404 as a console error: only later ones count.
    console_messages.clear()
    sign_out(page)

    # The threats member finds it in the team inbox and opens the packet.
    login(page, live_server, "tomas_threats")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team inbox").click()
    page.wait_for_load_state("load")
    screenshot(page, "team-inbox")
    row = page.locator(f'[data-escalation-id="{escalation.pk}"]')
    assert SUMMARY in row.inner_text()
    click_and_wait(page, row.get_by_role("link", name=f"#{escalation.pk}"), "packet")
    assert THREAT in page.get_by_test_id("packet-snapshot").inner_text()
    assert page.get_by_test_id("escalation-status").inner_text() == "Open"
    assert AccessLog.objects.filter(
        actor__username="tomas_threats", object_type="escalations.escalation"
    ).exists()

    click_and_wait(page, page.get_by_role("button", name="Acknowledge"), "acknowledged")
    assert page.get_by_test_id("escalation-status").inner_text() == "Acknowledged"
    assert page.get_by_test_id("acknowledged").inner_text().startswith("tomas_threats")

    resolve = page.get_by_test_id("resolve-form")
    resolve.get_by_label("Outcome").fill(OUTCOME)
    resolve.get_by_label("Referral").fill("Referred to local police, ref 4471")
    resolve.get_by_label("Decision", exact=True).select_option("violation")
    resolve.get_by_label("Policy section").select_option("VIOL-4.1")
    resolve.get_by_label("Action", exact=True).select_option("ban")
    screenshot(page, "resolve-filled")
    click_and_wait(page, resolve.get_by_role("button", name="Resolve"), "resolved")

    assert page.get_by_test_id("escalation-status").inner_text() == "Resolved"
    assert OUTCOME in page.get_by_test_id("outcome").inner_text()
    assert "a senior's approval" in page.locator(".messages").inner_text()
    assert page.get_by_test_id("decision-action-status").inner_text() == "Pending approval"
    escalation.refresh_from_db()
    assert escalation.status == "resolved" and escalation.resolved_by.username == "tomas_threats"
    (ban,) = EnforcementAction.objects.filter(decision=escalation.decision)
    assert (ban.action_type, ban.status) == ("ban", EnforcementAction.Status.PENDING_APPROVAL)
    # The team member still has the case; the analyst never gets it back.
    visit(page, case_url, "team-case")
    assert THREAT in page.content()
    assert console_errors(console_messages) == [], console_errors(console_messages)
    sign_out(page)

    login(page, live_server, "noor_analyst")
    # Nobody is notified of their own action: the raiser's home has no note of it.
    assert f"Case #{threat_case.pk} escalated to threats" not in page.content()
    assert visit(page, case_url, "analyst-case-still-gone").status == 404
