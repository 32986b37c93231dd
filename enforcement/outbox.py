"""Delivery of outbox events to webhook endpoints: fan-out, claiming, signing and retries.

How an event reaches the platform:

1. ``events.emit`` writes an ``OutboxEvent`` in the transaction of the change it describes.
2. ``outbox_fan_out`` claims events not yet fanned out (``FOR UPDATE SKIP LOCKED``) and
   creates one ``WebhookDelivery`` per active endpoint subscribed to the event's type
   (``ON CONFLICT DO NOTHING`` on the (event, endpoint) unique constraint), in one statement.
   An endpoint with a ``team`` only gets the events whose payload names that team.
3. ``deliveries_send_due`` claims due deliveries with one conditional ``UPDATE`` (status
   ``sending``, ``locked_until`` = now + 60 s), POSTs them signed, and records each attempt.

A claimed delivery belongs to its claimer until ``locked_until``: no other dispatcher can
claim it before then, and the claimer never starts a request that could outlive the lock,
so in normal operation an event reaches an endpoint once. Each answer is recorded as soon
as it arrives, so only a dispatcher that dies between sending and recording (at most its
requests in flight, ``WEBHOOK_SEND_CONCURRENCY``) leaves ``sending`` rows whose lock
expires; they are sent again then, with the same event id, which receivers use to
de-duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

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
SEND_LIMIT = 200
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


def signed_request(
    *, url: str, secret: str, event_id: str, event_type: str, body: bytes, timestamp: int
) -> urllib.request.Request:
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("Only http and https URLs are supported.")
    # The scheme is checked above: no file: or custom schemes reach urllib.
    return urllib.request.Request(  # noqa: S310
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: event_type,
            EVENT_ID_HEADER: str(event_id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        },
    )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (and a failure), never a reason to POST somewhere else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(request: urllib.request.Request, timeout: float) -> Outcome:
    started = time.perf_counter()
    status_code, error = None, ""
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code = exc.code
        exc.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        error = f"{type(exc).__name__}: {reason}"[:1000]
    duration_ms = int((time.perf_counter() - started) * 1000)
    return Outcome(status_code=status_code, error=error, duration_ms=duration_ms)


def _send(claimed: Claimed, deadline: float) -> Outcome:
    """POST one delivery, unless the claim could run out while the request is in flight.

    Runs in a worker thread: it touches no database.
    """
    if time.monotonic() + LOCK_MARGIN_SECONDS > deadline:
        return Outcome(status_code=None, error="", duration_ms=0, attempted=False)
    body = event_body(claimed.event_id, claimed.event_type, claimed.created_at, claimed.payload)
    try:
        request = signed_request(
            url=claimed.url,
            secret=claimed.secret,
            event_id=claimed.event_id,
            event_type=claimed.event_type,
            body=body,
            timestamp=int(time.time()),
        )
    except ValueError as exc:
        return Outcome(status_code=None, error=str(exc), duration_ms=0)
    return _post(request, TIMEOUT_SECONDS)


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failures: 10 s · 2^(attempts−1), capped at
    an hour, plus up to 10 % jitter so endpoints that fail together don't retry together."""
    delay = min(BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1), BACKOFF_CAP_SECONDS)
    return timedelta(seconds=delay + random.uniform(0, delay * 0.1))


RECORD_ATTEMPTS_SQL = """
INSERT INTO enforcement_deliveryattempt (delivery_id, at, status_code, error, duration_ms)
SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::integer[], %s::text[], %s::integer[])
"""

# Only rows this claim still holds move on: a delivery reset or taken over meanwhile is left
# to its new owner (its attempt is still logged).
RECORD_DELIVERIES_SQL = """
UPDATE enforcement_webhookdelivery d SET
    status = v.status,
    attempts = v.attempts,
    next_attempt_at = COALESCE(v.next_attempt_at, d.next_attempt_at),
    locked_until = NULL,
    last_status_code = v.status_code,
    last_error = v.error,
    delivered_at = COALESCE(v.delivered_at, d.delivered_at)
FROM unnest(%s::bigint[], %s::text[], %s::integer[], %s::timestamptz[], %s::integer[],
            %s::text[], %s::timestamptz[])
    AS v(id, status, attempts, next_attempt_at, status_code, error, delivered_at)
WHERE d.id = v.id AND d.status = 'sending' AND d.locked_until = %s
"""


class _Recorder:
    """Writes outcomes to the log and the deliveries, in one transaction per flush.

    The sender flushes whenever answers came in (all that arrived meanwhile together), so a
    dispatcher that dies leaves at most its requests in flight unrecorded: those are sent
    again once the lock expires, with the same event id. (Answers used to wait for up to
    fifty more or a second: the reliability harness, issue 9, saw a SIGKILL resend dozens
    of acknowledged events.)
    """

    FLUSH_EVERY = 50
    FLUSH_SECONDS = 1.0

    def __init__(self, lock: datetime):
        self.lock = lock
        self.pending: list[tuple[Claimed, Outcome, datetime]] = []
        self.flushed_at = time.monotonic()
        self.limit = max_attempts()

    def add(self, claimed: Claimed, outcome: Outcome) -> None:
        self.pending.append((claimed, outcome, timezone.now()))
        if (
            len(self.pending) >= self.FLUSH_EVERY
            or time.monotonic() - self.flushed_at >= self.FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.pending:
            return
        items, self.pending = self.pending, []
        columns: dict[str, list] = {
            name: []
            for name in ("id", "at", "code", "error", "ms", "status", "attempts", "next", "done")
        }
        for claimed, outcome, at in items:
            attempts = claimed.attempts + 1
            status, next_at, delivered_at = WebhookDelivery.Status.PENDING, None, None
            if outcome.ok:
                status, delivered_at = WebhookDelivery.Status.DELIVERED, at
            elif attempts >= self.limit:
                status = WebhookDelivery.Status.FAILED
            else:
                next_at = at + backoff(attempts)
            for name, value in (
                ("id", claimed.delivery_id),
                ("at", at),
                ("code", outcome.status_code),
                ("error", outcome.error),
                ("ms", outcome.duration_ms),
                ("status", str(status)),
                ("attempts", attempts),
                ("next", next_at),
                ("done", delivered_at),
            ):
                columns[name].append(value)
        c = columns
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(RECORD_ATTEMPTS_SQL, [c["id"], c["at"], c["code"], c["error"], c["ms"]])
            cursor.execute(
                RECORD_DELIVERIES_SQL,
                [
                    c["id"],
                    c["status"],
                    c["attempts"],
                    c["next"],
                    c["code"],
                    c["error"],
                    c["done"],
                    self.lock,
                ],
            )
            held = cursor.rowcount
        if held != len(items):
            log.warning("%d deliveries changed hands while being sent", len(items) - held)


def _release(claimed: list[Claimed], lock: datetime) -> None:
    """Hand back deliveries this claim had no time left to send: they stay due."""
    WebhookDelivery.objects.filter(
        pk__in=[c.delivery_id for c in claimed],
        status=WebhookDelivery.Status.SENDING,
        locked_until=lock,
    ).update(status=WebhookDelivery.Status.PENDING, locked_until=None)


def _claim(limit: int, now: datetime, lock: datetime) -> list[Claimed]:
    with transaction.atomic(), connection.cursor() as cursor:
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
    dispatchers never hold the same delivery. Requests run on a few threads (which touch no
    database); the results are written from this thread as they come in, before the threads
    may start more requests than they have answers written.
    """
    started = time.monotonic()
    now = timezone.now()
    lock = now + LOCK
    claimed = _claim(limit, now, lock)
    if not claimed:
        return 0
    deadline = started + LOCK.total_seconds()
    recorder = _Recorder(lock)
    skipped: list[Claimed] = []
    workers = min(send_concurrency(), len(claimed))
    pool = None

    def take(item: Claimed, outcome: Outcome) -> None:
        if outcome.attempted:
            recorder.add(item, outcome)
        else:
            skipped.append(item)

    # Every answer is recorded as soon as it comes in (those that arrive together, in one
    # transaction), and a thread starts its next request only once an earlier answer is
    # written (``slots``): an acknowledgement not yet written is one a dead dispatcher would
    # send again, so at most ``workers`` requests can ever reach a receiver twice.
    slots = threading.Semaphore(workers)
    stopping = threading.Event()

    def send(item: Claimed) -> Outcome:
        slots.acquire()
        if stopping.is_set():
            return Outcome(status_code=None, error="", duration_ms=0, attempted=False)
        return _send(item, deadline)

    try:
        if workers == 1:
            for item in claimed:
                take(item, _send(item, deadline))
                recorder.flush()
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
            futures = {pool.submit(send, item): item for item in claimed}
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    take(futures[future], future.result())
                recorder.flush()
                for _ in done:
                    slots.release()
    finally:
        if pool is not None:
            # On an error, threads waiting for a slot give their delivery back unsent.
            stopping.set()
            for _ in range(workers):
                slots.release()
            pool.shutdown(wait=True, cancel_futures=True)
        recorder.flush()
        if skipped:
            _release(skipped, lock)
    return len(claimed) - len(skipped)


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
