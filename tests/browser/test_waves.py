"""Wave enforcement in headless Chromium at 1440x900: an analyst previews a ban wave on a
cluster (members flagged where the ladder recommends more, one skipped because another
analyst works it) and submits it; a senior approves it once; the progress bar reaches done
and the results show each member's outcome. axe-core clean on every page. Screenshots in
/tmp/shots/waves-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from cases.intake import report_submit_batch
from cases.models import Case, Subject
from cases.services import case_claim
from investigations.models import Cluster, ClusterMember, Wave
from investigations.services import waves
from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import PASSWORD, login
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
WIDE = {"width": 1440, "height": 900}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"waves-{name}.png"), full_page=True)


@pytest.fixture
def ring(live_server) -> dict:
    people = {
        "platform": make_member("platform_svc", roles.PLATFORM),
        "analyst": make_member("noor_analyst", roles.ANALYST),
        "other": make_member("mateo_analyst", roles.ANALYST),
        "senior": make_member("grace_senior", roles.SENIOR),
    }
    report_submit_batch(
        actor=people["platform"],
        items=[
            {
                "source": "user_report",
                "external_id": f"wave-browser-{i}",
                "reason": "spam",
                "description": "Follow-for-follow giveaway from a fresh account",
                "reporter_id": f"reporter-{i}",
                "subject": {"kind": "account", "external_id": f"giveaway-{i:02d}"},
            }
            for i in range(12)
        ],
    )
    cluster = Cluster.objects.create(
        name="Crypto giveaway ring", origin=Cluster.Origin.IDENTIFIERS, size=12
    )
    ClusterMember.objects.bulk_create(
        [
            ClusterMember(cluster=cluster, subject=s, role="account")
            for s in Subject.objects.filter(external_id__startswith="giveaway-")
        ]
    )
    held = Case.objects.get(subject__external_id="giveaway-03")
    case_claim(actor=people["other"], case_id=held.pk)
    return {**people, "cluster": cluster}


def test_a_ban_wave_is_previewed_approved_once_and_runs_to_done(page, browser, live_server, ring):
    cluster = ring["cluster"]
    page.set_viewport_size(WIDE)
    login(page, live_server, "noor_analyst")
    page.goto(f"/clusters/{cluster.pk}/wave/")
    page.get_by_label("Policy section").select_option("SPAM-1.2")
    page.get_by_label("Rationale").fill("Twelve accounts on one device posting the same giveaway.")
    page.get_by_label("Action on accounts").select_option("ban")
    page.get_by_label("Duration (hours)").fill("")
    page.get_by_test_id("wave-preview-button").click()
    page.wait_for_load_state("load")
    preview = page.get_by_test_id("wave-preview")
    assert preview.get_by_test_id("count-members").inner_text() == "12"
    assert preview.get_by_test_id("count-busy").inner_text() == "1"
    assert "mateo_analyst" in page.get_by_test_id("preview-busy").inner_text()
    assert page.get_by_test_id("wave-severe").is_visible()
    assert page.get_by_test_id("statement-preview").count() == 1
    assert_no_serious_violations(page, "wave form with preview")
    shot(page, "form-preview")
    page.get_by_test_id("wave-submit-button").click()
    page.wait_for_load_state("load")
    wave = Wave.objects.get(cluster=cluster)
    assert wave.status == Wave.Status.PENDING_APPROVAL
    assert page.get_by_test_id("own-wave").is_visible()
    assert_no_serious_violations(page, "wave awaiting approval, requester")
    shot(page, "pending-requester")

    senior = browser.new_context(base_url=live_server.url, viewport=WIDE).new_page()
    senior.set_default_timeout(15_000)
    senior.goto("/accounts/login/")
    senior.get_by_label("Username").fill("grace_senior")
    senior.get_by_label("Password").fill(PASSWORD)
    senior.get_by_role("button", name="Sign in").click()
    senior.wait_for_load_state("load")
    senior.goto("/waves/")
    assert senior.get_by_test_id("waves-awaiting").is_visible()
    assert_no_serious_violations(senior, "wave list, senior")
    shot(senior, "list-senior")
    senior.get_by_test_id("waves-awaiting").get_by_role("link").first.click()
    senior.wait_for_load_state("load")
    assert senior.get_by_test_id("wave-approval").is_visible()
    assert senior.get_by_test_id("wave-members").get_by_test_id("wave-member").count() == 12
    assert_no_serious_violations(senior, "wave awaiting approval, senior")
    shot(senior, "approval-senior")
    senior.get_by_test_id("wave-approve").click()
    senior.wait_for_load_state("load")
    wave.refresh_from_db()
    assert wave.status == Wave.Status.RUNNING and wave.approved_by == ring["senior"]
    assert senior.get_by_test_id("wave-progress").get_attribute("hx-get")
    shot(senior, "running")
    # The worker: the job runs here (a Celery worker runs the same function).
    assert waves.wave_run(job_id=wave.job_id)
    # The progress poll sees the wave done and reloads the page with the results.
    expect(senior.get_by_test_id("wave-status")).to_have_text("Done", timeout=15_000)
    expect(senior.locator("[data-testid=wave-member][data-state=done]")).to_have_count(11)
    assert "12 of 12" in senior.get_by_test_id("wave-processed").inner_text()
    rows = senior.locator("[data-testid=wave-member]")
    assert senior.locator("[data-testid=wave-member][data-state=done]").count() == 11
    skipped = senior.locator("[data-testid=wave-member][data-state=skipped]")
    assert skipped.count() == 1 and "mateo_analyst" in skipped.inner_text()
    assert rows.count() == 12
    assert_no_serious_violations(senior, "wave done, senior")
    shot(senior, "done")
