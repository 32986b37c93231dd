"""Reading configuration from the environment, with errors that name the variable."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = _raw(name)
    if value in (None, ""):
        if required:
            raise ImproperlyConfigured(f"{name} is required but not set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = _raw(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: list[str], *, choices: tuple[str, ...] | None = None) -> list[str]:
    value = _raw(name)
    if value in (None, ""):
        return default
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if choices is not None and item not in choices]
    if unknown:
        raise ImproperlyConfigured(
            f"{name} may only list {', '.join(choices)}; got {', '.join(unknown)}"
        )
    return items


def env_http_url(name: str, default: str = "") -> str:
    """An http(s) URL without a trailing slash, or ``default`` when unset."""
    value = _raw(name)
    if value in (None, ""):
        return default
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ImproperlyConfigured(
            f"{name} must be an http or https URL such as https://tsops.example.com, got {value!r}"
        )
    return value.rstrip("/")


def database_config(url: str, *, name: str = "DATABASE_URL") -> dict:
    """Django DATABASES entry from a PostgreSQL URL, refusing anything else."""
    scheme = urlparse(url).scheme
    if scheme not in ("postgres", "postgresql", "pgsql"):
        raise ImproperlyConfigured(
            f"{name} must be a PostgreSQL URL such as postgres://user:pass@host:5432/db, "
            f"got scheme {scheme or '(none)'!r}"
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a configuration error
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
    # A unix-socket directory may be given percent-encoded as the host (postgres://u@%2Frun/db).
    if config.get("HOST", "").startswith("%2F"):
        config["HOST"] = unquote(config["HOST"])
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database (postgres://host/<dbname>)")
    return config


def redis_url_check(url: str, *, name: str = "REDIS_URL") -> str:
    scheme = urlparse(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(
            f"{name} must be a Redis URL such as redis://host:6379/0 or unix:///path/redis.sock, "
            f"got scheme {scheme or '(none)'!r}"
        )
    return url


def redis_url_for_db(url: str, db: int) -> str:
    """The same Redis server, another logical database."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return f"unix://{parsed.path}?db={db}"
    return parsed._replace(path=f"/{db}").geturl()


def celery_broker_url(url: str, db: int) -> str:
    """The Celery broker URL for a Redis server (kombu spells unix sockets redis+socket://)."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return f"redis+socket://{parsed.path}?virtual_host={db}"
    return parsed._replace(path=f"/{db}").geturl()
