"""Configuration comes from the environment; a bad value stops TSOps at start, naming it.

Each case runs the real entry point (``manage.py check``, ``python -m tsops.run``) in a
subprocess, so the settings module is imported fresh with exactly that environment.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.tsops.conftest import PRODUCTION, clean_env, run_python
from tsops import embedded


def manage_check(**overrides: str | None) -> subprocess.CompletedProcess:
    return run_python(["manage.py", "check"], clean_env(**overrides))


def test_the_default_environment_passes_the_check():
    # The control for the cases below: they fail because of their one bad value.
    result = manage_check()
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_a_complete_production_environment_passes_the_check():
    result = manage_check(**PRODUCTION)
    assert result.returncode == 0, result.stderr


# (environment, the variable the error must name, what the message says it expected)
BAD_VALUES = [
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL", "PostgreSQL URL"),
    ({"DATABASE_URL": "postgres://db.example.com"}, "DATABASE_URL", "must name a database"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL", "Redis URL"),
    ({"SESSION_IDLE_MINUTES": "abc"}, "SESSION_IDLE_MINUTES", "must be an integer"),
    ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES", "at least 1"),
    ({"TSOPS_ENV": "bogus"}, "TSOPS_ENV", "demo, test, production"),
    ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG", "boolean"),
    ({**PRODUCTION, "SECRET_KEY": None}, "SECRET_KEY", "required"),
    ({**PRODUCTION, "SECRET_KEY": "short"}, "SECRET_KEY", "at least 50 characters"),
    ({**PRODUCTION, "DATABASE_URL": None}, "DATABASE_URL", "required in production"),
    ({**PRODUCTION, "REDIS_URL": None}, "REDIS_URL", "required in production"),
    ({**PRODUCTION, "ALLOWED_HOSTS": None}, "ALLOWED_HOSTS", "required in production"),
    ({**PRODUCTION, "IDENTIFIER_HASH_KEY": None}, "IDENTIFIER_HASH_KEY", "required"),
    ({**PRODUCTION, "DJANGO_DEBUG": "true"}, "DJANGO_DEBUG", "must be false"),
    ({"APPEAL_WINDOW_DAYS": "six months"}, "APPEAL_WINDOW_DAYS", "must be an integer"),
    ({"TSOPS_DSA_TERRITORIAL_SCOPE": "DE,US"}, "TSOPS_DSA_TERRITORIAL_SCOPE", "got US"),
    ({"TSOPS_BASE_URL": "tsops.example.com"}, "TSOPS_BASE_URL", "http or https URL"),
    ({"WEBHOOK_SEND_CONCURRENCY": "0"}, "WEBHOOK_SEND_CONCURRENCY", "at least 1"),
]


@pytest.fixture(scope="module")
def bad_value_checks() -> list[subprocess.CompletedProcess]:
    """``manage.py check`` for every case in BAD_VALUES, run side by side to save time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda case: manage_check(**case[0]), BAD_VALUES))


@pytest.mark.parametrize(
    "index",
    range(len(BAD_VALUES)),
    ids=[f"{var}={env.get(var, '(unset)')}" for env, var, _ in BAD_VALUES],
)
def test_a_bad_environment_value_stops_the_start_naming_the_variable(bad_value_checks, index):
    _, variable, expected = BAD_VALUES[index]
    result = bad_value_checks[index]
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert variable in last_line
    assert expected in last_line


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_make_run_refuses_a_bad_port_before_doing_anything_else(port, tmp_path):
    data = tmp_path / "data"
    result = run_python(["-m", "tsops.run"], clean_env(PORT=port, TSOPS_DATA_DIR=str(data)))
    assert result.returncode != 0
    assert "PORT must be an integer between 1 and 65535" in result.stderr
    assert repr(port) in result.stderr
    # Nothing was started: no embedded server, not even a data folder.
    assert not data.exists()


SHOW_SETTINGS = """
import json
import django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "host": db["HOST"], "port": db["PORT"], "name": db["NAME"],
    "user": db["USER"], "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["LOCATION"], "redis": settings.REDIS_URL,
}))
"""


def show_settings(**overrides: str | None) -> dict:
    result = run_python(
        ["-c", SHOW_SETTINGS], clean_env(DJANGO_SETTINGS_MODULE="tsops.settings", **overrides)
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_database_url_and_redis_url_switch_to_external_servers(tmp_path):
    shown = show_settings(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
        TSOPS_DATA_DIR=str(tmp_path / "data"),
    )
    assert shown["engine"] == "django.db.backends.postgresql"
    assert (shown["host"], shown["port"], shown["name"]) == ("127.0.0.1", 5432, "postgres")
    assert shown["user"] == "postgres"
    assert shown["broker"] == "redis://127.0.0.1:6379/0"
    assert shown["cache"] == "redis://127.0.0.1:6379/1"
    # Settings never start anything, and with both URLs given nothing embedded is involved.
    assert not (tmp_path / "data").exists()


def test_without_urls_the_settings_point_at_the_embedded_servers_sockets(tmp_path):
    data = tmp_path / "data"
    shown = show_settings(TSOPS_DATA_DIR=str(data))
    expected_pg = embedded.EmbeddedPostgres(data.resolve())
    expected_redis = embedded.EmbeddedRedis(data.resolve())
    assert shown["host"] == str(expected_pg.socket_dir)
    assert shown["name"] == embedded.PG_DATABASE
    assert shown["redis"] == f"unix://{expected_redis.socket_path}"
    assert shown["broker"] == f"redis+socket://{expected_redis.socket_path}?virtual_host=0"


def test_a_unix_socket_database_url_is_read_as_a_socket_directory():
    shown = show_settings(
        DATABASE_URL="postgres://postgres@%2Frun%2Fpostgresql/tsops",
        REDIS_URL="unix:///run/redis/redis.sock",
    )
    assert (shown["host"], shown["name"]) == ("/run/postgresql", "tsops")
    assert shown["broker"] == "redis+socket:///run/redis/redis.sock?virtual_host=0"
    assert shown["cache"] == "unix:///run/redis/redis.sock?db=1"
