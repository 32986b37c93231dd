"""The network page in a real browser: a seeded ring draws as a graph (a canvas, as many
account nodes as the page counts), clicking an account adds its neighbours, clicking a hub
opens it, the selection fills the cluster form, the tables carry the same data, and axe-core
finds no serious violation. Screenshots at 1440x900 go to /tmp/shots/network-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases import services as case_services
from cases.intake import report_submit
from enforcement import services as enforcement
from tests.browser.axe import assert_no_serious_violations, install_axe
from tests.browser.conftest import PASSWORD
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def _account(platform, name: str, identifiers: list[tuple[str, str]], text: str = "") -> int:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"ring-report-{name}",
            "reason": "scam_fraud",
            "description": "Gift card resale, same script as the others",
            "reporter_id": f"reporter-{name}",
            "subject": {
                "kind": "content",
                "external_id": f"ring-post-{name}",
                "owner_id": name,
                "text": text or f"Cheap gift cards, DM me ({name})",
                "url": f"https://platform.example/p/{name}",
            },
            "identifiers": [{"kind": k, "value": v} for k, v in identifiers],
        },
    )
    assert result.errors is None, result.errors
    return result.case_id


@pytest.fixture
def ring(live_server) -> dict:
    """A gift-card ring: a seed and two devices shared in pairs, one payment card shared by
    three, an e-mail two hops out, an office IP shared by thirty accounts (a hub), and one
    member already suspended."""
    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = make_member("noor_analyst", roles.ANALYST)
    ring = {
        "giftcard-seed": [
            ("device", "dev-A1"),
            ("payment", "4000 1234 5678 9010"),
            ("ip", "203.0.113.7"),
        ],
        "giftcard-2": [("device", "dev-A1"), ("phone", "+44 7700 900123")],
        "giftcard-3": [("payment", "4000 1234 5678 9010"), ("device", "dev-B2")],
        "giftcard-4": [("payment", "4000 1234 5678 9010"), ("email", "cards.resale@mail.example")],
        "giftcard-5": [("device", "dev-B2")],
        "giftcard-6": [("email", "cards.resale@mail.example")],
        "giftcard-7": [("phone", "+44 7700 900123")],
    }
    cases = {name: _account(platform, name, ids) for name, ids in ring.items()}
    for n in range(30):
        _account(platform, f"office-{n:02d}", [("ip", "203.0.113.7")], "Lunch menu photo")
    # giftcard-3 was suspended for the same scam a week ago.
    case = case_services.case_claim(actor=analyst, case_id=cases["giftcard-3"])
    enforcement.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="FRAUD-2.1",
        rationale="Sells stolen gift cards with the ring's script.",
        statement_of_reasons="Your account sold gift cards obtained by fraud.",
        actions=[{"type": "suspend", "duration_hours": 24 * 14}],
    )
    return {"analyst": analyst, "cases": cases}


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"network-{name}.png"), full_page=False)


def _sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def _graph_count(page) -> int:
    return page.evaluate("window.tsopsNetwork.cy.nodes('.account').length")


def _click_node(page, node_id: str) -> None:
    box = page.locator("#network-graph").bounding_box()
    position = page.evaluate(
        "(id) => window.tsopsNetwork.cy.getElementById(id).renderedPosition()", node_id
    )
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])


def _node_id(page, external_id: str) -> str:
    return page.evaluate(
        "(name) => window.tsopsNetwork.cy.nodes('.account').filter("
        "n => n.data('label') === name).id()",
        external_id,
    )


def test_an_analyst_explores_a_ring_on_the_network_page(browser, live_server, ring):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    install_axe(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    _sign_in(page, live_server, "noor_analyst")

    page.goto("/accounts/giftcard-seed/network/?hops=1")
    page.wait_for_function("() => window.tsopsNetwork && window.tsopsNetwork.cy.nodes().length > 0")
    assert page.locator("#network-graph canvas").count() >= 1
    shown = int(page.locator("#network-account-count").get_attribute("data-count"))
    assert shown == _graph_count(page) == 4  # the seed, giftcard-2, -3 and -4
    assert page.evaluate("window.tsopsNetwork.cy.nodes('.hub').length") == 1
    table = page.get_by_test_id("network-table")
    assert table.locator("#network-account-rows tr").count() == 4
    assert table.get_by_role("link", name="giftcard-2").count() >= 1
    assert "4000 1234 5678 9010" not in page.content()
    _shot(page, "one-hop")
    assert_no_serious_violations(page, "network page")

    # Clicking giftcard-3 adds its neighbour giftcard-5; the count and the table follow.
    _click_node(page, _node_id(page, "giftcard-3"))
    page.wait_for_function("() => window.tsopsNetwork.accountCount() === 5")
    assert page.locator("#network-account-count").inner_text() == "5"
    assert table.locator("#network-account-rows tr").count() == 5
    assert _graph_count(page) == 5

    # Opening the office IP hub from the table (keyboard path) brings its thirty accounts.
    page.get_by_role("button", name="Open hub").click()
    page.wait_for_function("() => window.tsopsNetwork.accountCount() === 35")
    _shot(page, "hub-open")

    # Selecting two accounts (shift-click) fills the cluster form and the Open account link.
    page.goto("/accounts/giftcard-seed/network/?hops=2")
    page.wait_for_function("() => window.tsopsNetwork && window.tsopsNetwork.cy.nodes().length > 0")
    page.get_by_role("checkbox", name="Select giftcard-2").check()
    page.get_by_role("checkbox", name="Select giftcard-4").check()
    members = page.locator("#network-cluster-members input[name=members]")
    assert sorted(members.evaluate_all("(els) => els.map(e => e.value)")) == [
        "giftcard-2",
        "giftcard-4",
    ]
    assert page.locator("#network-open-account").is_visible()
    _shot(page, "two-hops-selected")
    assert_no_serious_violations(page, "network page with a selection")
    assert not errors, errors
    context.close()
