"""The pieces behind the scenarios' fixes, one by one and fast: the cache and the on-commit
kick give up on a Redis that does not answer within a second (and then rest), and a
database that cannot be reached is answered 503, not 500."""

from __future__ import annotations

import json
import socket
import time

import pytest
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.test import RequestFactory

from tsops import broker, cache
from tsops.views import database_unavailable, server_error


@pytest.fixture
def frozen_redis():
    """A TCP port that accepts connections and never answers (a Redis stopped with SIGSTOP,
    or behind a partition that drops packets)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    finally:
        sock.close()


@pytest.fixture
def fresh_breakers():
    cache._breaker.open_until = 0.0
    broker._state.update(url=None, open_until=0.0)
    yield
    cache._breaker.open_until = 0.0
    broker._drop_connection()
    broker._state.update(url=None, open_until=0.0)


def test_the_cache_reads_a_frozen_redis_as_empty_within_a_second_then_rests(
    frozen_redis, fresh_breakers
):
    backend = cache.FailOpenRedisCache(
        frozen_redis, {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    )
    started = time.monotonic()
    assert backend.get("throttle_user_1", []) == []
    assert time.monotonic() - started < 2.5
    started = time.monotonic()
    backend.set("throttle_user_1", [1.0], 60)
    assert backend.get_many(["a", "b"]) == {}
    assert backend.add("k", 1) is False
    assert time.monotonic() - started < 0.1, "after a failure the cache is skipped"


def test_the_on_commit_kick_gives_up_on_a_frozen_broker_within_a_second_then_rests(
    frozen_redis, fresh_breakers
):
    from enforcement.tasks import outbox_dispatch
    from tsops.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = frozen_redis
    try:
        started = time.monotonic()
        assert broker.kick(outbox_dispatch) is False
        assert time.monotonic() - started < 2.5
        started = time.monotonic()
        assert broker.kick(outbox_dispatch) is False
        assert time.monotonic() - started < 0.1, "after a failure the kick rests"
    finally:
        app.conf.broker_url = original


class _DriverError(Exception):
    """What psycopg2 raises underneath Django's wrapper: its SQLSTATE in ``pgcode``."""

    def __init__(self, pgcode: str | None):
        super().__init__(pgcode)
        self.pgcode = pgcode


def _with_cause(exc: Exception, pgcode: str | None) -> Exception:
    exc.__cause__ = _DriverError(pgcode)
    return exc


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (_with_cause(OperationalError("connection refused"), None), True),
        (_with_cause(DatabaseError("server closed the connection unexpectedly"), None), True),
        (_with_cause(OperationalError("terminating connection"), "57P01"), True),
        (_with_cause(OperationalError("the database system is starting up"), "57P03"), True),
        (_with_cause(OperationalError("connection failure"), "08006"), True),
        (InterfaceError("connection already closed"), True),
        (_with_cause(OperationalError("deadlock detected"), "40P01"), False),
        (_with_cause(OperationalError("canceling statement due to timeout"), "57014"), False),
        (_with_cause(IntegrityError("duplicate key"), "23505"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_which_errors_mean_the_database_cannot_be_reached(exc, unavailable):
    assert database_unavailable(exc) is unavailable


@pytest.mark.parametrize("path", ["/api/v1/reports", "/queues/general/"])
def test_an_unreachable_database_is_answered_503_with_retry_after(path):
    request = RequestFactory().post(path)
    try:
        raise _with_cause(OperationalError("connection refused"), None)
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    if path.startswith("/api/"):
        assert json.loads(response.content)["error"]["code"] == "unavailable"
    try:
        raise _with_cause(IntegrityError("duplicate key"), "23505")
    except IntegrityError:
        assert server_error(request).status_code == 500


def test_a_wave_is_handed_to_a_worker_by_name_and_waits_for_the_sweep_when_the_broker_is_frozen(
    frozen_redis, fresh_breakers
):
    from investigations.services.waves import WAVE_TASK, wave_job_send
    from tsops.celery import app

    assert wave_job_send(4242) is True
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.conf.task_default_queue)
        sent = []
        try:
            # Other tests' kicks may wait in the same queue: read until the wave's.
            while not sent or sent[-1] != (WAVE_TASK, [4242]):
                message = queue.get(timeout=5)
                message.ack()
                sent.append((message.headers["task"], message.decode()[0]))
        finally:
            queue.close()
    assert sent[-1] == (WAVE_TASK, [4242])

    original = app.conf.broker_url
    app.conf.broker_url = frozen_redis
    try:
        started = time.monotonic()
        assert wave_job_send(4243) is False
        assert time.monotonic() - started < 2.5
    finally:
        app.conf.broker_url = original
