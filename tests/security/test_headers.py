"""Security headers on every kind of response: the Content-Security-Policy (no inline script,
no plugins, no <base>, no framing), the other browser protections, no caching of console or
API answers, and HSTS with the production settings.

The XSS corpus (tests/browser/test_xss_corpus.py) checks that escaping holds on its own; this
policy is the second wall behind it, so it is asserted directive by directive.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.tsops.conftest import PRODUCTION, clean_env, run_python
from tsops.services import api_key_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def directives(header: str) -> dict[str, list[str]]:
    """``"a 'x' y; b z"`` -> ``{"a": ["'x'", "y"], "b": ["z"]}`` (names lower-cased)."""
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            assert words[0].lower() not in parsed, f"directive {words[0]} given twice"
            parsed[words[0].lower()] = words[1:]
    return parsed


def assert_strict_policy(response) -> None:
    policy = directives(response["Content-Security-Policy"])
    # Scripts: files from this origin only. No inline code, no eval, no other origin, no
    # data:/blob: scripts, no nonce or hash that would let a block in.
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src == ["'self'"], script_src
    assert "script-src-attr" not in policy and "script-src-elem" not in policy
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    for name, sources in policy.items():
        lowered = [source.lower() for source in sources]
        assert "'unsafe-inline'" not in lowered or name.startswith("style"), name
        assert "'unsafe-eval'" not in lowered, name
        assert "*" not in lowered and "http:" not in lowered and "https:" not in lowered, name


def assert_browser_protections(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def assert_not_stored(response) -> None:
    # Console pages and API answers hold reporter identities, evidence and notes: no copy of
    # them may stay in the browser's cache after sign-out (or for the next person at a desk).
    cache_control = response.get("Cache-Control", "")
    assert "no-store" in cache_control, cache_control


@pytest.fixture
def senior_client(senior):
    client = Client()
    client.force_login(senior)
    return client


def test_the_sign_in_page_carries_the_strict_policy_and_the_protections(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert_strict_policy(response)
    assert_browser_protections(response)
    assert_not_stored(response)


@pytest.mark.parametrize("path", ["/", "/queues/", "/access-log/", "/metrics/", "/admin/"])
def test_console_pages_carry_the_strict_policy_and_the_protections(senior_client, path):
    response = senior_client.get(path)
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("text/html")
    assert_strict_policy(response)
    assert_browser_protections(response)
    assert_not_stored(response)


def test_an_api_answer_carries_the_policy_and_the_protections(analyst):
    _, secret = api_key_create(user=analyst, name="headers", scopes=["cases:read"])
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert_strict_policy(response)
    assert_browser_protections(response)
    assert_not_stored(response)


def test_an_api_error_carries_them_too(db):
    response = Client().get("/api/v1/cases", HTTP_AUTHORIZATION="Bearer tsk_nope_nope")
    assert response.status_code == 401
    assert_strict_policy(response)
    assert_browser_protections(response)


def test_a_csv_export_is_an_attachment_never_sniffed_nor_stored(senior_client):
    response = senior_client.get("/metrics/transparency/csv/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    assert_browser_protections(response)
    assert_not_stored(response)


def test_static_files_stay_cacheable(client):
    # The no-store rule is for answers built per request, not for the vendored scripts.
    response = client.get("/static/js/console.js")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


PRODUCTION_HEADERS = """
import json
import django
django.setup()
from django.test import Client
# An API path: it needs neither the database nor collected static files to answer (401).
response = Client().get("/api/v1/me", secure=True, HTTP_HOST="tsops.example.com")
insecure = Client().get("/api/v1/me", HTTP_HOST="tsops.example.com")
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.headers),
    "insecure_status": insecure.status_code,
    "insecure_location": insecure.headers.get("Location", ""),
}))
"""


def test_production_sends_hsts_and_redirects_plain_http():
    result = run_python(
        ["-c", PRODUCTION_HEADERS],
        clean_env(**PRODUCTION, DJANGO_SETTINGS_MODULE="tsops.settings"),
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["status"] == 401
    headers = {name.lower(): value for name, value in shown["headers"].items()}
    hsts = headers["strict-transport-security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" in hsts
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "base-uri 'none'" in headers["content-security-policy"]
    assert shown["insecure_status"] == 301
    assert shown["insecure_location"].startswith("https://tsops.example.com/")
