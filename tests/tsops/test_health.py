"""GET /healthz reports the database, Redis and the worker's last heartbeat."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from tsops.services import heartbeat_record

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_healthz_reports_every_part_ok_and_a_worker_never_seen(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"status": "ok"}
    assert body["redis"] == {"status": "ok"}
    assert body["worker"] == {"status": "never_seen", "last_heartbeat": None}
    assert "failing" not in body
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reports_the_workers_last_heartbeat(client):
    heartbeat = heartbeat_record(worker="celery@test")
    body = client.get("/healthz").json()
    assert body["worker"]["status"] == "ok"
    assert body["worker"]["worker"] == "celery@test"
    assert body["worker"]["last_heartbeat"] == heartbeat.last_seen.isoformat()
    assert body["worker"]["age_seconds"] < 5


def test_healthz_calls_an_old_heartbeat_stale_without_failing(client, settings):
    with time_machine.travel(timezone.now() - timedelta(seconds=1000), tick=False):
        heartbeat_record(worker="celery@old")
    response = client.get("/healthz")
    # A missing worker delays background work but the console still serves.
    assert response.status_code == 200
    worker = response.json()["worker"]
    assert worker["status"] == "stale"
    assert worker["age_seconds"] >= settings.WORKER_HEARTBEAT_STALE_SECONDS


def test_healthz_needs_no_login_and_refuses_writes(client):
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


PROBE = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(response.status_code)
print(response.content.decode())
"""


def probe(**overrides: str) -> tuple[int, dict]:
    import json

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tsops.settings", "TSOPS_ENV": "test"}
    env.update(overrides)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-2:]
    return int(status), json.loads(body)


def test_healthz_answers_503_naming_the_database_when_it_is_unreachable():
    status, body = probe(DATABASE_URL="postgres://postgres@127.0.0.1:1/nope")
    assert status == 503
    assert body["status"] == "error"
    assert body["failing"] == ["database"]
    assert body["database"]["status"] == "error"
    assert body["redis"] == {"status": "ok"}
    assert body["worker"]["status"] == "unknown"


def test_healthz_answers_503_naming_redis_when_it_is_unreachable(test_database_url):
    status, body = probe(DATABASE_URL=test_database_url, REDIS_URL="redis://127.0.0.1:1/0")
    assert status == 503
    assert body["failing"] == ["redis"]
    assert body["database"] == {"status": "ok"}
    assert body["redis"]["status"] == "error"
