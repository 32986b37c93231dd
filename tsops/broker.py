"""Talking to the Celery broker (Redis) without letting it take the console down.

Two things the reliability harness (``bench/reliability``, issue 9) found:

* A request that hands work to Celery after its commit (``kick``) waited for the broker:
  with Redis frozen, up to the transport's five-second socket timeout, on every request
  that wrote something. :func:`kick` publishes over a connection of its own with one-second
  timeouts, at most one publish at a time per process (a kick in flight covers the others:
  they only ask a worker to sweep), and after a failure stops trying for ``COOLDOWN``
  seconds. Whatever a skipped kick would have started, beat's sweep starts instead.
* A worker holding an unacknowledged task (``acks_late``) when the broker went away died
  with ``AttributeError: 'NoneType' object has no attribute 'hostname'``: Celery collects
  the broken connection (closing its transport) and then closes it again, and the second
  close tries to requeue the unacknowledged messages over the transport that is gone.
  :func:`survive_broker_loss` turns that into the connection error the close path already
  ignores, so the worker reconnects when Redis is back (observed with Celery 5.7 / kombu
  5.7). The message stays in Redis's unacked set and is redelivered after the visibility
  timeout; the tasks are sweeps, so nothing waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

log = logging.getLogger(__name__)

COOLDOWN = 10.0
TIMEOUT = 1.0

_lock = threading.Lock()
_state: dict = {"url": None, "connection": None, "open_until": 0.0}


def _drop_connection() -> None:
    connection = _state["connection"]
    _state["connection"] = None
    if connection is not None:
        with contextlib.suppress(Exception):  # it is broken already
            connection.release()


def kick(task, *args) -> bool:
    """Publish ``task`` (with ``args``, if any) to the broker if it answers within a second.

    True when published, or when another thread of this process is publishing right now (a
    kick only hurries work that a beat sweep also starts); False when the broker failed now or
    recently (the caller's work waits for the sweep)."""
    from tsops.celery import app

    if not _lock.acquire(blocking=False):
        return True
    try:
        url = app.conf.broker_write_url or app.conf.broker_url
        if url != _state["url"]:
            _drop_connection()
            _state.update(url=url, open_until=0.0)
        if time.monotonic() < _state["open_until"]:
            return False
        for attempt in (1, 2):
            reused = _state["connection"] is not None
            started = time.monotonic()
            try:
                if _state["connection"] is None:
                    _state["connection"] = app.connection_for_write(
                        transport_options={
                            "socket_connect_timeout": TIMEOUT,
                            "socket_timeout": TIMEOUT,
                            "max_retries": 0,
                        },
                        connect_timeout=TIMEOUT,
                    )
                task.apply_async(
                    args=args, retry=False, ignore_result=True, connection=_state["connection"]
                )
                return True
            except Exception as exc:  # noqa: BLE001 - any broker failure
                _drop_connection()
                # A connection kept from before a broker restart fails at once: try a new
                # one (a broker that does not answer used the time up already).
                if attempt == 1 and reused and time.monotonic() - started < TIMEOUT / 2:
                    continue
                _state["open_until"] = time.monotonic() + COOLDOWN
                log.info("broker publish failed (%s); not trying for %.0f s", exc, COOLDOWN)
                return False
        return False
    finally:
        _lock.release()


def survive_broker_loss() -> None:
    """Patch kombu's Redis channel so that closing it twice after a lost connection raises a
    connection error (ignored by the close path) instead of an AttributeError that stops the
    worker. Idempotent."""
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    if getattr(channel._connparams, "_tsops_patched", False):
        return
    original = channel._connparams

    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            raise kombu_redis.get_redis_ConnectionError()("the broker connection is closed already")
        return original(self, asynchronous=asynchronous)

    _connparams._tsops_patched = True
    channel._connparams = _connparams
