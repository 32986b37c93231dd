"""An analyst's day in headless Chromium: queue, `n` for the next case, investigate, note.

Report and content text is attacker-controlled: it must render as text, never run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.intake import report_submit
from cases.models import Case, Identifier
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.browser

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(1)</script>"


def submit(platform, **report) -> Case:
    subject = report.pop("subject")
    data = {
        "source": "user_report",
        "reason": "other",
        "subject": {"kind": "content", **subject},
        **report,
    }
    result = report_submit(actor=platform, data=data)
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)


@pytest.fixture
def dialogs(page) -> list[str]:
    """Every alert/confirm/prompt the page opens (an XSS payload that ran would open one)."""
    opened: list[str] = []

    def record(dialog):
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


@pytest.fixture
def operation():
    """A queue with an urgent hostile-looking case, a linked account and a prior case."""
    platform = make_member("platform_svc", roles.PLATFORM)
    make_member("noor_analyst", roles.ANALYST)
    make_member("ada_associate", roles.ASSOCIATE)
    shared_device = [{"kind": "device", "value": "device-7f3a-shared"}]
    prior = submit(
        platform,
        external_id="r-prior",
        reason="spam",
        description="old spam report",
        subject={"external_id": "post-earlier", "owner_id": "acct-offender", "text": "buy now"},
        identifiers=shared_device,
    )
    sock = submit(
        platform,
        external_id="r-linked",
        description="sock puppet",
        subject={"external_id": "post-sock", "owner_id": "acct-sockpuppet", "text": "hello"},
        identifiers=shared_device,
    )
    case = submit(
        platform,
        external_id="r-1",
        description=XSS_SCRIPT,
        subject={
            "external_id": "post-hostile",
            "owner_id": "acct-offender",
            "text": XSS_IMG,
            "url": "https://platform.example/p/post-hostile",
        },
        identifiers=[*shared_device, {"kind": "email", "value": "offender@example.com"}],
    )
    submit(
        platform,
        source="automated_flag",
        external_id="flag-1",
        detector="hostile-markup-v2",
        score=0.93,
        description=XSS_IMG,
        subject={"external_id": "post-hostile", "owner_id": "acct-offender"},
    )
    # Make it the most urgent case in the queue, so "Next case" hands it out; the other one
    # is overdue and tagged, as a queue page shows them.
    Case.objects.filter(pk=case.pk).update(severity=1)
    Case.objects.filter(pk=sock.pk).update(
        resolve_due=timezone.now() - timedelta(hours=2), tags=["sockpuppets", "wave-3"]
    )
    return {"case": Case.objects.get(pk=case.pk), "prior": prior}


def test_an_analyst_takes_the_next_case_with_n_and_investigates_it(
    page, live_server, dialogs, console_messages, operation
):
    case = operation["case"]
    login(page, live_server, "noor_analyst")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queues").click()
    page.wait_for_load_state("load")
    screenshot(page, "queues")
    page.get_by_role("link", name="General").click()
    page.wait_for_load_state("load")
    screenshot(page, "queue-general")
    assert page.get_by_role("heading", level=1).inner_text().startswith("General")
    rows = page.locator("[data-case-id]")
    assert rows.first.get_attribute("data-case-id") == str(case.pk)
    assert XSS_IMG in rows.first.inner_text()

    with page.expect_navigation():
        page.locator("body").press("n")
    page.wait_for_load_state("networkidle")
    screenshot(page, "case-after-n")

    assert page.url == f"{live_server.url}{reverse('cases:case-detail', args=[case.pk])}"
    assert page.get_by_test_id("case-status").inner_text() == "In review"
    assert page.get_by_test_id("claimant").inner_text().startswith("noor_analyst")
    # The subject, as reported, shown as the characters it is.
    assert page.get_by_test_id("subject").get_by_text("post-hostile", exact=True).is_visible()
    assert page.get_by_test_id("snapshot").inner_text() == XSS_IMG
    # Reports: the human one and the automated flag, grouped and listed.
    reports = page.get_by_test_id("report")
    assert reports.count() == 2
    texts = reports.all_inner_texts()
    assert any(XSS_SCRIPT in t for t in texts) and any(XSS_IMG in t for t in texts)
    assert any("hostile-markup-v2" in t and "0.93" in t for t in texts)
    # The owner's history and the accounts sharing its device.
    assert page.get_by_test_id("repeat-offender").is_visible()
    prior_link = page.get_by_test_id("prior-cases").get_by_role(
        "link", name=f"#{operation['prior'].pk}"
    )
    assert prior_link.is_visible()
    page.get_by_test_id("linked-accounts").locator("summary").click()
    linked = page.get_by_test_id("linked-account")
    assert linked.count() == 1 and "acct-sockpuppet" in linked.inner_text()
    assert "Device" in linked.inner_text()
    timeline = page.get_by_test_id("timeline").text_content()
    assert "Case opened" in timeline and "Report received" in timeline and "Claimed" in timeline
    # While the analyst holds the claim the page keeps its lease alive.
    assert page.get_by_test_id("lease-renew").get_attribute("hx-trigger") == "every 300s"
    # Nothing from the payloads became markup.
    assert page.locator("main img").count() == 0
    assert page.locator("main script:not([type='application/json'])").count() == 0

    page.get_by_label("Add a note").fill(f"Payload seen: {XSS_IMG}")
    with page.expect_navigation():
        page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state("load")
    screenshot(page, "note-added")

    notes = page.get_by_test_id("note")
    assert notes.count() == 1
    assert f"Payload seen: {XSS_IMG}" in notes.first.inner_text()
    assert "noor_analyst" in notes.first.inner_text()
    assert "Note added" in page.get_by_test_id("timeline").text_content()
    assert page.locator("main img").count() == 0
    assert dialogs == []
    # The browser's own favicon request may 404; anything else printed as an error is a defect.
    errors = [
        (m.text, m.location.get("url", ""))
        for m in console_messages
        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
    ]
    assert errors == []


def test_hostile_report_text_stays_text_in_search_results(page, live_server, dialogs, operation):
    login(page, live_server, "noor_analyst")

    page.keyboard.press("/")
    page.keyboard.type("post-hostile")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    # The subject's exact id opens its case; with a filter the search lists it instead.
    assert page.url.endswith(reverse("cases:case-detail", args=[operation["case"].pk]))
    visit(page, reverse("cases:search") + "?q=post-hostile&status=open", "search-results")

    results = page.get_by_test_id("search-results").locator("[data-case-id]")
    assert results.count() == 1
    assert XSS_IMG in results.first.inner_text()
    assert page.locator("main img").count() == 0

    visit(page, reverse("cases:case-detail", args=[operation["case"].pk]), "case-unclaimed")
    assert page.get_by_test_id("snapshot").inner_text() == XSS_IMG
    assert page.get_by_test_id("lease-renew").count() == 0
    assert dialogs == []


def test_an_associate_reveals_an_identifier_with_a_reason_in_place(
    page, live_server, dialogs, operation
):
    case = operation["case"]
    email = Identifier.objects.get(account__external_id="acct-offender", kind="email")
    login(page, live_server, "ada_associate")
    visit(page, reverse("cases:case-detail", args=[case.pk]), "case-as-associate")

    page.get_by_test_id("identifiers").locator("summary").click()
    row = page.get_by_test_id(f"identifier-{email.pk}")
    assert row.get_by_test_id("masked").inner_text() == email.masked
    assert email.value_hash not in page.content()

    row.get_by_label("Reason to reveal email").fill("ban evasion check")
    row.get_by_role("button", name="Reveal").click()
    page.get_by_test_id(f"identifier-{email.pk}").get_by_test_id("fingerprint").wait_for()
    screenshot(page, "identifier-revealed")

    assert page.get_by_test_id("fingerprint").inner_text() == email.value_hash
    # Swapped in place: still the case page, and the reveal is on record with its reason.
    assert page.url.endswith(reverse("cases:case-detail", args=[case.pk]))
    entry = AccessLog.objects.get(action=AccessLog.Action.REVEALED_PII)
    assert (entry.actor_username, entry.reason) == ("ada_associate", "ban evasion check")
    assert dialogs == []


def test_sensitive_evidence_is_blurred_until_revealed(page, live_server, dialogs, operation):
    case = operation["case"]
    analyst = get_user_model().objects.get(username="noor_analyst")
    evidence = services.evidence_add(
        actor=analyst,
        case_id=case.pk,
        kind="excerpt",
        excerpt=f"graphic excerpt {XSS_SCRIPT}",
        sensitive=True,
    )
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:case-detail", args=[case.pk]), "evidence-blurred")

    item = page.get_by_test_id(f"evidence-{evidence.pk}")
    assert item.locator(".blurred").is_visible()
    assert "graphic excerpt" not in item.inner_text()

    item.get_by_role("button", name="Reveal (logged)").click()
    page.get_by_test_id(f"evidence-{evidence.pk}").get_by_text("graphic excerpt").wait_for()
    screenshot(page, "evidence-revealed")

    item = page.get_by_test_id(f"evidence-{evidence.pk}")
    assert item.locator(".blurred").count() == 0
    assert XSS_SCRIPT in item.inner_text()
    assert AccessLog.objects.filter(
        action=AccessLog.Action.REVEALED_MEDIA, object_id=str(evidence.pk)
    ).exists()
    assert dialogs == []


@pytest.mark.parametrize("width", [390, 1024])
def test_the_queue_and_case_pages_fit_narrow_screens(page, live_server, operation, width):
    page.set_viewport_size({"width": width, "height": 844})
    login(page, live_server, "noor_analyst")

    for path, label in (
        (reverse("cases:queue-detail", args=["general"]), "queue"),
        (reverse("cases:case-detail", args=[operation["case"].pk]), "case"),
    ):
        visit(page, path, f"{label}-{width}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the {label} page scrolls sideways at {width}px"


def test_the_open_case_page_renews_the_claim_every_five_minutes(page, live_server, operation):
    case = operation["case"]
    analyst = get_user_model().objects.get(username="noor_analyst")
    services.case_claim(actor=analyst, case_id=case.pk)
    page.clock.install()
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:case-detail", args=[case.pk]), "case-claimed")
    # Pretend the lease is about to run out; the page's heartbeat must push it back.
    soon = timezone.now() + timedelta(minutes=1)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=soon)
    renew_url = reverse("cases:case-lease-renew", args=[case.pk])

    with page.expect_response(lambda r: r.url.endswith(renew_url)) as ping:
        page.clock.run_for("05:01")

    assert ping.value.request.method == "POST"
    assert ping.value.status == 204
    case.refresh_from_db()
    assert case.lease_expires_at > soon + timedelta(minutes=10)

    # Once the claim is gone the next ping gets 409 and the page says so.
    services.case_release(actor=analyst, case_id=case.pk)
    with page.expect_response(lambda r: r.url.endswith(renew_url)) as lost:
        page.clock.run_for("05:01")
    assert lost.value.status == 409
    page.locator("#lease-lost").wait_for(state="visible")
    screenshot(page, "lease-lost")


def test_an_analyst_reopens_a_resolved_case_with_new_evidence(page, live_server):
    """Rework from the case page: the evidence goes in first, then the case is reopened and
    is back in its queue with its history."""
    from enforcement import services as enforcement

    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = make_member("noor_analyst", roles.ANALYST)
    case = submit(
        platform,
        external_id="r-reopen",
        reason="spam",
        subject={"external_id": "post-review", "owner_id": "acct-reviewer", "text": "great shop"},
    )
    claimed = services.case_claim(actor=analyst, case_id=case.pk)
    enforcement.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=claimed.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Looked like a paid review.",
        actions=[{"type": "remove_content"}],
    )
    login(page, live_server, "noor_analyst")
    visit(page, reverse("cases:case-detail", args=[case.pk]), "resolved-case")
    assert page.get_by_test_id("case-status").inner_text() == "Resolved"
    page.get_by_text("Add evidence", exact=True).first.click()
    page.get_by_label("Kind").select_option("excerpt")
    page.get_by_label("Excerpt").fill("Order receipt #5521: the reviewer bought the product.")
    page.get_by_role("button", name="Add evidence").click()
    page.wait_for_load_state("load")
    page.get_by_text("Reopen with new evidence").click()
    page.get_by_label("Why it needs a new decision").fill("A real customer: the receipt shows it.")
    screenshot(page, "reopen-form")
    page.get_by_role("button", name="Reopen the case").click()
    page.wait_for_load_state("load")
    screenshot(page, "reopened")
    assert page.get_by_test_id("case-status").inner_text() == "New"
    assert "is reopened and back in" in page.content()
    timeline = page.get_by_test_id("timeline").text_content()
    assert "Reopened as rework" in timeline and "New evidence" in timeline
    case.refresh_from_db()
    assert case.status == Case.Status.NEW and case.reopen_count == 1
