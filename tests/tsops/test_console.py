"""The console shell: each role's home and navigation, refusals, error pages, CSP, sign-in."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from tests.conftest import make_member
from tsops.models import AccessLog
from tsops.services import access_log_record, api_key_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"

# Where each navigation entry leads; an entry shows only once its page exists.
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
# Per actor fixture: the home heading, the home sections, the navigation it may have and
# the entries it must have already.
HOMES = {
    "associate": (
        "Associate home",
        ["queues", "claimed"],
        {
            "Home",
            "Queues",
            "QA",
            "My figures",
            "Exposure",
            "Accounts",
            "Clusters",
            "Investigations",
        },
        {"Home", "Queues", "QA", "Accounts"},
    ),
    "analyst": (
        "Analyst home",
        ["queues", "claimed"],
        {
            "Home",
            "Queues",
            "Appeals",
            "QA",
            "My figures",
            "Exposure",
            "Accounts",
            "Clusters",
            "Investigations",
            "Waves",
            "Alerts",
        },
        {"Home", "Queues", "QA", "Accounts", "Waves"},
    ),
    "senior": (
        "Senior lead home",
        ["queues", "claimed", "lead"],
        set(NAV_URL_NAMES) - {"Team inbox"},
        {"Home", "Queues", "Access log", "Admin"},
    ),
    "support_agent": (
        "Support agent home",
        ["lookup"],
        {"Home", "Lookup"},
        {"Home"},
    ),
    "specialist": (
        "Child safety home",
        ["team"],
        {
            "Home",
            "Team inbox",
            "Appeals",
            "My figures",
            "Exposure",
            "Accounts",
            "Clusters",
            "Investigations",
            "Alerts",
        },
        {"Home", "Accounts"},
    ),
}


def url_exists(label: str) -> bool:
    try:
        reverse(NAV_URL_NAMES[label])
    except NoReverseMatch:
        return False
    return True


class PageParser(HTMLParser):
    """Collects what the tests look at: nav entries, sections, scripts, inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.nav: list[str] = []
        self.sections: list[str] = []
        self.scripts: list[dict] = []
        self.inline_scripts: list[str] = []
        self.inline_styles: list[str] = []
        self.stylesheets: list[str] = []
        self.h1: list[str] = []
        self._in_nav_link = False
        self._in_script = False
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and "data-nav" in attributes:
            self._in_nav_link = True
            self.nav.append("")
        if "data-section" in attributes:
            self.sections.append(attributes["data-section"])
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        if tag == "style":
            self.inline_styles.append("<style>")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href", ""))
        if tag == "h1":
            self._in_h1 = True
            self.h1.append("")
        for name, value in attrs:
            if name == "style":
                self.inline_styles.append(f"{tag} {name}={value!r}")
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.inline_scripts.append(f"{tag} {name}={value!r}")

    def handle_endtag(self, tag):
        if tag == "a":
            self._in_nav_link = False
        if tag == "script":
            self._in_script = False
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_nav_link:
            self.nav[-1] += data.strip()
        if self._in_script and data.strip():
            self.inline_scripts.append(f"<script>{data.strip()[:60]}")
        if self._in_h1:
            self.h1[-1] += data.strip()


def parse(response) -> PageParser:
    parser = PageParser()
    parser.feed(response.content.decode())
    return parser


def assert_csp_and_no_inline_scripts(response) -> PageParser:
    csp = response["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    page = parse(response)
    assert all(script.get("src", "").startswith("/static/") for script in page.scripts)
    assert page.inline_scripts == []
    # The policy allows no inline styles either, so the console's own pages carry none.
    assert page.inline_styles == []
    return page


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Home and navigation per role ------------------------------------------------------------


@pytest.mark.parametrize("actor", list(HOMES))
def test_each_role_sees_its_own_home_and_navigation(request, actor):
    heading, sections, allowed, always = HOMES[actor]
    user = request.getfixturevalue(actor)

    response = client_for(user).get("/")

    assert response.status_code == 200
    page = assert_csp_and_no_inline_scripts(response)
    assert page.h1 == [heading]
    assert page.sections == sections
    assert page.nav == [label for label in NAV_URL_NAMES if label in allowed and url_exists(label)]
    assert always <= set(page.nav)


def test_only_a_senior_sees_the_access_log_and_admin_in_the_navigation(
    associate, analyst, senior, support_agent, specialist
):
    for user in (associate, analyst, support_agent, specialist):
        nav = parse(client_for(user).get("/")).nav
        assert "Access log" not in nav and "Admin" not in nav, user
    nav = parse(client_for(senior).get("/")).nav
    assert {"Access log", "Admin"} <= set(nav)


def test_support_and_specialists_see_no_queues(support_agent, specialist):
    for user in (support_agent, specialist):
        page = parse(client_for(user).get("/"))
        assert "Queues" not in page.nav
        assert "queues" not in page.sections


def test_the_header_names_the_member_and_their_role_or_team(senior, specialist):
    html = client_for(senior).get("/").content.decode()
    assert "grace_senior" in html and "Senior lead" in html
    html = client_for(specialist).get("/").content.decode()
    assert "Child safety" in html and "No role" not in html


# --- Who is refused --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/access-log/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_a_member_without_a_role_sees_a_403_and_no_console(outsider):
    response = client_for(outsider).get("/")
    assert response.status_code == 403
    page = assert_csp_and_no_inline_scripts(response)
    assert page.nav == []
    assert page.sections == []
    html = response.content.decode()
    assert "no role in the TSOps console" in html
    assert 'id="global-search"' not in html
    # Every other console page is closed too.
    assert client_for(outsider).get("/access-log/").status_code == 403
    assert client_for(outsider).get(reverse("cases:queue-list")).status_code == 403


def test_the_platform_service_account_is_refused_in_the_console(platform_account):
    response = client_for(platform_account).get("/")
    assert response.status_code == 403
    assert parse(response).nav == []


def test_the_403_page_uses_the_console_layout(outsider):
    response = client_for(outsider).get("/")
    page = parse(response)
    assert "/static/css/console.css" in page.stylesheets
    assert page.h1 == ["Not allowed"]


# --- Error pages -----------------------------------------------------------------------------


def test_the_404_page_uses_the_console_style(associate):
    response = client_for(associate).get("/no/such/page/")
    assert response.status_code == 404
    page = assert_csp_and_no_inline_scripts(response)
    assert "/static/css/console.css" in page.stylesheets
    assert page.h1 == ["Not found"]
    assert 'class="error-page panel"' in response.content.decode()


def test_the_404_page_for_anonymous_visitors_shows_no_navigation(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    page = parse(response)
    assert page.nav == [] and page.h1 == ["Not found"]


def test_the_500_handler_renders_the_console_style_page_and_json_under_the_api(rf):
    from django.urls import get_resolver

    from tsops import views

    resolver = get_resolver()
    assert resolver.resolve_error_handler(500) is views.server_error
    assert resolver.resolve_error_handler(404) is views.page_not_found

    html = views.server_error(rf.get("/queues/"))
    assert html.status_code == 500
    assert b"console.css" in html.content and b"Something went wrong" in html.content
    api = views.server_error(rf.get("/api/v1/me"))
    assert api.status_code == 500
    assert api["Content-Type"] == "application/json"
    assert re.search(rb'"status": 500', api.content)


# --- Content-Security-Policy everywhere ------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/access-log/", "/healthz", "/api/v1/me", "/admin/", "/no/such/page/"]
)
def test_every_console_response_carries_the_content_security_policy(senior, path):
    response = client_for(senior).get(path)
    assert response.status_code in (200, 404)
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_logged_out_pages_carry_the_policy_and_have_no_inline_scripts(client):
    assert_csp_and_no_inline_scripts(client.get("/accounts/login/"))


def test_the_admin_and_the_api_docs_load_every_script_from_a_file(admin_client, analyst):
    key, _ = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    for path in (
        "/admin/",
        "/admin/tsops/apikey/",
        f"/admin/tsops/apikey/{key.pk}/change/",
        f"/admin/tsops/apikey/{key.pk}/history/",
        "/admin/tsops/accesslog/",
        "/api/docs/",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response["Content-Security-Policy"]
        page = parse(response)
        assert page.scripts, path
        assert all(
            script.get("src", "").startswith("/") and not script["src"].startswith("//")
            for script in page.scripts
        ), path
        assert page.inline_scripts == [], path


# --- The access log page ---------------------------------------------------------------------


def test_the_access_log_page_is_for_seniors_only(associate, analyst, support_agent, specialist):
    for user in (associate, analyst, support_agent, specialist):
        assert client_for(user).get("/access-log/").status_code == 403, user


def test_the_access_log_page_lists_entries_newest_first(senior, analyst):
    access_log_record(
        actor=analyst, action=AccessLog.Action.VIEWED, object_type="cases.case", object_id=1
    )
    access_log_record(
        actor=analyst,
        action=AccessLog.Action.REVEALED_PII,
        object_type="cases.identifier",
        object_id=2,
        reason="checking a <b>linked</b> account",
    )

    response = client_for(senior).get("/access-log/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("cases.identifier#2") < html.index("cases.case#1")
    assert "Revealed PII" in html
    # Reasons are user input: always escaped.
    assert "checking a &lt;b&gt;linked&lt;/b&gt; account" in html
    assert "<b>linked</b>" not in html


def test_the_access_log_page_filters_by_member_and_object(senior, analyst, associate):
    access_log_record(actor=analyst, action="viewed", object_type="cases.case", object_id=1)
    access_log_record(actor=associate, action="viewed", object_type="cases.case", object_id=2)
    html = client_for(senior).get("/access-log/", {"username": associate.username}).content
    assert b"cases.case#2" in html and b"cases.case#1" not in html
    html = client_for(senior).get("/access-log/", {"object_id": "1"}).content
    assert b"cases.case#1" in html and b"cases.case#2" not in html


def test_the_access_log_page_needs_the_same_queries_for_many_entries(senior, analyst):
    client = client_for(senior)
    client.get("/access-log/")
    access_log_record(actor=analyst, action="viewed", object_type="cases.case", object_id=1)
    with CaptureQueriesContext(connection) as few:
        client.get("/access-log/")
    for number in range(2, 60):
        access_log_record(
            actor=analyst, action="viewed", object_type="cases.case", object_id=number
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get("/access-log/")
    assert response.content.count(b"cases.case#") == 50
    assert len(many) == len(few)


# --- Signing in and out ----------------------------------------------------------------------


def csrf_token_from(response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_login_with_the_csrf_token_signs_in_and_lands_on_home(analyst):
    client = Client(enforce_csrf_checks=True)
    form = client.get("/accounts/login/")
    assert form.status_code == 200
    assert_csp_and_no_inline_scripts(form)

    response = client.post(
        "/accounts/login/",
        {
            "username": analyst.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf_token_from(form),
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_without_the_csrf_token_is_refused(analyst):
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": analyst.username, "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/").status_code == 302


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(client, analyst):
    response = client.post("/accounts/login/", {"username": analyst.username, "password": "no"})
    assert response.status_code == 200
    assert b'data-testid="login-error"' in response.content
    assert client.get("/").status_code == 302


def test_the_session_cookie_is_httponly_and_samesite(client, analyst):
    response = client.post("/accounts/login/", {"username": analyst.username, "password": PASSWORD})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    # Not Secure outside production (plain http on 127.0.0.1); production is checked by
    # test_deploy_check.
    assert not cookie["secure"]


def test_repeated_failed_logins_lock_the_account_out(client, settings):
    make_member("lou_locked", "analyst")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "lou_locked", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "lou_locked", "password": PASSWORD})
    assert response.status_code == 429
    assert b'data-testid="locked-out"' in response.content
    assert client.get("/").status_code == 302


def test_an_idle_session_expires_and_an_active_one_does_not(analyst, settings):
    client = Client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.post("/accounts/login/", {"username": analyst.username, "password": PASSWORD})
        assert client.get("/").status_code == 200
    idle = timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    # Activity just inside the window keeps the session alive...
    with time_machine.travel(start + idle - timedelta(minutes=1), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + 2 * idle - timedelta(minutes=2), tick=False):
        assert client.get("/").status_code == 200
    # ...and a longer silence ends it.
    with time_machine.travel(start + 3 * idle, tick=False):
        response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_logout_is_a_post_and_ends_the_session(analyst):
    client = client_for(analyst)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302
