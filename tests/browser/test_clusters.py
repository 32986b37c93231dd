"""Clusters in headless Chromium at 1440x900: the job finds a device-and-payment ring and a
copy-paste spam wave; an analyst sorts the list by size, opens the ring (members linking to
their account pages, shared identifiers, the graph) and dismisses it saying why; the spam
cluster shows its sample content escaped. axe-core clean on every page. Screenshots in
/tmp/shots/clusters-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from cases.intake import report_submit
from investigations.models import Cluster
from investigations.services.clusters import clusters_find
from tests.browser.axe import assert_no_serious_violations
from tests.browser.conftest import login
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
WIDE = {"width": 1440, "height": 900}
SPAM = "Crypto giveaway!! Send 0.1 BTC and get 1 BTC back <b>today</b> at coin-double.example"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"clusters-{name}.png"), full_page=True)


def _report(platform, n: int, subject: dict, identifiers=(), reason: str = "spam") -> None:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"cl-browser-{n}",
            "reason": reason,
            "description": "Part of a wave of look-alike accounts",
            "reporter_id": f"reporter-{n}",
            "subject": subject,
            "identifiers": [{"kind": k, "value": v} for k, v in identifiers],
        },
    )
    assert result.errors is None, result.errors


@pytest.fixture
def found(live_server) -> dict:
    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = make_member("noor_analyst", roles.ANALYST)
    for n in range(6):
        identifiers = [("device", "android-ring-7f3a"), ("ip", f"203.0.113.{n}")]
        if n >= 3:
            identifiers.append(("payment", "4000 0566 5566 5556"))
        _report(platform, n, {"kind": "account", "external_id": f"giveaway-{n:02d}"}, identifiers)
    for n in range(5):
        _report(
            platform,
            100 + n,
            {
                "kind": "content",
                "external_id": f"post-coin-{n}",
                "owner_id": f"coin-seller-{n}",
                "text": f"{SPAM} ref {n}",
            },
        )
    clusters_find()
    return {
        "analyst": analyst,
        "ring": Cluster.objects.get(origin=Cluster.Origin.IDENTIFIERS),
        "spam": Cluster.objects.get(origin=Cluster.Origin.CONTENT),
    }


def test_an_analyst_reads_the_clusters_and_dismisses_one(page, live_server, found):
    ring, spam = found["ring"], found["spam"]
    page.set_viewport_size(WIDE)
    login(page, live_server, "noor_analyst")
    page.goto("/clusters/?sort=size")
    page.wait_for_load_state("load")
    rows = page.get_by_test_id("cluster-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    # Sorted by size: the ring (6 accounts) before the spam wave (5).
    assert rows.nth(0).get_attribute("data-cluster-id") == str(ring.pk)
    assert rows.nth(0).get_by_test_id("cluster-size").inner_text() == "6"
    assert_no_serious_violations(page, "cluster list")
    shot(page, "list")

    page.get_by_role("link", name=ring.name).click()
    page.wait_for_load_state("load")
    members = page.get_by_test_id("cluster-members")
    expect(members.locator("tbody tr")).to_have_count(6)
    assert members.get_by_role("link", name="giveaway-03").get_attribute("href") == (
        "/accounts/giveaway-03/"
    )
    identifiers = page.get_by_test_id("cluster-identifiers")
    assert "Device" in identifiers.inner_text() and "Payment" in identifiers.inner_text()
    graph = page.get_by_test_id("cluster-graph")
    if page.locator("#network-graph").count():
        expect(graph.locator("canvas").first).to_be_visible()
    assert_no_serious_violations(page, "cluster page, open")
    shot(page, "detail")

    page.get_by_label("Why dismiss it?").fill("Test devices of the platform's QA lab.")
    page.get_by_role("button", name="Dismiss cluster").click()
    page.wait_for_load_state("load")
    expect(page.get_by_test_id("cluster-status")).to_have_text("Dismissed")
    assert "QA lab" in page.get_by_test_id("cluster-status-reason").inner_text()
    ring.refresh_from_db()
    assert ring.status == Cluster.Status.DISMISSED and ring.status_changed_by == found["analyst"]
    assert_no_serious_violations(page, "cluster page, dismissed")
    shot(page, "dismissed")

    page.goto(f"/clusters/{spam.pk}/")
    page.wait_for_load_state("load")
    sample = page.get_by_test_id("cluster-sample")
    # The snapshot's markup is shown as text, never rendered.
    assert "<b>today</b>" in sample.inner_text()
    assert page.get_by_test_id("cluster-content").locator("tbody tr").count() == 5
    assert_no_serious_violations(page, "content cluster page")
    shot(page, "content")
