"""The embedded PostgreSQL and Redis: they start, are reused, survive a crash's leftovers, stop.

Every server here runs in a temporary data folder of its own, never the project's
``.data`` (which the rest of the suite is using).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tsops import embedded
from tsops.embedded import EmbeddedPostgres, EmbeddedRedis

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emb")


@pytest.fixture(scope="module")
def pg_server(base):
    server = EmbeddedPostgres(base)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server(base):
    server = EmbeddedRedis(base)
    yield server
    server.stop()


@pytest.fixture
def pg(pg_server) -> EmbeddedPostgres:
    """The temporary PostgreSQL, running at the start of the test."""
    pg_server.start()
    return pg_server


@pytest.fixture
def rd(redis_server) -> EmbeddedRedis:
    """The temporary Redis, running at the start of the test."""
    redis_server.start()
    return redis_server


def pg_select_one(server: EmbeddedPostgres) -> int:
    conn = psycopg2.connect(
        host=str(server.socket_dir), user=embedded.PG_USER, dbname=embedded.PG_DATABASE
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0]
    finally:
        conn.close()


def redis_ping(server: EmbeddedRedis) -> bool:
    # No retries: a stopped server should fail the ping at once.
    client = redis.Redis(
        unix_socket_path=str(server.socket_path), socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    try:
        return client.ping()
    finally:
        client.close()


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped by init has exited)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pids: list[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {pids} did not exit")
        time.sleep(0.05)


def dead_pid() -> int:
    """A pid that belonged to a process which has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_starts_and_accepts_connections_on_its_unix_socket_only(pg):
    assert pg.is_running()
    assert pg_select_one(pg) == 1
    assert (pg.socket_dir / ".s.PGSQL.5432").is_socket()
    conn = psycopg2.connect(
        host=str(pg.socket_dir), user=embedded.PG_USER, dbname=embedded.PG_DATABASE
    )
    with conn, conn.cursor() as cursor:
        cursor.execute("SHOW listen_addresses")
        assert cursor.fetchone()[0] == ""
    conn.close()


def test_postgres_url_names_its_socket_and_database(pg):
    from tsops.config import database_config

    config = database_config(pg.url)
    assert config["HOST"] == str(pg.socket_dir)
    assert config["NAME"] == embedded.PG_DATABASE


def test_a_second_postgres_start_reuses_the_running_server(pg):
    pid = pg.pid()
    assert pid is not None
    assert pg.start() is False
    assert pg.pid() == pid
    assert pg_select_one(pg) == 1


def test_postgres_starts_after_its_server_was_killed(pg):
    postmaster = psutil.Process(pg.pid())
    children = [child.pid for child in postmaster.children(recursive=True)]
    os.kill(postmaster.pid, signal.SIGKILL)
    wait_until_gone([postmaster.pid, *children])
    # The crash leaves postmaster.pid (naming a dead process) and the socket behind.
    assert (pg.pgdata / "postmaster.pid").exists()
    assert not pg.is_running()

    assert pg.start() is True
    assert pg.pid() not in (None, postmaster.pid)
    assert pg_select_one(pg) == 1


def test_postgres_start_clears_a_stale_pid_file_naming_a_dead_process(pg):
    assert pg.stop() is True
    pidfile = pg.pgdata / "postmaster.pid"
    stale = dead_pid()
    pidfile.write_text(f"{stale}\n{pg.pgdata}\n0\n5432\n{pg.socket_dir}\n\n0 0\nready\n")

    assert pg.start() is True
    assert pg.pid() != stale
    assert pg_select_one(pg) == 1


def test_postgres_starts_after_a_crash_whose_pid_now_belongs_to_another_process(pg):
    # After a reboot or a container restart the old pid often belongs to another program,
    # and the crashed server's socket file is still there.
    postmaster = psutil.Process(pg.pid())
    children = [child.pid for child in postmaster.children(recursive=True)]
    os.kill(postmaster.pid, signal.SIGKILL)
    wait_until_gone([postmaster.pid, *children])
    assert (pg.socket_dir / ".s.PGSQL.5432").exists()
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = pg.pgdata / "postmaster.pid"
        lines = pidfile.read_text().splitlines()
        pidfile.write_text("\n".join([str(unrelated.pid), *lines[1:]]) + "\n")
        assert not pg.is_running()

        assert pg.start() is True
        assert pg.pid() not in (None, unrelated.pid)
        assert pg_select_one(pg) == 1
    finally:
        unrelated.kill()
        unrelated.wait()


def test_redis_starts_after_a_crash_whose_pid_now_belongs_to_another_process(rd):
    pid = rd.pid()
    os.kill(pid, signal.SIGKILL)
    wait_until_gone([pid])
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        rd.pidfile.write_text(f"{unrelated.pid}\n")
        assert not rd.is_running()

        assert rd.start() is True
        assert rd.pid() not in (None, unrelated.pid)
        assert redis_ping(rd) is True
        assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait()


def test_postgres_stop_stops_the_server(pg):
    pid = pg.pid()
    assert pg.stop() is True
    wait_until_gone([pid])
    assert pg.pid() is None
    assert not pg.is_running()
    with pytest.raises(psycopg2.OperationalError):
        pg_select_one(pg)
    assert pg.stop() is False


# --- Redis -----------------------------------------------------------------------------------


def test_redis_starts_and_answers_ping_on_its_unix_socket(rd):
    assert rd.is_running()
    assert redis_ping(rd) is True
    assert rd.socket_path.is_socket()
    client = redis.Redis(unix_socket_path=str(rd.socket_path))
    assert client.config_get("port")["port"] == "0"
    client.close()


def test_a_second_redis_start_reuses_the_running_server(rd):
    pid = rd.pid()
    assert pid is not None
    assert rd.start() is False
    assert rd.pid() == pid
    assert redis_ping(rd) is True


def test_redis_starts_after_its_server_was_killed(rd):
    pid = rd.pid()
    os.kill(pid, signal.SIGKILL)
    wait_until_gone([pid])
    # The crash leaves the pid file (naming a dead process) and the socket file behind.
    assert rd.pidfile.exists()
    assert rd.socket_path.exists()
    assert not rd.is_running()

    assert rd.start() is True
    assert rd.pid() not in (None, pid)
    assert redis_ping(rd) is True


def test_stop_never_signals_a_process_that_merely_reuses_a_stale_pid(rd, pg):
    assert rd.stop() is True and pg.stop() is True
    unrelated = subprocess.Popen(["sleep", "60"])
    try:
        rd.pidfile.write_text(f"{unrelated.pid}\n")
        (pg.pgdata / "postmaster.pid").write_text(f"{unrelated.pid}\n{pg.pgdata}\n")
        assert rd.stop() is False
        assert pg.stop() is False
        time.sleep(0.2)
        assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait()


def test_redis_stop_stops_the_server(rd):
    pid = rd.pid()
    assert rd.stop() is True
    wait_until_gone([pid])
    assert rd.pid() is None
    assert not rd.pidfile.exists()
    with pytest.raises(redis.ConnectionError):
        redis_ping(rd)
    assert rd.stop() is False


# --- Both, as make run / make test / make stop use them -------------------------------------


def test_ensure_services_starts_only_what_the_environment_does_not_replace(
    base, pg_server, redis_server, monkeypatch
):
    monkeypatch.setenv("TSOPS_DATA_DIR", str(base))
    embedded.stop_services()
    assert not pg_server.is_running() and not redis_server.is_running()

    assert embedded.ensure_services(environ={"DATABASE_URL": "postgres://db.invalid/x"}) == [
        "redis"
    ]
    assert redis_server.is_running() and not pg_server.is_running()

    assert embedded.ensure_services(environ={}) == ["postgres"]
    assert pg_server.is_running()
    assert embedded.ensure_services(environ={}) == []

    assert sorted(embedded.stop_services()) == ["postgres", "redis"]
    assert not pg_server.is_running() and not redis_server.is_running()


def test_ensure_services_starts_nothing_when_both_urls_are_given(tmp_path, monkeypatch):
    monkeypatch.setenv("TSOPS_DATA_DIR", str(tmp_path / "unused"))
    started = embedded.ensure_services(
        environ={
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert started == []
    assert not (tmp_path / "unused").exists()


def test_the_command_line_starts_reports_and_stops_the_servers(base, pg_server, redis_server):
    env = {**os.environ, "TSOPS_DATA_DIR": str(base)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    def cli(command: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tsops.embedded", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    try:
        cli("start")
        assert pg_server.is_running() and redis_server.is_running()
        assert "nothing" in cli("start")
        status = cli("status")
        assert "postgres: running" in status and "redis:    running" in status
        assert "postgres" in cli("stop")
        assert not pg_server.is_running() and not redis_server.is_running()
        assert "stopped" in cli("status")
    finally:
        pg_server.stop()
        redis_server.stop()
