"""Production settings pass `check --deploy` with zero warnings, and refuse to run in debug."""

from __future__ import annotations

import json

from tests.tsops.conftest import PRODUCTION, clean_env, run_python

DEPLOY_CHECK = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]


def test_production_settings_pass_the_deploy_check_with_no_warnings():
    result = run_python(DEPLOY_CHECK, clean_env(**PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_the_deploy_check_fails_on_a_warning():
    # The control: with HSTS switched off Django warns (security.W004), and the same
    # command fails, so the passing run above means something.
    result = run_python(DEPLOY_CHECK, clean_env(**PRODUCTION, SECURE_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stderr


def test_production_with_debug_on_fails_naming_django_debug():
    result = run_python(DEPLOY_CHECK, clean_env(**PRODUCTION, DJANGO_DEBUG="true"))
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be false when TSOPS_ENV=production" in result.stderr


SHOW = """
import json
import django
from django.conf import settings
django.setup()
names = [
    "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_HTTPONLY", "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS", "X_FRAME_OPTIONS", "ALLOWED_HOSTS",
]
print(json.dumps({name: getattr(settings, name) for name in names}))
print(json.dumps(settings.STORAGES["staticfiles"]["BACKEND"]))
"""


def test_production_cookies_are_secure_httponly_and_samesite():
    result = run_python(
        ["-c", SHOW], clean_env(**PRODUCTION, DJANGO_SETTINGS_MODULE="tsops.settings")
    )
    assert result.returncode == 0, result.stderr
    values_line, storage_line = result.stdout.strip().splitlines()[-2:]
    values = json.loads(values_line)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True and values["CSRF_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["ALLOWED_HOSTS"] == ["tsops.example.com"]
    assert "Manifest" in json.loads(storage_line)


def test_seed_demo_refuses_to_run_in_production():
    result = run_python(["manage.py", "seed_demo"], clean_env(**PRODUCTION))
    assert result.returncode != 0
    assert "seed_demo never runs with TSOPS_ENV=production" in result.stderr
