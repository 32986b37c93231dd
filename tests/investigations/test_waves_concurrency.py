"""Wave enforcement under concurrency, against the real database: two submissions at once
make one wave, and a worker killed (SIGKILL, a real process) mid-way is resumed without
doubling a single decision, action, strike, outbox event or timeline event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from enforcement.models import Decision, EnforcementAction, OutboxEvent, Strike
from investigations.models import Cluster, Wave, WaveMember
from investigations.services import waves
from tests.investigations.test_waves import assert_each_member_once, make_ring, submit
from tests.tsops.conftest import ROOT, database_url_for
from tsops.errors import ConflictError
from tsops.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def _race(target, count: int = 2) -> list:
    """Run ``target(i)`` in ``count`` threads released at once; their results or errors."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except Exception as error:  # noqa: BLE001 - the race's outcome is asserted
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_submissions_with_one_key_make_one_wave(platform_account, analyst):
    cluster = make_ring(platform_account, 8, prefix="race-key")
    results = _race(lambda i: submit(analyst, cluster, submission_key="double-click"))
    assert all(isinstance(r, Wave) for r in results), results
    assert results[0].pk == results[1].pk
    assert Wave.objects.count() == 1
    assert WaveMember.objects.count() == 8


def test_two_different_submissions_at_once_make_one_wave_and_one_conflict(
    platform_account, analyst, senior
):
    cluster = make_ring(platform_account, 8, prefix="race-two")
    actors = [analyst, senior]
    results = _race(lambda i: submit(actors[i], cluster, submission_key=f"key-{i}"))
    waves_made = [r for r in results if isinstance(r, Wave)]
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert len(waves_made) == 1 and len(conflicts) == 1, results
    assert Wave.objects.count() == 1 and WaveMember.objects.count() == 8
    wave = waves_made[0]
    waves.wave_run(job_id=Wave.objects.get(pk=wave.pk).job_id)
    assert_each_member_once(wave)


WORKER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from investigations.services import waves

    original = waves.decisions_write_bulk
    calls = []

    def write_then_hang(**kwargs):
        result = original(**kwargs)
        calls.append(1)
        if len(calls) == 2:
            # The second batch is written but not committed: the worker dies here.
            print("second batch written", flush=True)
            time.sleep(120)
        return result

    waves.decisions_write_bulk = write_then_hang
    waves.wave_run(job_id=int(sys.argv[1]))
    print("finished", flush=True)
    """
)


def test_a_worker_killed_mid_wave_is_resumed_without_doubling_anything(
    platform_account, senior, tmp_path
):
    size = waves.BATCH_SIZE * 2 + 20
    cluster = make_ring(platform_account, size, prefix="killed")
    wave = submit(senior, cluster)
    job_id = Wave.objects.get(pk=wave.pk).job_id
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "TSOPS_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "tsops.test_settings",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, str(script), str(job_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        while "second batch written" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the worker ended before its second batch"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Exactly the first batch survived the kill.
    states = WaveMember.objects.filter(wave=wave)
    assert states.filter(state=WaveMember.State.DONE).count() == waves.BATCH_SIZE
    assert Decision.objects.count() == waves.BATCH_SIZE
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.RUNNING and job.done == waves.BATCH_SIZE
    # A running job another worker holds is not taken; once its heartbeat is stale it is.
    assert waves.wave_run(job_id=job_id) is False
    Job.objects.filter(pk=job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert waves.wave_jobs_to_resume() == [job_id]
    assert waves.wave_run(job_id=job_id) is True
    wave.refresh_from_db()
    assert wave.status == Wave.Status.DONE
    assert states.filter(state=WaveMember.State.DONE).count() == size
    assert Decision.objects.count() == EnforcementAction.objects.count() == size
    assert Strike.objects.count() == size
    assert OutboxEvent.objects.filter(event_type=OutboxEvent.ACTION_APPLIED).count() == size
    assert OutboxEvent.objects.filter(event_type=OutboxEvent.DECISION_MADE).count() == size
    assert_each_member_once(wave)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.attempts == 2
    assert Cluster.objects.get(pk=cluster.pk).status == Cluster.Status.ACTIONED
