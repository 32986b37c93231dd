"""Above the single case, end to end in headless Chromium at 1440x900: a senior opens a scam
case, follows its account link to the account page, opens the account's network, expands a
node, selects the ring and builds a cluster from the selection; an analyst runs a ban wave on
that cluster, which waits for approval; the senior approves it once, watches the progress bar
and reads each member's result. axe-core finds no serious violation on any page. Screenshots
in /tmp/shots/above-*.png."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import expect

from cases.intake import report_submit
from cases.models import Case
from investigations.models import Cluster, Wave
from investigations.services import waves
from tests.browser.axe import assert_no_serious_violations, install_axe
from tests.browser.conftest import PASSWORD
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
WIDE = {"width": 1440, "height": 900}
RING = {
    "giftcard-seed": [("device", "dev-A1"), ("payment", "4000 1234 5678 9010")],
    "giftcard-2": [("device", "dev-A1")],
    "giftcard-3": [("payment", "4000 1234 5678 9010"), ("device", "dev-B2")],
    "giftcard-4": [("device", "dev-B2")],
}


def _report(platform, name: str, identifiers) -> int:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"above-{name}",
            "reason": "scam_fraud",
            "description": "Sells gift cards bought with stolen cards",
            "reporter_id": f"reporter-{name}",
            "subject": {
                "kind": "content",
                "external_id": f"above-post-{name}",
                "owner_id": name,
                "text": f"Cheap gift cards, DM me ({name})",
            },
            "identifiers": [{"kind": k, "value": v} for k, v in identifiers],
        },
    )
    assert result.errors is None, result.errors
    return result.case_id


@pytest.fixture
def ring(live_server) -> dict:
    platform = make_member("platform_svc", roles.PLATFORM)
    make_member("noor_analyst", roles.ANALYST)
    make_member("grace_senior", roles.SENIOR)
    return {name: _report(platform, name, ids) for name, ids in RING.items()}


def _context(browser, live_server, username: str):
    context = browser.new_context(base_url=live_server.url, viewport=WIDE)
    install_axe(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return context, page


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"above-{name}.png"))


def _run_job_in_a_worker_thread(job_id: int) -> threading.Thread:
    """The wave's job, run as a Celery worker would (the same service), beside the browser."""

    def work():
        try:
            waves.wave_run(job_id=job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_senior_goes_from_a_case_to_a_ring_and_a_wave_runs_on_it_with_approval(
    browser, live_server, ring
):
    senior_context, senior = _context(browser, live_server, "grace_senior")
    errors: list[str] = []
    senior.on("pageerror", lambda error: errors.append(str(error)))

    # The case page names the account behind the reported post: one click opens its page.
    senior.goto(f"/cases/{ring['giftcard-seed']}/")
    senior.get_by_role("link", name="giftcard-seed").first.click()
    senior.wait_for_url("**/accounts/giftcard-seed/")
    expect(senior.get_by_role("heading", level=1)).to_contain_text("giftcard-seed")
    assert "4000 1234 5678 9010" not in senior.content()
    assert_no_serious_violations(senior, "account page")
    _shot(senior, "account")

    # Its network, one hop: the two accounts sharing its device and card; expanding
    # giftcard-3 brings giftcard-4 through the second device.
    senior.get_by_role("link", name="Network").first.click()
    senior.wait_for_url("**/accounts/giftcard-seed/network/**")
    senior.goto("/accounts/giftcard-seed/network/?hops=1")
    senior.wait_for_function("() => window.tsopsNetwork && window.tsopsNetwork.cy.nodes().length")
    senior.wait_for_function("() => window.tsopsNetwork.accountCount() === 3")
    row = senior.locator("#network-account-rows tr", has_text="giftcard-3")
    row.get_by_role("button", name="Neighbours").click()
    senior.wait_for_function("() => window.tsopsNetwork.accountCount() === 4")
    assert_no_serious_violations(senior, "network page, expanded")
    _shot(senior, "network-expanded")

    # Select the ring and build a cluster from the selection.
    for name in RING:
        senior.get_by_role("checkbox", name=f"Select {name}").check()
    senior.get_by_label("Cluster name").fill("Gift-card ring")
    _shot(senior, "network-selected")
    senior.get_by_role("button", name="Build a cluster from selection").click()
    senior.wait_for_url("**/clusters/*/")
    cluster = Cluster.objects.get(name="Gift-card ring")
    assert cluster.origin == Cluster.Origin.MANUAL
    assert sorted(cluster.members.values_list("subject__external_id", flat=True)) == sorted(RING)
    assert_no_serious_violations(senior, "cluster page")
    _shot(senior, "cluster")

    # An analyst bans the ring in one wave; a ban waits for a senior's approval.
    analyst_context, analyst = _context(browser, live_server, "noor_analyst")
    analyst.goto(f"/clusters/{cluster.pk}/")
    analyst.get_by_test_id("run-wave").click()
    analyst.get_by_label("Policy section").select_option("FRAUD-2.1")
    analyst.get_by_label("Rationale").fill("One device and one card behind four scam accounts.")
    analyst.get_by_label("Action on accounts").select_option("ban")
    analyst.get_by_label("Duration (hours)").fill("")
    analyst.get_by_test_id("wave-preview-button").click()
    analyst.wait_for_load_state("load")
    expect(analyst.get_by_test_id("count-members")).to_have_text("4")
    assert_no_serious_violations(analyst, "wave form with preview")
    _shot(analyst, "wave-preview")
    analyst.get_by_test_id("wave-submit-button").click()
    analyst.wait_for_load_state("load")
    wave = Wave.objects.get(cluster=cluster)
    assert wave.status == Wave.Status.PENDING_APPROVAL

    # The senior approves the whole wave once, from the list of waves awaiting approval.
    senior.goto("/waves/")
    senior.get_by_test_id("waves-awaiting").get_by_role("link").first.click()
    expect(senior.get_by_test_id("wave-members").get_by_test_id("wave-member")).to_have_count(4)
    assert_no_serious_violations(senior, "wave awaiting approval")
    senior.get_by_test_id("wave-approve").click()
    senior.wait_for_load_state("load")
    wave.refresh_from_db()
    assert wave.status == Wave.Status.RUNNING and wave.approved_by.username == "grace_senior"
    expect(senior.get_by_test_id("wave-progress")).to_be_visible()
    _shot(senior, "wave-running")

    worker = _run_job_in_a_worker_thread(wave.job_id)
    worker.join(timeout=60)
    assert not worker.is_alive()
    expect(senior.get_by_test_id("wave-status")).to_have_text("Done", timeout=15_000)
    expect(senior.locator("[data-testid=wave-member][data-state=done]")).to_have_count(4)
    assert_no_serious_violations(senior, "wave done")
    _shot(senior, "wave-done")

    # Every member's case is decided once; the cluster is actioned.
    cases = Case.objects.filter(subject__owner__external_id__in=list(RING))
    assert {c.status for c in cases} == {Case.Status.RESOLVED}
    cluster.refresh_from_db()
    assert cluster.status == Cluster.Status.ACTIONED
    assert not errors, errors
    analyst_context.close()
    senior_context.close()
