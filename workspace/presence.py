"""Who is on a case right now, kept in Redis (ephemeral, nothing durable).

Each case has a sorted set ``presence:case:<id>`` whose members are ``<user id>:<state>``
(``v`` viewing, ``w`` working: holding the claim) scored with the time of that member's last
poll. An entry older than two poll intervals no longer counts and is pruned; the set itself
expires after two intervals without a poll. The same round trip also swaps the reviewer's
"last exposure poll" time per queue (``exposure:last:<user>:<queue>``), from which the
exposure tally gains the time since the previous poll.

Redis is reached through the default cache's client (its logical database, key prefix and
short socket timeouts: per-process databases in the test suite). Like the cache, presence
fails open: with Redis down or frozen nobody shows as present and no exposure time accrues,
and the page goes on working.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

log = logging.getLogger(__name__)

VIEWING, WORKING = "v", "w"
STATE_LABELS = {VIEWING: "viewing", WORKING: "working"}


@dataclass(frozen=True)
class Presence:
    """One person on a case: who, and whether they hold its claim."""

    user_id: int
    state: str
    seen_at: float

    @property
    def working(self) -> bool:
        return self.state == WORKING

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


def interval() -> int:
    """Seconds between two polls of a page (``WORKSPACE_POLL_SECONDS``)."""
    return settings.WORKSPACE_POLL_SECONDS


def ttl() -> int:
    """How long a poll keeps someone present: two intervals, so one late poll is forgiven."""
    return 2 * interval()


def _cache():
    return caches["default"]


def _client():
    """The Redis client of the default cache (``django.core.cache.backends.redis``)."""
    return _cache()._cache.get_client(write=True)


def _errors() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.RedisError, OSError)


def case_key(case_id: int) -> str:
    return _cache().make_key(f"presence:case:{case_id}")


def exposure_key(user_id: int, queue_id: int) -> str:
    return _cache().make_key(f"exposure:last:{user_id}:{queue_id}")


def _parse(rows, since: float) -> list[Presence]:
    """Sorted-set rows ``(member, score)`` as one Presence per person (working wins)."""
    people: dict[int, Presence] = {}
    for member, score in rows:
        user_id, _, state = (member.decode() if isinstance(member, bytes) else member).partition(
            ":"
        )
        if score < since or state not in STATE_LABELS or not user_id.isdigit():
            continue
        seen = Presence(user_id=int(user_id), state=state, seen_at=score)
        current = people.get(seen.user_id)
        if current is None or (seen.working and not current.working):
            people[seen.user_id] = seen
    return sorted(people.values(), key=lambda p: (not p.working, -p.seen_at, p.user_id))


@dataclass(frozen=True)
class Mark:
    """What one poll learned: who is on the case now (the poller included) and the seconds
    since the poller's previous exposure poll on the queue (None: not tracked or unknown)."""

    present: list[Presence]
    previous_exposure_poll: float | None


def mark(
    *, case_id: int, user_id: int, working: bool, now: float, queue_id: int | None = None
) -> Mark:
    """Record that ``user_id`` is on the case now and read who else is, in one round trip;
    with ``queue_id`` (a graphic queue) also swap the reviewer's last exposure poll time."""
    key, window = case_key(case_id), ttl()
    state, other = (WORKING, VIEWING) if working else (VIEWING, WORKING)
    try:
        pipe = _client().pipeline(transaction=False)
        pipe.zrem(key, f"{user_id}:{other}")
        pipe.zadd(key, {f"{user_id}:{state}": now})
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.expire(key, window)
        pipe.zrange(key, 0, -1, withscores=True)
        if queue_id is not None:
            pipe.set(exposure_key(user_id, queue_id), repr(now), ex=window, get=True)
        replies = pipe.execute()
    except _errors() as exc:
        log.warning("presence unavailable (%s)", exc)
        return Mark(present=[], previous_exposure_poll=None)
    previous = None
    if queue_id is not None and replies[5] is not None:
        try:
            previous = float(replies[5])
        except ValueError:
            previous = None
    return Mark(present=_parse(replies[4], now - window), previous_exposure_poll=previous)


def on_cases(case_ids: list[int], *, now: float) -> dict[int, list[Presence]]:
    """Who is on each of ``case_ids`` now: one pipelined round trip for all of them."""
    if not case_ids:
        return {}
    since = now - ttl()
    try:
        pipe = _client().pipeline(transaction=False)
        for case_id in case_ids:
            pipe.zrangebyscore(case_key(case_id), since, "+inf", withscores=True)
        replies = pipe.execute()
    except _errors() as exc:
        log.warning("presence unavailable (%s)", exc)
        return {case_id: [] for case_id in case_ids}
    return {case_id: _parse(rows, since) for case_id, rows in zip(case_ids, replies, strict=True)}
