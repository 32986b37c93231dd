"""The account page in a real browser: an analyst opens a case, follows its account's link to
the account page and finds its standing, cases, linked accounts, identifiers, the reports it
made and one timeline; an associate reveals a masked identifier with a reason in place (htmx).
axe-core finds no serious violation. Screenshots at 1440x900 go to /tmp/shots/accounts-*.png."""

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
ACCOUNT = "seller-4471"


def _report(platform, n: int, owner: str, reason: str, text: str, **extra) -> int:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"acct-page-{n}",
            "reason": reason,
            "description": f"Reported for {reason.replace('_', ' ')}",
            "reporter_id": extra.pop("reporter_id", f"reporter-{n}"),
            "subject": {
                "kind": "content",
                "external_id": f"listing-{owner}-{n}",
                "owner_id": owner,
                "text": text,
                "url": f"https://platform.example/l/{n}",
            },
            **extra,
        },
    )
    assert result.errors is None, result.errors
    return result.case_id


@pytest.fixture
def seller(live_server) -> dict:
    """A marketplace seller with three listings reported, one already decided (a 14-day
    suspension), a device and card shared with a second seller, and a report of its own."""
    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = make_member("noor_analyst", roles.ANALYST)
    make_member("ada_associate", roles.ASSOCIATE)
    shared = [
        {"kind": "device", "value": "dev-7F3A-22"},
        {"kind": "payment", "value": "4000 1234 5678 9010"},
        {"kind": "email", "value": "seller4471@mail.example"},
    ]
    cases = [
        _report(
            platform,
            1,
            ACCOUNT,
            "scam_fraud",
            "Designer bags 90% off, pay by gift card",
            identifiers=shared,
        ),
        _report(platform, 2, ACCOUNT, "scam_fraud", "iPhone 15 for 99, deposit first"),
        _report(platform, 3, ACCOUNT, "spam", "Follow my shop for free giveaways"),
    ]
    _report(platform, 4, "seller-9902", "spam", "Same bags, same price", identifiers=shared[:2])
    _report(platform, 5, "buyer-1200", "harassment", "You will regret this", reporter_id=ACCOUNT)
    case = case_services.case_claim(actor=analyst, case_id=cases[1])
    enforcement.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="FRAUD-2.1",
        rationale="Advance-fee listing with the same script as the ring.",
        statement_of_reasons="Your listing asked for payment for goods that do not exist.",
        actions=[{"type": "suspend", "duration_hours": 24 * 14}],
    )
    return {"cases": cases}


def _context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    install_axe(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return context, page, errors


def _sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def _shot(page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"accounts-{name}.png"), full_page=full_page)


def test_an_analyst_opens_the_account_from_a_case(browser, live_server, seller):
    context, page, errors = _context(browser, live_server)
    _sign_in(page, "noor_analyst")
    page.goto(f"/cases/{seller['cases'][0]}/")
    with page.expect_navigation():
        page.get_by_test_id("subject").get_by_role("link", name=ACCOUNT).click()
    assert page.url.endswith(f"/accounts/{ACCOUNT}/")
    assert page.get_by_test_id("account-id").inner_text() == ACCOUNT
    assert page.get_by_test_id("case-count").inner_text() == "3"
    assert page.get_by_test_id("account-case").count() == 3
    assert page.get_by_test_id("standing-active").inner_text() == "1"
    assert "Suspend" in page.get_by_test_id("standing-restrictions").inner_text()
    assert page.get_by_test_id("linked-account").count() == 1
    assert page.get_by_test_id("reports-made-count").inner_text() == "1"
    assert page.get_by_test_id("timeline-event").count() >= 6
    assert page.get_by_test_id("network-link").is_visible()
    _shot(page, "analyst")
    _shot(page, "analyst-full", full_page=True)
    assert_no_serious_violations(page, "account page")

    # The linked seller is one click away.
    with page.expect_navigation():
        page.get_by_test_id("linked-accounts").get_by_role("link", name="seller-9902").click()
    assert page.get_by_test_id("account-id").inner_text() == "seller-9902"

    # The search box opens any account by its id (or lists those starting with it).
    page.get_by_role("searchbox", name="Open an account by its id").fill("seller-")
    with page.expect_navigation():
        page.get_by_role("button", name="Open").click()
    assert page.get_by_test_id("account-result").count() == 2
    _shot(page, "search")
    assert_no_serious_violations(page, "account search")
    assert not errors, errors
    context.close()


def test_an_associate_reveals_a_masked_identifier_with_a_reason(browser, live_server, seller):
    context, page, errors = _context(browser, live_server)
    _sign_in(page, "ada_associate")
    page.goto(f"/accounts/{ACCOUNT}/")
    identifiers = page.get_by_test_id("identifiers")
    assert identifiers.get_by_test_id("fingerprint").count() == 0
    assert "4000 1234" not in page.content()
    _shot(page, "associate")
    assert_no_serious_violations(page, "account page, masked")
    field = identifiers.get_by_role("textbox", name="Reason to reveal Device")
    field.fill("Same device as a seller in the bags ring")
    identifiers.get_by_role("button", name="Reveal").first.click()
    page.wait_for_selector('[data-testid="fingerprint"]')
    assert identifiers.get_by_test_id("fingerprint").count() == 1
    assert identifiers.get_by_role("link", name="seller-9902").count() == 1
    assert not errors, errors
    context.close()
