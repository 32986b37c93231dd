"""Sessions and secrets: the session key changes at sign-in, an old cookie is dead after
sign-out, an idle session ends even while a page polls, failed sign-ins and failed API keys
are limited per address (which a forged X-Forwarded-For doesn't change), API keys are stored
as hashes and compared in constant time, the server never fetches a URL a report or evidence
names, files are taken only as media evidence, and production refuses demo secrets.

Already covered elsewhere and not repeated here: the idle timeout of a plain session and
logout by POST (tests/tsops/test_console.py), the sign-in lockout page in a real browser
(tests/browser/test_login.py), missing production secrets (tests/tsops/test_config.py) and
``check --deploy`` with the production settings (tests/tsops/test_deploy_check.py).
"""

from __future__ import annotations

import inspect
import re
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
import time_machine
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import models
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import Case, Evidence
from cases.services import case_claim
from tests.factories import make_case
from tests.tsops.conftest import PRODUCTION, clean_env, run_python
from tsops import services as tsops_services
from tsops.middleware import POLL_HEADER
from tsops.models import ApiKey
from tsops.services import api_key_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
ROOT = Path(settings.BASE_DIR)
APP_PACKAGES = ("tsops", "cases", "enforcement", "appeals", "qa", "escalations", "metrics")


def fresh_address() -> str:
    """An address no other test used: the per-address limits live in Redis across runs."""
    n = uuid.uuid4().int
    return f"10.{n % 250 + 1}.{(n >> 8) % 250 + 1}.{(n >> 16) % 250 + 1}"


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


# --- Session identity --------------------------------------------------------------------


def test_signing_in_gives_a_new_session_key_and_forgets_the_one_before(analyst):
    # Session fixation: a key planted before sign-in (say, by a page of another site on a
    # shared browser) must not become the signed-in session.
    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key

    response = sign_in(client, analyst.username)

    assert response.status_code == 302
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key and new_key != planted.session_key
    assert not SessionStore().exists(planted.session_key)
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key
    assert stale.get("/").status_code == 302


def test_after_sign_out_the_old_cookie_opens_nothing(analyst):
    client = Client()
    assert sign_in(client, analyst.username).status_code == 302
    old_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/").status_code == 200

    assert client.post("/accounts/logout/").status_code == 302

    # Someone who copied the cookie while it was valid replays it.
    replay = APIClient()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_cookie
    page = replay.get("/queues/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert replay.get("/api/v1/me").status_code in (401, 403)
    assert not SessionStore().exists(old_cookie)


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(document.cookie)",
        "//evil.example/steal",
        "https://evil.example/",
        "/\\evil.example",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_signing_in_never_follows_a_next_address_off_the_console(analyst, target):
    response = Client().post(
        "/accounts/login/?" + urlencode({"next": target}),
        {"username": analyst.username, "password": PASSWORD, "next": target},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


# --- Idle timeout while a page polls -------------------------------------------------------


def test_polls_of_an_open_page_do_not_keep_an_idle_session_alive(analyst):
    client = Client()
    idle = timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client, analyst.username)
        assert client.get("/").status_code == 200
    # The case page renews its lease (and the dashboard its live table) every few minutes.
    for minutes in range(5, int(idle.total_seconds() // 60), 5):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            response = client.get("/", HTTP_HX_REQUEST="true", **{_meta(POLL_HEADER): "1"})
            assert response.status_code == 200
    # Nobody touched the page for longer than the idle time: the next poll signs out and
    # sends the whole page to the sign-in form.
    with time_machine.travel(start + idle + timedelta(minutes=1), tick=False):
        response = client.get(
            "/metrics/live/",
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL="http://testserver/metrics/",
            **{_meta(POLL_HEADER): "1"},
        )
        assert response.status_code == 204
        assert response["HX-Redirect"] == "/accounts/login/?next=%2Fmetrics%2F"
        page = client.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    login_page = client.get(page["Location"])
    assert b"signed out after" in login_page.content


def test_the_members_own_requests_keep_the_session_alive(analyst):
    # The control for the test above: the same timeline, with a click instead of polls.
    client = Client()
    idle = timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client, analyst.username)
    with time_machine.travel(start + idle - timedelta(minutes=5), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + idle + timedelta(minutes=1), tick=False):
        assert client.get("/").status_code == 200


def _meta(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def test_every_polling_element_marks_its_requests_as_polls(
    platform_account, analyst, senior, session_client_for
):
    case = case_claim(actor=analyst, case_id=make_case(platform_account).pk)
    pages = [
        (analyst, f"/cases/{case.pk}/"),
        (senior, "/metrics/"),
    ]
    templates = sorted((ROOT / "templates").rglob("*.html"))
    pollers_in_templates = [
        path.name for path in templates if re.search(r'hx-trigger="[^"]*every', path.read_text())
    ]
    assert {"case_detail.html", "dashboard.html"} <= set(pollers_in_templates)
    for path in templates:
        for element in re.findall(r"<[^>]*hx-trigger=\"[^\"]*every[^>]*>", path.read_text()):
            assert f'"{POLL_HEADER}": "1"' in element, (path.name, element)
    for user, url in pages:
        client = Client()
        client.force_login(user)
        html = client.get(url).content.decode()
        polling = re.findall(r"<[^>]*hx-trigger=\"[^\"]*every[^>]*>", html)
        assert polling, url
        assert all(f'"{POLL_HEADER}": "1"' in element for element in polling), url


# --- Sign-in lockout ---------------------------------------------------------------------


def test_the_lockout_also_guards_the_admin_sign_in(senior):
    client = Client()
    address = fresh_address()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/admin/login/",
            {"username": senior.username, "password": "wrong"},
            REMOTE_ADDR=address,
        )
    response = client.post(
        "/admin/login/", {"username": senior.username, "password": PASSWORD}, REMOTE_ADDR=address
    )
    assert response.status_code == 429
    assert b'data-testid="locked-out"' in response.content
    assert b"15 minutes" in response.content
    assert client.get("/admin/", REMOTE_ADDR=address).status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(analyst):
    # The lockout counts per username and address; the address is REMOTE_ADDR. A client that
    # sends a new X-Forwarded-For with every guess is still the same address.
    client = Client()
    address = fresh_address()
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(
            client,
            analyst.username,
            "wrong",
            REMOTE_ADDR=address,
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
    response = sign_in(
        client, analyst.username, REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert response.status_code == 429
    assert b'data-testid="locked-out"' in response.content
    # The lockout is for this username from this address: the member can still sign in from
    # their own desk (an attacker cannot lock people out from elsewhere).
    assert sign_in(Client(), analyst.username, REMOTE_ADDR=fresh_address()).status_code == 302


# --- API keys ----------------------------------------------------------------------------


def test_an_api_key_is_stored_only_as_its_hash(analyst):
    key, plaintext = api_key_create(user=analyst, name="stored", scopes=["cases:read"])
    secret = plaintext.split("_", 2)[2]
    rows = [*ApiKey.objects.filter(pk=key.pk).values(), *key.history.values()]
    assert rows
    for row in rows:
        for value in row.values():
            assert secret not in str(value) and plaintext not in str(value)
    assert len(ApiKey.objects.get(pk=key.pk).key_hash) == 64


def test_the_key_check_is_a_constant_time_comparison_after_a_lookup_by_its_public_prefix():
    # The prefix (tsk_<prefix>_...) is a public key id: finding the row by it tells an
    # attacker nothing about the secret. The secret is 256 random bits, hashed with SHA-256
    # and compared with compare_digest, whose time does not depend on where the hashes differ.
    # (A timing measurement would be flaky; this pins the implementation instead.)
    source = inspect.getsource(tsops_services.api_key_authenticate)
    assert "compare_digest(" in source
    assert not re.search(r"key_hash\s*==|==\s*_hash_secret", source)
    assert "token_urlsafe(32)" in inspect.getsource(tsops_services.api_key_create)


@pytest.fixture
def strict_key_failure_rate(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key_failures": "5/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return 5


def test_guessing_api_keys_is_throttled_per_address(analyst, strict_key_failure_rate):
    _, good = api_key_create(user=analyst, name="good", scopes=["cases:read"])
    prefix = good.split("_")[1]
    attacker = fresh_address()
    client = APIClient()

    def attempt(secret, address=attacker, **extra):
        return client.get(
            "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR=address, **extra
        )

    for n in range(strict_key_failure_rate):
        assert attempt(f"tsk_{prefix}_guess{n}").status_code == 401
    blocked = attempt(f"tsk_{prefix}_guess-next")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["status"] == 429
    assert int(blocked["Retry-After"]) > 0
    # Once blocked, the address gets no answer about any key, the right one included, and a
    # new X-Forwarded-For changes nothing...
    assert attempt(good).status_code == 429
    assert attempt("garbage", HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 429
    # ...while the platform calling from its own address is not affected.
    assert attempt(good, address=fresh_address()).status_code == 200


def test_successful_key_calls_are_not_counted_as_failures(analyst, strict_key_failure_rate):
    _, good = api_key_create(user=analyst, name="good", scopes=["cases:read"])
    address = fresh_address()
    client = APIClient()
    for _ in range(strict_key_failure_rate * 2):
        response = client.get(
            "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {good}", REMOTE_ADDR=address
        )
        assert response.status_code == 200


# --- No server-side fetches (SSRF) ---------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _record(self):
        type(self).hits.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST = do_HEAD = _record

    def log_message(self, *args):
        pass


@pytest.fixture
def canary_url():
    """A local HTTP server the test starts; every request it gets is recorded."""
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_urls_in_reports_and_evidence_are_never_fetched_by_the_server(
    canary_url,
    platform_account,
    analyst,
    senior,
    api_client_for,
    django_capture_on_commit_callbacks,
):
    platform = api_client_for(platform_account, scopes=["reports:write"])
    with django_capture_on_commit_callbacks(execute=True):
        response = platform.post(
            "/api/v1/reports",
            {
                "source": "user_report",
                "external_id": "ssrf-1",
                "reason": "spam",
                "description": f"see {canary_url}/in-description",
                "subject": {
                    "kind": "content",
                    "external_id": "post-ssrf",
                    "owner_id": "acct-ssrf",
                    "text": f"visit {canary_url}/in-text",
                    "url": f"{canary_url}/snapshot",
                    "media": [f"{canary_url}/media.png"],
                },
            },
            format="json",
        )
    assert response.status_code in (200, 201), response.content
    case = Case.objects.get(subject__external_id="post-ssrf")
    case_claim(actor=analyst, case_id=case.pk)
    client = Client()
    client.force_login(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        added = client.post(
            f"/cases/{case.pk}/evidence/",
            {"kind": "url", "url": f"{canary_url}/evidence", "excerpt": "captured"},
        )
    assert added.status_code == 302
    evidence = Evidence.objects.get(case=case)
    assert evidence.url == f"{canary_url}/evidence"
    # The evidence hash is of what the analyst captured, not of a download.
    assert len(evidence.sha256) == 64
    for user in (analyst, senior):
        viewer = Client()
        viewer.force_login(user)
        assert viewer.get(f"/cases/{case.pk}/").status_code == 200
        # An exact subject id opens its case: the page, again without fetching the URLs.
        found = viewer.get("/search/", {"q": "post-ssrf"}, follow=True)
        assert found.status_code == 200 and found.redirect_chain[-1][0] == f"/cases/{case.pk}/"

    assert _Recorder.hits == []


def test_only_the_webhook_outbox_makes_outgoing_http_requests():
    # Outgoing HTTP goes to the webhook endpoints and team alert URLs seniors configure
    # (enforcement/outbox.py), never to an address taken from a report, note or evidence.
    clients = re.compile(
        r"^\s*(import|from)\s+(requests|httpx|urllib3|aiohttp|pycurl|http\.client|urllib\.request)\b"
        r"|^\s*import\s+(http\.client|urllib\.request)\b",
        re.MULTILINE,
    )
    users = sorted(
        str(path.relative_to(ROOT))
        for package in APP_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and clients.search(path.read_text())
    )
    assert users == ["enforcement/outbox.py"]


# --- Uploads -----------------------------------------------------------------------------


def test_files_are_taken_only_as_media_evidence():
    # TSOps takes files in one place: media evidence (cases.media), which brings its size,
    # count and pixel limits, sniffs what the bytes are and never serves them by a public URL
    # (tests/cases/test_media.py). Another upload anywhere fails here and must bring its own.
    file_fields = [
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    ]
    assert file_fields == ["cases.MediaFile.file"]
    # The API reads JSON; only report intake opts in to multipart (its media parts).
    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] == [
        "rest_framework.parsers.JSONParser"
    ]
    # Every uploaded file is cut off past TSOPS_MEDIA_MAX_BYTES before anything else reads it.
    assert settings.FILE_UPLOAD_HANDLERS[0] == "cases.media.MediaSizeLimitHandler"
    sources = [
        path
        for package in APP_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    ]
    readers = sorted(str(p.relative_to(ROOT)) for p in sources if "request.FILES" in p.read_text())
    assert readers == ["cases/api.py", "cases/views.py"]
    templates = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "templates").rglob("*.html")
        if "multipart" in p.read_text()
    }
    # The case page's evidence form.
    assert templates <= {"templates/cases/case_detail.html"}
    # Bodies are bounded even without files (bulk intake posts up to 1,000 reports).
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 32 * 1024 * 1024


def test_a_multipart_body_is_refused_by_the_api_except_for_media(platform_account, api_client_for):
    client = api_client_for(platform_account, scopes=["reports:write"])
    bulk = client.post(
        "/api/v1/reports/bulk",
        {"reports": "[]", "file": ("x.exe", b"MZ...")},
        format="multipart",
    )
    assert bulk.status_code == 415
    # Report intake takes files in parts named media only, beside the report's JSON.
    response = client.post(
        "/api/v1/reports",
        {"source": "user_report", "file": ("x.exe", b"MZ...")},
        format="multipart",
    )
    assert response.status_code == 400


# --- Secrets only from the environment -----------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SECRET_KEY",
            "tsops-demo-only-secret-key-never-used-in-production-0123456789abcdef",
            "SECRET_KEY must be a random string",
        ),
        (
            "IDENTIFIER_HASH_KEY",
            "demo-identifier-key",
            "IDENTIFIER_HASH_KEY must not be the demo key",
        ),
    ],
)
def test_production_refuses_the_demo_secrets_that_ship_in_the_code(variable, value, message):
    # Missing secrets are refused (tests/tsops/test_config.py); the demo values written in
    # tsops/settings.py must be refused too, or a copied .env would run on public keys.
    result = run_python(["manage.py", "check"], clean_env(**{**PRODUCTION, variable: value}))
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]
