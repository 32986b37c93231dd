"""Signing in through the real login form in headless Chromium: each role's home, and lockout."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from tests.browser.conftest import login, screenshot, submit_login, visit
from tests.conftest import make_member

pytestmark = pytest.mark.browser

# Where each navigation entry leads. An entry whose page isn't built yet can't be shown, so
# the tests expect it only once its URL exists.
NAV_URL_NAMES = {
    "Home": "home",
    "Queues": "cases:queue-list",
    "Team inbox": "escalations:team-inbox-list",
    "Approvals": "enforcement:approval-list",
    "Appeals": "appeals:appeal-list",
    "QA": "qa:home",
    "Accounts": "investigations:account-search",
    "Clusters": "investigations:cluster-list",
    "Waves": "investigations:wave-list",
    "Investigations": "investigations:investigation-list",
    "Lookup": "enforcement:lookup",
    "Rules": "detection:rule-list",
    "Reporters": "detection:reporter-list",
    "Detectors": "detection:detector-list",
    "Alerts": "detection:alert-list",
    "Labelled data": "detection:labels",
    "Metrics": "metrics:dashboard",
    "My figures": "metrics:my-figures",
    "Transparency": "metrics:transparency",
    "Exposure": "workspace:exposure",
    "Access log": "access-log",
    "Admin": "admin:index",
}


@dataclass(frozen=True)
class Member:
    username: str
    role: str | None
    teams: tuple[str, ...]
    heading: str
    badges: tuple[str, ...]
    sections: tuple[str, ...]
    # Navigation entries the member may have (shown when their page exists); all others
    # must never be shown.
    nav: tuple[str, ...]
    nav_always: tuple[str, ...] = field(default=("Home",))


MEMBERS = [
    Member(
        "ada_associate",
        "associate",
        (),
        heading="Associate home",
        badges=("Associate",),
        sections=("queues", "claimed"),
        nav=(
            "Home",
            "Queues",
            "QA",
            "Accounts",
            "Clusters",
            "Investigations",
            "My figures",
            "Exposure",
        ),
    ),
    Member(
        "noor_analyst",
        "analyst",
        (),
        heading="Analyst home",
        badges=("Analyst",),
        sections=("queues", "claimed"),
        nav=(
            "Home",
            "Queues",
            "Appeals",
            "QA",
            "Accounts",
            "Clusters",
            "Investigations",
            "Waves",
            "Alerts",
            "My figures",
            "Exposure",
        ),
    ),
    Member(
        "grace_senior",
        "senior",
        (),
        heading="Senior lead home",
        badges=("Senior lead",),
        sections=("queues", "claimed", "lead"),
        nav=(
            "Home",
            "Queues",
            "Approvals",
            "Appeals",
            "QA",
            "Accounts",
            "Clusters",
            "Waves",
            "Investigations",
            "Metrics",
            "My figures",
            "Transparency",
            "Exposure",
            "Lookup",
            "Rules",
            "Reporters",
            "Detectors",
            "Alerts",
            "Labelled data",
            "Access log",
            "Admin",
        ),
        nav_always=("Home", "Access log", "Admin"),
    ),
    Member(
        "sam_support",
        "support",
        (),
        heading="Support agent home",
        badges=("Support agent",),
        sections=("lookup",),
        nav=("Home", "Lookup"),
    ),
    Member(
        "chen_childsafety",
        None,
        ("child-safety",),
        heading="Child safety home",
        badges=("Child safety",),
        sections=("team",),
        nav=(
            "Home",
            "Team inbox",
            "Appeals",
            "Accounts",
            "Clusters",
            "Investigations",
            "Alerts",
            "My figures",
            "Exposure",
        ),
    ),
]


def _url_exists(label: str) -> bool:
    try:
        reverse(NAV_URL_NAMES[label])
    except NoReverseMatch:
        return False
    return True


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.role or m.teams[0])
def test_each_role_signs_in_and_sees_its_own_home_page(page, live_server, member):
    make_member(member.username, member.role, member.teams)

    response = login(page, live_server, member.username)

    assert response.status == 200
    assert page.url == f"{live_server.url}/"
    assert page.get_by_test_id("home-title").inner_text() == member.heading
    assert page.title() == "Home · TSOps"
    badges = page.locator("header .who .role-badge").all_inner_texts()
    assert tuple(badges) == member.badges
    sections = page.locator("main [data-section]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.section)"
    )
    assert tuple(sections) == member.sections

    # Grouped entries are in the header's menus, hidden until a menu opens: read their text.
    nav = [text.strip() for text in page.locator("#main-nav a").all_text_contents()]
    expected = [label for label in NAV_URL_NAMES if label in member.nav and _url_exists(label)]
    assert nav == expected
    assert set(member.nav_always) <= set(nav)


def test_only_a_senior_lead_sees_the_access_log_and_admin(page, live_server):
    make_member("noor_analyst", "analyst")
    make_member("grace_senior", "senior")

    login(page, live_server, "noor_analyst")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Access log").count() == 0
    assert nav.get_by_role("link", name="Admin").count() == 0
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")

    login(page, live_server, "grace_senior")
    nav = page.get_by_role("navigation", name="Main")
    nav.locator("summary", has_text="Oversight").click()
    nav.get_by_role("link", name="Access log").click()
    page.wait_for_load_state("load")
    screenshot(page, "access-log")
    assert page.url == f"{live_server.url}{reverse('access-log')}"
    assert page.get_by_role("heading", level=1).inner_text() == "Access log"


def test_support_agent_has_no_queues(page, live_server):
    make_member("sam_support", "support")

    login(page, live_server, "sam_support")

    assert page.get_by_role("link", name="Queues").count() == 0
    assert page.locator("[data-section=queues]").count() == 0
    assert page.get_by_label("Account or item id").is_visible()


def test_a_wrong_password_says_it_did_not_match(page, live_server):
    make_member("noor_analyst", "analyst")

    visit(page, "/accounts/login/", "sign-in")
    response = submit_login(page, "noor_analyst", "wrong-password", "wrong-password")

    assert response.status == 200
    assert "didn't match" in page.get_by_test_id("login-error").inner_text()
    assert page.get_by_label("Username").input_value() == "noor_analyst"
    assert page.get_by_test_id("home-title").count() == 0


def test_repeated_wrong_passwords_lock_the_account_with_a_clear_message(page, live_server):
    make_member("noor_analyst", "analyst")
    limit = settings.AXES_FAILURE_LIMIT
    visit(page, "/accounts/login/", "sign-in")

    for attempt in range(1, limit):
        submit_login(page, "noor_analyst", f"wrong-{attempt}", f"wrong-{attempt}")
        assert page.get_by_test_id("login-error").is_visible()
    response = submit_login(page, "noor_analyst", f"wrong-{limit}", f"wrong-{limit}")

    assert response.status == 429
    locked = page.get_by_test_id("locked-out")
    assert "Too many failed sign-in attempts" in locked.inner_text()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert f"{minutes} minutes" in locked.inner_text()

    # Even the right password is refused while the lock lasts.
    response = login(page, live_server, "noor_analyst")
    assert response.status == 429
    assert page.get_by_test_id("locked-out").is_visible()
    assert page.get_by_test_id("home-title").count() == 0


def test_the_home_page_breaks_no_content_security_policy_rule(page, live_server, console_messages):
    make_member("grace_senior", "senior")

    login(page, live_server, "grace_senior")
    page.reload()
    page.wait_for_load_state("networkidle")

    errors = [m.text for m in console_messages if m.type == "error"]
    csp = [
        text for text in errors if "Content Security Policy" in text or "Content-Security" in text
    ]
    assert csp == []
    assert errors == []
    # The layout really loaded its stylesheet and scripts (files, not inline code).
    assert page.locator("header.topbar").evaluate("el => getComputedStyle(el).display") == "flex"
    assert page.evaluate("typeof window.htmx") == "object"


def test_question_mark_shows_the_keyboard_shortcut_help(page, live_server):
    make_member("noor_analyst", "analyst")
    login(page, live_server, "noor_analyst")
    help_overlay = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert not help_overlay.is_visible()

    page.locator("body").press("?")
    help_overlay.wait_for(state="visible")
    screenshot(page, "shortcut-help")
    assert help_overlay.get_by_text("Claim the next case in this queue").is_visible()

    page.keyboard.press("Escape")
    help_overlay.wait_for(state="hidden")


def test_typing_a_question_mark_in_search_does_not_open_the_help(page, live_server):
    make_member("noor_analyst", "analyst")
    login(page, live_server, "noor_analyst")

    page.keyboard.press("/")
    page.keyboard.type("why?")

    assert page.locator("#global-search").input_value() == "why?"
    assert not page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()


def test_someone_without_a_role_signs_in_but_sees_nothing_of_the_console(page, live_server):
    make_member("olly_outsider", None)

    response = login(page, live_server, "olly_outsider")

    assert response.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert page.locator("#main-nav a").count() == 0
    assert page.locator("#global-search").count() == 0
    assert page.get_by_test_id("home-title").count() == 0


def test_signing_out_returns_to_the_sign_in_page(page, live_server):
    make_member("ada_associate", "associate")
    login(page, live_server, "ada_associate")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    screenshot(page, "signed-out")
    visit(page, "/", "home-after-sign-out")

    assert page.url.startswith(f"{live_server.url}/accounts/login/?next=")
    assert page.get_by_role("heading", name="Sign in").is_visible()


def test_the_console_fits_a_phone_screen(page, live_server):
    make_member("grace_senior", "senior")
    page.set_viewport_size({"width": 390, "height": 844})

    login(page, live_server, "grace_senior")

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    search = page.locator("#global-search").bounding_box()
    assert search["x"] >= 0 and search["x"] + search["width"] <= 390


def test_a_senior_leads_admin_link_opens_the_configuration_site(page, live_server):
    make_member("grace_senior", "senior")
    login(page, live_server, "grace_senior")

    nav = page.get_by_role("navigation", name="Main")
    nav.locator("summary", has_text="Oversight").click()
    nav.get_by_role("link", name="Admin").click()
    page.wait_for_load_state("load")
    screenshot(page, "admin")

    assert page.url == f"{live_server.url}{reverse('admin:index')}"
    assert page.locator("#user-tools").count() == 1
