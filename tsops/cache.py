"""The cache: Redis, failing open.

The cache holds nothing that must be there (API throttling counters, nothing else), so when
Redis is down or frozen a request goes on as if the cache were empty, instead of answering
500 or waiting on a socket. After a failure the cache is skipped for ``COOLDOWN`` seconds
in this process, so an outage costs at most one short timeout per process and per cooldown
(the timeouts are the ``socket_connect_timeout`` / ``socket_timeout`` OPTIONS in settings).
Throttling is off while Redis is: the reliability harness (issue 9) showed every API
request answering 500 during a Redis outage before this.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

log = logging.getLogger(__name__)

COOLDOWN = 5.0


class _Breaker:
    def __init__(self):
        self.lock = threading.Lock()
        self.open_until = 0.0

    def closed(self) -> bool:
        return time.monotonic() >= self.open_until

    def trip(self, exc: Exception) -> None:
        with self.lock:
            if self.closed():
                log.warning("cache unavailable (%s): skipped for %.0f s", exc, COOLDOWN)
            self.open_until = time.monotonic() + COOLDOWN


_breaker = _Breaker()


class _SharedClient(RedisCacheClient):
    """Django's client, keeping one ``redis.Redis`` per connection pool. Django makes a new
    one for every operation, and redis-py builds its table of response callbacks in each:
    more CPU than the round trip itself (three per API request: the throttles). A
    ``redis.Redis`` over a pool is safe to share between threads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class FailOpenRedisCache(RedisCache):
    """Django's Redis cache; a Redis that errs or times out reads as an empty cache."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClient

    def _errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.RedisError, OSError)

    def _call(self, method: str, fallback, *args, **kwargs):
        if not _breaker.closed():
            return fallback
        try:
            return getattr(super(), method)(*args, **kwargs)
        except self._errors() as exc:
            _breaker.trip(exc)
            return fallback

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", False, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", default, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", None, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", False, key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, key, version)

    def incr(self, key, delta=1, version=None):
        if not _breaker.closed():
            raise ValueError(f"Key '{key}' not found (the cache is unavailable).")
        try:
            return super().incr(key, delta, version)
        except self._errors() as exc:
            _breaker.trip(exc)
            raise ValueError(f"Key '{key}' not found (the cache is unavailable).") from exc

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", None, keys, version)

    def clear(self):
        return self._call("clear", False)

    def window_counts(self, current: str, previous: str, timeout: int) -> tuple[int, int] | None:
        """Count one more in the window ``current`` (kept ``timeout`` seconds) and read the
        count of ``previous``, in one round trip: ``(current, previous)``, or None while Redis
        is unavailable (the rate throttles then let requests through)."""
        if not _breaker.closed():
            return None
        try:
            current, previous = (
                self.make_and_validate_key(current),
                self.make_and_validate_key(previous),
            )
            pipe = self._cache.get_client(write=True).pipeline(transaction=False)
            pipe.incr(current)
            pipe.expire(current, timeout)
            pipe.get(previous)
            count, _, before = pipe.execute()
            return int(count), int(before or 0)
        except self._errors() as exc:
            _breaker.trip(exc)
            return None

    def uncount(self, key: str) -> None:
        """Take back one count of the window ``key`` (a refused request)."""
        if _breaker.closed():
            try:
                self._cache.get_client(write=True).decr(self.make_and_validate_key(key))
            except self._errors() as exc:
                _breaker.trip(exc)
