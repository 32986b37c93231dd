"""Fixtures and helpers for the project package's tests."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# What `make deploy-check` sets: a complete production environment (servers never contacted).
PRODUCTION = {
    "TSOPS_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "IDENTIFIER_HASH_KEY": "check",
    "DATABASE_URL": "postgres://tsops@db.invalid/tsops",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "ALLOWED_HOSTS": "tsops.example.com",
}

# Everything TSOps reads from the environment that would change what a subprocess sees.
_TSOPS_VARIABLES = {
    "DJANGO_SETTINGS_MODULE",
    # Set by the browser tests for Playwright; never part of a real deployment.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "TSOPS_ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DJANGO_DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "IDENTIFIER_HASH_KEY",
    "SESSION_IDLE_MINUTES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "PORT",
}


def clean_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment without the variables TSOps reads, plus ``overrides``."""
    env = {name: value for name, value in os.environ.items() if name not in _TSOPS_VARIABLES}
    env.update({name: value for name, value in overrides.items() if value is not None})
    return env


def run_python(args: list[str], env: dict[str, str], timeout: float = 60):
    """``python <args>`` in the project root; the completed process, output as text."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def database_url_for(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database Django is connected to (socket or TCP)."""
    host = settings_dict.get("HOST") or ""
    if host.startswith("/"):
        # A unix-socket directory travels percent-encoded as the host.
        host = quote(host, safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    return f"postgres://{credentials}@{host}{port}/{settings_dict['NAME']}"


@pytest.fixture
def test_database_url(db) -> str:
    """DATABASE_URL for a subprocess that must use this test's database."""
    return database_url_for(connection.settings_dict)
