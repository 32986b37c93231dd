"""Delivery of outbox events to webhook endpoints: fan-out, claiming, signing and retries.

How an event reaches the platform:

1. ``events.emit`` writes an ``OutboxEvent`` in the transaction of the change it describes.
2. ``outbox_fan_out`` claims events not yet fanned out (``FOR UPDATE SKIP LOCKED``) and
   creates one ``WebhookDelivery`` per active endpoint subscribed to the event's type
   (``ON CONFLICT DO NOTHING`` on the (event, endpoint) unique constraint), in one statement.
   An endpoint with a ``team`` only gets the events whose payload names that team.
3. ``deliveries_send_due`` claims due deliveries with one conditional ``UPDATE`` (status
   ``sending``, ``locked_until`` = now + 60 s), POSTs them signed over keep-alive
   connections, ``WEBHOOK_SEND_CONCURRENCY`` at a time, and records the attempts in batches.

A claimed delivery belongs to its claimer until ``locked_until``: no other dispatcher can
claim it before then, and the claimer never starts a request that could outlive the lock,
so in normal operation an event reaches an endpoint once. The answers that came in while
the previous batch was being written are written together, in one statement, and a new
request starts only once an earlier answer is written: requests in flight plus answers not
yet written never exceed ``WEBHOOK_SEND_CONCURRENCY``. So only a dispatcher that dies
between sending and recording leaves ``sending`` rows, at most that many, whose lock
expires; they are sent again then, with the same event id, which receivers use to
de-duplicate. An answer once written is never sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import select
import ssl
import threading
import time
import urllib.parse
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from enforcement import events
from enforcement.models import WebhookDelivery
from tsops.errors import ConflictError
from tsops.permissions import has_capability

log = logging.getLogger(__name__)

LOCK = timedelta(seconds=60)
TIMEOUT_SECONDS = 10
# A request is only started while the claim has at least this much time left, so that no
# request can still be running when another dispatcher may take the delivery over.
LOCK_MARGIN_SECONDS = TIMEOUT_SECONDS + 5
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 60 * 60
FAN_OUT_LIMIT = 1000
SEND_LIMIT = 500
# How long answers may wait for the rest of the window before being written: at most as long
# as the last write took, and never longer than this.
GATHER_CAP_SECONDS = 0.05
# Of an endpoint's answer, only this much is read (the status is what counts).
RESPONSE_LIMIT = 64 * 1024
USER_AGENT = "TSOps-Webhooks/1"

SIGNATURE_HEADER = "X-TSOps-Signature"
TIMESTAMP_HEADER = "X-TSOps-Timestamp"
EVENT_HEADER = "X-TSOps-Event"
EVENT_ID_HEADER = "X-TSOps-Event-Id"


def max_attempts() -> int:
    """Attempts before a delivery is given up as failed (setting ``WEBHOOK_MAX_ATTEMPTS``)."""
    return settings.WEBHOOK_MAX_ATTEMPTS


def send_concurrency() -> int:
    """Requests in flight at once per dispatcher (setting ``WEBHOOK_SEND_CONCURRENCY``)."""
    return settings.WEBHOOK_SEND_CONCURRENCY


def dispatch_budget_seconds() -> float:
    """How long one dispatch keeps claiming new batches (setting ``WEBHOOK_DISPATCH_SECONDS``)."""
    return settings.WEBHOOK_DISPATCH_SECONDS


# --- Signing -------------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with the secret."""
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    *,
    tolerance_seconds: int | None = None,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is ours for this timestamp and exact body (constant-time compare).

    With ``tolerance_seconds`` a timestamp further than that from ``now`` is refused too,
    which is how a receiver stops replays of old, correctly signed requests.
    """
    if isinstance(body, str):
        body = body.encode()
    expected = sign(secret, timestamp, body).encode()
    if not hmac.compare_digest(expected, (signature or "").encode("utf-8", "replace")):
        return False
    if tolerance_seconds is not None:
        try:
            age = abs((time.time() if now is None else now) - int(timestamp))
        except (TypeError, ValueError):
            return False
        return age <= tolerance_seconds
    return True


# --- Fan-out -------------------------------------------------------------------------------

FAN_OUT_SQL = """
WITH claimed AS (
    SELECT id, event_type, payload FROM enforcement_outboxevent
    WHERE fanned_out_at IS NULL
    ORDER BY created_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), fanned AS (
    INSERT INTO enforcement_webhookdelivery
        (event_id, endpoint_id, status, attempts, next_attempt_at, last_error, created_at)
    SELECT c.id, e.id, 'pending', 0, %(now)s, '', %(now)s
    FROM claimed c
    JOIN enforcement_webhookendpoint e ON e.active AND c.event_type = ANY(e.event_types)
        AND (e.team = '' OR e.team = c.payload->>'team')
    ON CONFLICT (event_id, endpoint_id) DO NOTHING
    RETURNING 1
), marked AS (
    UPDATE enforcement_outboxevent o SET fanned_out_at = %(now)s
    FROM claimed WHERE o.id = claimed.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM fanned)
"""


def outbox_fan_out(limit: int = FAN_OUT_LIMIT) -> int:
    """Turn up to ``limit`` new events into deliveries for the endpoints subscribed to them
    (an endpoint with a team: only events whose payload's ``team`` is that team); returns how
    many events were fanned out. Concurrent callers take disjoint events, and an
    endpoint added later receives only the events emitted after it was added."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FAN_OUT_SQL, {"limit": limit, "now": timezone.now()})
        events, _deliveries = cursor.fetchone()
    return events


# --- Sending -------------------------------------------------------------------------------

# Due: pending and its time has come, or left 'sending' by a dispatcher whose lock expired.
# Deliveries to inactive endpoints wait (pending) until the endpoint is active again.
CLAIM_SQL = """
WITH due AS (
    SELECT d.id FROM enforcement_webhookdelivery d
    JOIN enforcement_webhookendpoint p ON p.id = d.endpoint_id AND p.active
    WHERE d.status IN ('pending', 'sending')
      AND d.next_attempt_at <= %(now)s
      AND (d.status = 'pending' OR d.locked_until <= %(now)s)
    ORDER BY d.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE enforcement_webhookdelivery d SET status = 'sending', locked_until = %(lock)s
FROM due, enforcement_outboxevent e, enforcement_webhookendpoint p
WHERE d.id = due.id AND e.id = d.event_id AND p.id = d.endpoint_id
RETURNING d.id, d.attempts, e.id, e.event_type, e.created_at, e.payload, p.url, p.secret
"""


@dataclass(frozen=True)
class Claimed:
    """A delivery this dispatcher holds until ``locked_until``, with what it needs to send."""

    delivery_id: int
    attempts: int
    event_id: str
    event_type: str
    created_at: datetime
    payload: dict
    url: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    """What one request came to: a status code, or the error that prevented one."""

    status_code: int | None
    error: str
    duration_ms: int
    attempted: bool = True

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event_id: str, event_type: str, created_at: datetime, payload: dict) -> bytes:
    """The JSON body the platform receives: ``id`` is the de-duplication key."""
    return json.dumps(
        {
            "id": str(event_id),
            "type": event_type,
            "created_at": created_at.isoformat(),
            "data": payload,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def signed_headers(
    *, secret: str, event_id: str, event_type: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """The headers of one delivery: its type, its stable id and the signature over the body."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type,
        EVENT_ID_HEADER: str(event_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


# --- Connections ---------------------------------------------------------------------------


class _Connections:
    """This process's keep-alive connections, idle ones kept per endpoint (scheme, host,
    port), at most ``WEBHOOK_SEND_CONCURRENCY`` of them each. A connection is used by one
    request at a time; one the endpoint closed meanwhile is replaced, never written to.

    Per process, so a forked worker never writes to a socket its parent also uses. Plain
    ``http.client``: a redirect is an answer (and a failure), never followed, and a failed
    request is retried by the delivery's schedule, not by the client.
    """

    def __init__(self):
        self.pid = os.getpid()
        self.idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self.lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None

    def take(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        with self.lock:
            if self.pid != os.getpid():
                self.pid, self.idle = os.getpid(), {}
            if key[0] == "https" and self.tls is None:
                self.tls = ssl.create_default_context()
            kept = self.idle.get(key, [])
            while kept:
                connection = kept.pop()
                if not _dropped(connection):
                    return connection
                connection.close()
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=TIMEOUT_SECONDS, context=self.tls
            )
        return http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)

    def give_back(self, key: tuple[str, str, int], connection: http.client.HTTPConnection):
        with self.lock:
            kept = self.idle.setdefault(key, [])
            if self.pid == os.getpid() and len(kept) < send_concurrency():
                kept.append(connection)
                return
        connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the endpoint (it is readable: EOF or junk)."""
    if connection.sock is None:
        return True
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))


_connections = _Connections()


def _post(url: str, headers: dict[str, str], body: bytes) -> Outcome:
    started = time.perf_counter()
    status_code, error = None, ""
    connection = None
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        key = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        connection = _connections.take(key)
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(RESPONSE_LIMIT)
        status_code = response.status
        # Reused only when the whole answer was read and the endpoint keeps it open.
        if response.isclosed() and not response.will_close:
            _connections.give_back(key, connection)
            connection = None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        error = f"{type(exc).__name__}: {reason}"[:1000]
    finally:
        if connection is not None:
            connection.close()
    duration_ms = int((time.perf_counter() - started) * 1000)
    return Outcome(status_code=status_code, error=error, duration_ms=duration_ms)


def _send(claimed: Claimed, deadline: float) -> Outcome:
    """POST one delivery, unless the claim could run out while the request is in flight.

    Runs in a worker thread: it touches no database.
    """
    if time.monotonic() + LOCK_MARGIN_SECONDS > deadline:
        return Outcome(status_code=None, error="", duration_ms=0, attempted=False)
    if not claimed.url.lower().startswith(("http://", "https://")):
        return Outcome(
            status_code=None, error="Only http and https URLs are supported.", duration_ms=0
        )
    body = event_body(claimed.event_id, claimed.event_type, claimed.created_at, claimed.payload)
    headers = signed_headers(
        secret=claimed.secret,
        event_id=claimed.event_id,
        event_type=claimed.event_type,
        body=body,
        timestamp=int(time.time()),
    )
    return _post(claimed.url, headers, body)


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failures: 10 s · 2^(attempts−1), capped at
    an hour, plus up to 10 % jitter so endpoints that fail together don't retry together."""
    delay = min(BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1), BACKOFF_CAP_SECONDS)
    return timedelta(seconds=delay + random.uniform(0, delay * 0.1))


# --- Recording -----------------------------------------------------------------------------

# One statement per batch of answers, so one round trip and one commit: every attempt is
# logged, and only rows this claim still holds move on (a delivery reset or taken over
# meanwhile is left to its new owner). The UPDATE's row count is how many were still held.
RECORD_SQL = """
WITH v AS (
    SELECT * FROM unnest(%(id)s::bigint[], %(at)s::timestamptz[], %(status)s::text[],
                         %(attempts)s::integer[], %(next)s::timestamptz[], %(code)s::integer[],
                         %(error)s::text[], %(ms)s::integer[], %(done)s::timestamptz[])
        AS v(id, at, status, attempts, next_attempt_at, status_code, error, duration_ms,
             delivered_at)
), logged AS (
    INSERT INTO enforcement_deliveryattempt (delivery_id, at, status_code, error, duration_ms)
    SELECT id, at, status_code, error, duration_ms FROM v
)
UPDATE enforcement_webhookdelivery d SET
    status = v.status,
    attempts = v.attempts,
    next_attempt_at = COALESCE(v.next_attempt_at, d.next_attempt_at),
    locked_until = NULL,
    last_status_code = v.status_code,
    last_error = v.error,
    delivered_at = COALESCE(v.delivered_at, d.delivered_at)
FROM v
WHERE d.id = v.id AND d.status = 'sending' AND d.locked_until = %(lock)s
"""


def _record(answers: list[tuple[Claimed, Outcome]], lock: datetime) -> None:
    """Write a batch of answers: the attempts logged, the deliveries delivered, failed or
    rescheduled after their backoff, in one statement (so one commit for the whole batch)."""
    if not answers:
        return
    at = timezone.now()
    limit = max_attempts()
    columns: dict[str, list] = {
        name: [] for name in ("id", "at", "status", "attempts", "next", "code", "error", "ms")
    }
    columns["done"] = []
    for claimed, outcome in answers:
        attempts = claimed.attempts + 1
        status, next_at, delivered_at = WebhookDelivery.Status.PENDING, None, None
        if outcome.ok:
            status, delivered_at = WebhookDelivery.Status.DELIVERED, at
        elif attempts >= limit:
            status = WebhookDelivery.Status.FAILED
        else:
            next_at = at + backoff(attempts)
        for name, value in (
            ("id", claimed.delivery_id),
            ("at", at),
            ("status", str(status)),
            ("attempts", attempts),
            ("next", next_at),
            ("code", outcome.status_code),
            ("error", outcome.error),
            ("ms", outcome.duration_ms),
            ("done", delivered_at),
        ):
            columns[name].append(value)
    with connection.cursor() as cursor:
        cursor.execute(RECORD_SQL, {**columns, "lock": lock})
        held = cursor.rowcount
    if held != len(answers):
        log.warning("%d deliveries changed hands while being sent", len(answers) - held)


def _release(claimed: list[Claimed], lock: datetime) -> None:
    """Hand back deliveries this claim did not send (no time left, or it stopped on an
    error): they stay due."""
    WebhookDelivery.objects.filter(
        pk__in=[c.delivery_id for c in claimed],
        status=WebhookDelivery.Status.SENDING,
        locked_until=lock,
    ).update(status=WebhookDelivery.Status.PENDING, locked_until=None)


# --- Claiming and sending ------------------------------------------------------------------


def _claim(limit: int, now: datetime, lock: datetime) -> list[Claimed]:
    # One statement: its own transaction.
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, {"limit": limit, "now": now, "lock": lock})
        rows = cursor.fetchall()
    return [
        Claimed(
            delivery_id=row[0],
            attempts=row[1],
            event_id=str(row[2]),
            event_type=row[3],
            created_at=row[4],
            payload=row[5] if isinstance(row[5], dict) else json.loads(row[5]),
            url=row[6],
            secret=row[7],
        )
        for row in rows
    ]


def deliveries_send_due(limit: int = SEND_LIMIT) -> int:
    """Claim up to ``limit`` due deliveries, send them, and record every attempt; returns how
    many requests were made.

    The claim is one conditional UPDATE (``FOR UPDATE SKIP LOCKED``), so concurrent
    dispatchers never hold the same delivery. Up to ``WEBHOOK_SEND_CONCURRENCY`` requests run
    at once on worker threads (which touch no database), over keep-alive connections. This
    thread writes the answers in batches, all that came in since the last write in one
    statement, and starts a new request only for an answer already written: an
    acknowledgement not yet written is one a dead dispatcher would send again, so requests in
    flight plus answers not yet written never exceed the concurrency.
    """
    started = time.monotonic()
    now = timezone.now()
    lock = now + LOCK
    claimed = _claim(limit, now, lock)
    if not claimed:
        return 0
    deadline = started + LOCK.total_seconds()
    window = min(send_concurrency(), len(claimed))
    waiting = iter(claimed)
    in_flight: dict[Future, Claimed] = {}
    unsent: list[Claimed] = []
    sent = 0
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="webhook")

    def start(count: int) -> None:
        for item in islice(waiting, count):
            in_flight[pool.submit(_send, item, deadline)] = item

    try:
        start(window)
        gather = 0.0
        while in_flight:
            # The answers that came in while the last batch was written, and those of the
            # requests started since if they come within as long again as that write took:
            # one write for the whole window rather than for alternate halves of it.
            done, _ = wait(in_flight, timeout=gather, return_when=ALL_COMPLETED)
            if not done:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            answers = []
            for future in done:
                item, outcome = in_flight.pop(future), future.result()
                if outcome.attempted:
                    answers.append((item, outcome))
                else:
                    unsent.append(item)
            writing = time.monotonic()
            _record(answers, lock)
            gather = min(time.monotonic() - writing, GATHER_CAP_SECONDS)
            sent += len(answers)
            start(len(done))
    finally:
        # On an error, what was never started is handed back now rather than at the lock's
        # expiry; what is still in flight is finished (and its answer lost with the error).
        unsent += list(waiting)
        pool.shutdown(wait=True, cancel_futures=True)
        if unsent:
            _release(unsent, lock)
    return sent


def outbox_dispatch() -> int:
    """Fan new events out and send what is due, batch after batch, for up to the dispatch
    budget; returns how many delivery attempts were made. Safe to run concurrently."""
    started = time.monotonic()
    budget = dispatch_budget_seconds()
    while outbox_fan_out(FAN_OUT_LIMIT) == FAN_OUT_LIMIT:
        if time.monotonic() - started > budget:
            break
    attempts = 0
    while True:
        made = deliveries_send_due(SEND_LIMIT)
        attempts += made
        if made < SEND_LIMIT or time.monotonic() - started > budget:
            return attempts


# --- Redelivery ----------------------------------------------------------------------------


def delivery_redeliver(*, actor, delivery_id: int) -> WebhookDelivery:
    """A senior sends a delivery again (delivered, failed or waiting): it becomes pending and
    due now, with a fresh retry schedule. Its log keeps every earlier attempt."""
    if not has_capability(actor, "configure_operations"):
        raise PermissionDenied("Redelivering webhooks needs a senior role.")
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise Http404("No such delivery.")
        if delivery.status == WebhookDelivery.Status.SENDING and (
            delivery.locked_until and delivery.locked_until > now
        ):
            raise ConflictError("This delivery is being sent right now.")
        if not delivery.endpoint.active:
            raise ConflictError("The endpoint is inactive: activate it first.")
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = now
        delivery.locked_until = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "locked_until"])
        log.info(
            "delivery %s (event %s to endpoint %s) redelivery requested by %s",
            delivery.pk,
            delivery.event_id,
            delivery.endpoint_id,
            actor.get_username(),
        )
        # Go now rather than at the next sweep; if the broker is down, the sweep sends it.
        transaction.on_commit(events._kick_dispatch)
    return delivery
