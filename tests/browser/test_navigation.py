"""The header at 1280 px: one row for every role, grouped menus that work with the keyboard,
a favicon, and no console error on the main pages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cases import services as case_services
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles

# The header's parts (brand, navigation, search, the member) sit on one line when their tops
# are within this many pixels of each other, and the header is no taller than one row.
SAME_ROW_PX = 8
ONE_ROW_MAX_PX = 64


def _superuser_senior():
    """The widest header there is: a senior who is a superuser and in both specialist teams."""
    user = make_member("root_admin", roles.SENIOR, ("child-safety", "threats"))
    get_user_model().objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    return user


MEMBERS = {
    "senior": lambda: make_member("grace_senior", roles.SENIOR),
    "admin": _superuser_senior,
    "analyst": lambda: make_member("noor_analyst", roles.ANALYST),
    "specialist": lambda: make_member("chen_childsafety", None, ("child-safety",)),
    "support": lambda: make_member("sam_support", roles.SUPPORT),
}


def header_rows(page) -> dict:
    return page.evaluate(
        """() => {
          const header = document.querySelector('header.topbar');
          const parts = Array.from(header.children).map(el => el.getBoundingClientRect());
          const items = Array.from(document.querySelectorAll('#main-nav > li'))
            .map(el => el.getBoundingClientRect());
          return {
            height: header.getBoundingClientRect().height,
            partTops: parts.map(r => Math.round(r.top + r.height / 2)),
            itemTops: items.map(r => Math.round(r.top)),
            right: Math.max(...parts.map(r => r.right)),
            widths: parts.map(r => Math.round(r.width)),
            width: window.innerWidth,
          };
        }"""
    )


@pytest.mark.parametrize("who", sorted(MEMBERS))
def test_the_header_is_one_row_at_1280_px(page, live_server, who):
    user = MEMBERS[who]()
    login(page, live_server, user.username)
    screenshot(page, f"header-{who}")

    rows = header_rows(page)
    assert rows["height"] <= ONE_ROW_MAX_PX, rows
    assert max(rows["partTops"]) - min(rows["partTops"]) <= SAME_ROW_PX, rows
    assert max(rows["itemTops"]) - min(rows["itemTops"]) <= SAME_ROW_PX, rows
    assert rows["right"] <= rows["width"], rows


def test_a_grouped_entry_opens_with_the_mouse_and_the_keyboard(page, live_server):
    make_member("grace_senior", roles.SENIOR)
    login(page, live_server, "grace_senior")
    nav = page.get_by_role("navigation", name="Main")
    metrics = nav.get_by_role("link", name="Metrics")
    assert not metrics.is_visible()

    # Keyboard: focus the menu's button, Enter opens it, Escape closes it and keeps the focus.
    insights = nav.locator("summary", has_text="Insights")
    insights.focus()
    page.keyboard.press("Enter")
    assert metrics.is_visible()
    screenshot(page, "insights-open")
    page.keyboard.press("Escape")
    assert not metrics.is_visible()
    assert page.evaluate("document.activeElement.textContent.trim()") == "Insights"

    # One menu at a time; a click elsewhere closes it.
    insights.click()
    nav.locator("summary", has_text="Oversight").click()
    assert not metrics.is_visible()
    assert nav.get_by_role("link", name="Access log").is_visible()
    page.locator("footer.site").click()
    assert not nav.get_by_role("link", name="Access log").is_visible()

    insights.click()
    metrics.click()
    page.wait_for_load_state("load")
    screenshot(page, "metrics-from-menu")
    assert page.url.endswith(reverse("metrics:dashboard"))
    assert "active" in (nav.locator("summary", has_text="Insights").get_attribute("class") or "")


def test_preferences_open_from_the_user_menu_and_save(page, live_server):
    make_member("noor_analyst", roles.ANALYST)
    login(page, live_server, "noor_analyst")

    page.get_by_test_id("user-menu").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Preferences").click()
    screenshot(page, "preferences")
    page.get_by_label("Decide and next").uncheck()
    page.get_by_label("Full (shapes only)").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save preferences").click()
    screenshot(page, "preferences-saved")

    assert page.get_by_text("Preferences saved.").is_visible()
    assert not page.get_by_label("Decide and next").is_checked()
    assert page.get_by_label("Full (shapes only)").is_checked()


def _operation():
    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = get_user_model().objects.get(username="noor_analyst")
    cases = [
        make_case(platform, reason=reason)
        for reason in ("violent_threat", "spam", "scam_fraud", "harassment")
    ]
    case_services.case_claim(actor=analyst, case_id=cases[0].pk)
    return cases


MAIN_PAGES = (
    ("home", "/"),
    ("queues", "/queues/"),
    ("queue", "/queues/general/"),
    ("search", "/search/?q=spam"),
    ("search-filtered", "/search/?status=open&reason=spam"),
    ("appeals", "/appeals/"),
    ("qa", "/qa/"),
    ("my-figures", "/metrics/me/"),
    ("metrics", "/metrics/"),
    ("transparency", "/metrics/transparency/"),
    ("approvals", "/approvals/"),
    ("lookup", "/lookup/"),
    ("access-log", "/access-log/"),
    ("preferences", "/preferences/"),
    ("admin", "/admin/"),
)


@pytest.mark.parametrize("who", ["analyst", "senior"])
def test_no_console_error_on_the_main_pages(page, live_server, console_messages, who):
    make_member("noor_analyst", roles.ANALYST)
    make_member("grace_senior", roles.SENIOR)
    cases = _operation()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    login(page, live_server, f"{'noor_analyst' if who == 'analyst' else 'grace_senior'}")

    opened = []
    for label, path in (*MAIN_PAGES, ("case", f"/cases/{cases[1].pk}/")):
        # Only the pages the role may open: a refused page is an error the browser logs.
        if page.request.get(f"{live_server.url}{path}").status != 200:
            continue
        visit(page, path, f"{who}-{label}")
        opened.append(label)
    # Any icon the browser asks for is there.
    assert page.request.get(f"{live_server.url}/favicon.ico").ok
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{live_server.url}{icon}").ok

    errors = [
        f"{message.type}: {message.text} ({message.location.get('url', '')})"
        for message in console_messages
        if message.type == "error"
    ]
    assert {"home", "queues", "search", "case", "preferences"} <= set(opened)
    assert errors == [] and page_errors == [], errors + page_errors
