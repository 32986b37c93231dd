"""A real Celery worker, started by the test, runs the heartbeat task through Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.tsops.conftest import ROOT
from tsops.celery import app as celery_app
from tsops.models import WorkerHeartbeat
from tsops.tasks import worker_heartbeat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CELERY = Path(sys.executable).parent / "celery"


def output_of(log: Path) -> str:
    return log.read_text()[-4000:] if log.exists() else ""


@pytest.fixture
def worker(test_database_url, tmp_path):
    """A worker on a queue of its own, reading the test database; yields (hostname, queue)."""
    name = uuid.uuid4().hex[:10]
    queue = f"test-{name}"
    hostname = f"test-{name}@localhost"
    env = {
        **os.environ,
        "TSOPS_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "tsops.test_settings",
        "DATABASE_URL": test_database_url,
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(CELERY), "-A", "tsops", "worker", "-Q", queue, "--pool", "solo",
                "--concurrency", "1", "--hostname", hostname, "--loglevel", "INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield hostname, queue, proc, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_real_worker_runs_the_heartbeat_task_through_redis(worker, client):
    hostname, queue, proc, log = worker
    assert settings.CELERY_BROKER_URL.startswith(("redis://", "redis+socket://", "rediss://"))
    assert not WorkerHeartbeat.objects.exists()

    # Over a connection of its own, as the application's kick publishes (tsops.broker): other
    # tests in this process point the app at unreachable brokers and close its shared pools.
    with celery_app.connection_for_write() as connection:
        worker_heartbeat.apply_async(queue=queue, connection=connection)

    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.filter(worker=hostname).exists():
        assert proc.poll() is None, f"the worker exited:\n{output_of(log)}"
        assert time.monotonic() < deadline, f"no heartbeat within 30 s:\n{output_of(log)}"
        time.sleep(0.2)

    heartbeat = WorkerHeartbeat.objects.get(worker=hostname)
    assert heartbeat.last_seen is not None
    assert "tsops.tasks.worker_heartbeat" in output_of(log)
    health = client.get("/healthz").json()["worker"]
    assert (health["status"], health["worker"]) == ("ok", hostname)
