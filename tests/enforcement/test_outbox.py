"""Events to the platform: outbox rows in the decision's transaction, signed webhook delivery
to a real local HTTP receiver, retries with backoff, no duplicates, redelivery, and no loss
when the Celery broker is unreachable at decision time."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from cases.services import case_claim_next
from enforcement import outbox, services
from enforcement.models import (
    Decision,
    DeliveryAttempt,
    OutboxEvent,
    PolicySection,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.factories import make_case
from tsops.celery import app as celery_app
from tsops.errors import ConflictError

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-8d1f0c"
DECISION_TYPES = {"action.applied", "decision.made", "report.outcome"}


# --- A real webhook receiver ----------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP/1.1 server (connections kept alive) that records every POST and answers
    200, or the codes planned for a path (``fail(path, 500, 500)`` answers the next two
    requests there with 500). It also counts the connections used and the most requests it
    held at once; ``on_arrival(n)`` runs as the n-th request arrives, before its answer."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    plan: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: set = field(default_factory=set)
    in_flight: int = 0
    peak: int = 0
    delay: float = 0.0
    on_arrival: Callable[[int], None] | None = None

    def url(self, path: str = "/hook") -> str:
        return f"{self.base_url}{path}"

    def fail(self, path: str, *codes: int) -> None:
        with self.lock:
            self.plan.setdefault(path, []).extend(codes)

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def arrive(self, client: tuple) -> int:
        with self.lock:
            self.connections.add(client)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return len(self.requests) + self.in_flight

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            # No longer held: the client may send its next request once it has the answer.
            self.in_flight -= 1
            self.requests.append(Received(path, headers, body))
            planned = self.plan.get(path)
            return planned.pop(0) if planned else 200


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - the name http.server calls
            arrival = state.arrive(self.client_address)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state.on_arrival:
                state.on_arrival(arrival)
            if state.delay:
                time.sleep(state.delay)
            code = state.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # Several requests arrive at once; the default backlog of 5 would drop connections.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def endpoint_for(receiver: Receiver, path: str = "/hook", **fields) -> WebhookEndpoint:
    values = {
        "name": f"platform {path}",
        "url": receiver.url(path),
        "secret": SECRET,
        "event_types": list(OutboxEvent.TYPES),
        **fields,
    }
    return WebhookEndpoint.objects.create(**values)


@pytest.fixture
def endpoint(receiver):
    return endpoint_for(receiver)


@pytest.fixture
def unreachable_broker():
    """Point the Celery app at a Redis nobody listens on, for this test only."""
    original = celery_app.conf.broker_url

    def reconnect(url):
        # The app keeps a connection pool (and a producer pool on top of it) for the URL it
        # first used: drop both so the next publish connects to ``url``.
        from kombu import pools

        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        # kombu keeps producer pools per connection globally; closed ones must not be reused.
        pools.reset()
        celery_app.conf.broker_url = url

    reconnect("redis://127.0.0.1:1/0")
    try:
        yield
    finally:
        reconnect(original)


# --- Helpers ------------------------------------------------------------------------------


def claimed_case(platform_account, user, *, reports: int = 1):
    """A spam case with ``reports`` reports on one subject, claimed by ``user``."""
    subject = {
        "kind": "content",
        "external_id": f"post-{uuid.uuid4().hex[:8]}",
        "owner_id": f"acct-{uuid.uuid4().hex[:8]}",
        "text": "buy followers now",
    }
    for _ in range(reports):
        case = make_case(platform_account, reason="spam", subject=dict(subject))
    got = case_claim_next(actor=user, queue=case.queue)
    assert got.pk == case.pk
    return got


def decide(user, case, **kwargs) -> Decision:
    values = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": "Same link posted 40 times in an hour.",
        "actions": [{"type": "remove_content"}],
        **kwargs,
    }
    return services.decision_make(actor=user, case_id=case.pk, version=case.version, **values)


def expected_signature(timestamp: str, body: bytes, secret: str = SECRET) -> str:
    """Computed here, independently of the code under test."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def other_connection_count(sql: str, params) -> int:
    """Count rows from a second, independent database connection."""
    conn = psycopg2.connect(**connection.get_connection_params())
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    finally:
        conn.close()


# --- The outbox is written in the decision's transaction ---------------------------------


def test_events_are_written_inside_the_decisions_transaction_and_vanish_with_its_rollback(
    platform_account, analyst
):
    case = claimed_case(platform_account, analyst)
    with transaction.atomic():
        decision = decide(analyst, case)
        # Before the block commits, the events are already there for this transaction.
        inside = set(OutboxEvent.objects.values_list("event_type", flat=True))
        assert inside == DECISION_TYPES
        assert OutboxEvent.objects.filter(payload__decision_id=decision.pk).count() == 3

    other = claimed_case(platform_account, analyst)
    with pytest.raises(RuntimeError, match="after the decision"), transaction.atomic():
        rolled_back = decide(analyst, other)
        assert OutboxEvent.objects.filter(payload__decision_id=rolled_back.pk).exists()
        raise RuntimeError("something failed after the decision")
    assert not Decision.objects.filter(pk=rolled_back.pk).exists()
    assert not OutboxEvent.objects.filter(payload__decision_id=rolled_back.pk).exists()
    assert OutboxEvent.objects.filter(payload__decision_id=decision.pk).count() == 3


# --- Delivery -----------------------------------------------------------------------------


def test_dispatch_delivers_every_event_to_the_receiver_signed_over_the_exact_body(
    platform_account, analyst, receiver, endpoint
):
    case = claimed_case(platform_account, analyst, reports=2)
    decision = decide(analyst, case)
    events = {str(e.pk): e for e in OutboxEvent.objects.all()}
    assert len(events) == 4  # action.applied, decision.made, report.outcome ×2

    assert outbox.outbox_dispatch() == 4

    got = receiver.received("/hook")
    assert sorted(r.json["type"] for r in got) == sorted(
        ["action.applied", "decision.made", "report.outcome", "report.outcome"]
    )
    assert {r.json["id"] for r in got} == set(events)  # every event, each id once
    for request in got:
        headers = request.headers
        body = request.json
        event = events[body["id"]]
        assert headers["content-type"] == "application/json"
        assert headers["x-tsops-event"] == event.event_type == body["type"]
        assert headers["x-tsops-event-id"] == body["id"]
        timestamp = headers["x-tsops-timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        assert headers["x-tsops-signature"] == expected_signature(timestamp, request.body)
        assert outbox.verify_signature(
            SECRET, timestamp, request.body, headers["x-tsops-signature"]
        )
        assert not outbox.verify_signature(
            "wrong-secret", timestamp, request.body, headers["x-tsops-signature"]
        )
        assert not outbox.verify_signature(
            SECRET, timestamp, request.body + b" ", headers["x-tsops-signature"]
        )
        assert not outbox.verify_signature(
            SECRET, str(int(timestamp) + 1), request.body, headers["x-tsops-signature"]
        )
        assert body["data"] == event.payload
        assert body["created_at"] == event.created_at.isoformat()
    outcomes = [r.json["data"] for r in got if r.json["type"] == "report.outcome"]
    assert {o["report_id"] for o in outcomes} == set(case.reports.values_list("id", flat=True))
    assert all(o["decision_id"] == decision.pk and o["action_taken"] for o in outcomes)
    # The platform never receives the internal rationale.
    assert all(b"40 times" not in r.body for r in got)

    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert deliveries.count() == 4
    for delivery in deliveries:
        assert delivery.status == "delivered" and delivery.delivered_at is not None
        assert (delivery.attempts, delivery.last_status_code) == (1, 200)
        assert list(delivery.log.values_list("status_code", flat=True)) == [200]
    assert OutboxEvent.objects.filter(fanned_out_at__isnull=True).count() == 0


def test_a_500_is_retried_after_the_backoff_and_then_delivered_with_both_attempts_logged(
    platform_account, analyst, receiver
):
    endpoint_for(receiver, "/flaky", event_types=["decision.made"])
    receiver.fail("/flaky", 500)
    decision = decide(analyst, claimed_case(platform_account, analyst))

    before = timezone.now()
    assert outbox.outbox_dispatch() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.locked_until is None
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=10) <= wait <= timedelta(seconds=12)

    # Not due yet: nothing is sent.
    assert outbox.outbox_dispatch() == 0
    assert len(receiver.received("/flaky")) == 1

    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
        assert outbox.outbox_dispatch() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    log = list(delivery.log.order_by("at").values_list("status_code", flat=True))
    assert log == [500, 200]
    first, second = receiver.received("/flaky")
    assert first.json["id"] == second.json["id"]  # the same event, so the receiver can de-dup
    assert second.json["data"]["decision_id"] == decision.pk
    stamp = second.headers["x-tsops-timestamp"]
    assert second.headers["x-tsops-signature"] == expected_signature(stamp, second.body)


def test_backoff_doubles_and_a_delivery_is_given_up_after_the_maximum_attempts(
    platform_account, analyst, receiver, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    reachable = endpoint_for(receiver, "/down", event_types=["decision.made"])
    receiver.fail("/down", 503, 503, 503, 503)
    # Nothing listens on port 1: a connection error is an attempt with no status code.
    unreachable = WebhookEndpoint.objects.create(
        name="gone", url="http://127.0.0.1:1/hook", secret=SECRET, event_types=["decision.made"]
    )
    decide(analyst, claimed_case(platform_account, analyst))

    waits = []
    assert outbox.outbox_dispatch() == 2
    for _ in range(2):
        due = WebhookDelivery.objects.get(endpoint=reachable)
        waits.append(due.next_attempt_at - due.log.order_by("-at").first().at)
        later = max(WebhookDelivery.objects.values_list("next_attempt_at", flat=True))
        with time_machine.travel(later + timedelta(seconds=1), tick=True):
            assert outbox.outbox_dispatch() == 2

    assert timedelta(seconds=10) <= waits[0] <= timedelta(seconds=11)
    assert timedelta(seconds=20) <= waits[1] <= timedelta(seconds=22)
    for endpoint in (reachable, unreachable):
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert (delivery.status, delivery.attempts) == ("failed", 3)
        assert delivery.log.count() == 3
    assert set(reachable.deliveries.get().log.values_list("status_code", flat=True)) == {503}
    gone = unreachable.deliveries.get()
    assert gone.last_status_code is None and "refused" in gone.last_error.lower()
    assert all(entry.error for entry in gone.log.all())
    # Given up: later sweeps leave it alone.
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=True):
        assert outbox.outbox_dispatch() == 0
    assert len(receiver.received("/down")) == 3


def test_running_dispatch_again_never_sends_an_event_twice_to_the_same_endpoint(
    platform_account, analyst, receiver, endpoint
):
    decide(analyst, claimed_case(platform_account, analyst))
    assert outbox.outbox_dispatch() == 3
    assert outbox.outbox_dispatch() == 0
    assert outbox.outbox_fan_out() == 0
    decide(analyst, claimed_case(platform_account, analyst))
    assert outbox.outbox_dispatch() == 3
    assert outbox.outbox_dispatch() == 0

    ids = [r.json["id"] for r in receiver.received()]
    assert len(ids) == 6 == len(set(ids))
    assert DeliveryAttempt.objects.count() == 6


def test_an_endpoint_receives_only_the_event_types_it_subscribed_to(
    platform_account, analyst, receiver
):
    endpoint_for(receiver, "/all")
    endpoint_for(receiver, "/outcomes", event_types=["report.outcome", "action.reversed"])
    endpoint_for(receiver, "/off", active=False)
    decide(analyst, claimed_case(platform_account, analyst, reports=3))

    assert outbox.outbox_dispatch() == 5 + 3

    assert {r.json["type"] for r in receiver.received("/all")} == DECISION_TYPES
    assert [r.json["type"] for r in receiver.received("/outcomes")] == ["report.outcome"] * 3
    assert receiver.received("/off") == []
    assert not WebhookDelivery.objects.filter(endpoint__active=False).exists()


def test_a_senior_redelivers_a_delivered_event_and_others_are_refused(
    platform_account, analyst, associate, senior, outsider, receiver
):
    endpoint_for(receiver, event_types=["decision.made"])
    decide(analyst, claimed_case(platform_account, analyst))
    outbox.outbox_dispatch()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered"

    for refused in (analyst, associate, outsider):
        with pytest.raises(PermissionDenied):
            outbox.delivery_redeliver(actor=refused, delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert outbox.outbox_dispatch() == 0

    redelivered = outbox.delivery_redeliver(actor=senior, delivery_id=delivery.pk)
    assert (redelivered.status, redelivered.attempts) == ("pending", 0)
    assert redelivered.next_attempt_at <= timezone.now()
    assert outbox.outbox_dispatch() == 1

    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.log.count() == 2
    first, second = receiver.received()
    assert first.json["id"] == second.json["id"]


def test_redelivery_is_refused_while_the_delivery_is_being_sent(senior, receiver, endpoint):
    event = OutboxEvent.objects.create(event_type="decision.made", payload={"case_id": 1})
    delivery = WebhookDelivery.objects.create(
        event=event,
        endpoint=endpoint,
        status="sending",
        locked_until=timezone.now() + timedelta(seconds=30),
    )
    with pytest.raises(ConflictError):
        outbox.delivery_redeliver(actor=senior, delivery_id=delivery.pk)
    # A dispatcher that died mid-send leaves an expired lock: the delivery is due again.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.deliveries_send_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_the_celery_task_runs_the_dispatch(platform_account, analyst, receiver, endpoint):
    from enforcement.tasks import outbox_dispatch

    decide(analyst, claimed_case(platform_account, analyst))
    assert outbox_dispatch.apply().get() == 3
    assert len(receiver.received()) == 3


# --- Admin --------------------------------------------------------------------------------


def test_seniors_redeliver_from_the_admin_and_never_see_endpoint_secrets(
    platform_account, analyst, senior, receiver, endpoint, client
):
    decide(analyst, claimed_case(platform_account, analyst))
    outbox.outbox_dispatch()
    client.force_login(senior)

    listing = client.get("/admin/enforcement/webhookendpoint/")
    assert listing.status_code == 200
    assert SECRET not in listing.content.decode()
    page = client.get(f"/admin/enforcement/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200 and SECRET not in page.content.decode()
    deliveries = client.get("/admin/enforcement/webhookdelivery/")
    assert deliveries.status_code == 200 and SECRET not in deliveries.content.decode()

    ids = list(WebhookDelivery.objects.values_list("pk", flat=True))
    response = client.post(
        "/admin/enforcement/webhookdelivery/",
        {"action": "redeliver", "_selected_action": ids},
        follow=True,
    )
    assert response.status_code == 200
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"pending"}
    detail = client.get(f"/admin/enforcement/webhookdelivery/{ids[0]}/change/")
    assert detail.status_code == 200 and "200" in detail.content.decode()


ADMIN_PAGES = [
    "/admin/enforcement/webhookendpoint/",
    "/admin/enforcement/webhookendpoint/add/",
    "/admin/enforcement/webhookdelivery/",
    "/admin/enforcement/outboxevent/",
    "/admin/enforcement/decision/",
    "/admin/enforcement/enforcementaction/",
    "/admin/enforcement/policy/",
    "/admin/enforcement/policysection/",
    "/admin/enforcement/policysection/add/",
    "/admin/enforcement/strikepolicy/",
]


def test_every_enforcement_admin_page_opens_for_a_senior_and_no_one_else(
    platform_account, analyst, senior, receiver, endpoint, client
):
    decision = decide(analyst, claimed_case(platform_account, analyst))
    outbox.outbox_dispatch()
    delivery = WebhookDelivery.objects.first()
    event = OutboxEvent.objects.first()
    action = decision.actions.get()
    pages = [
        *ADMIN_PAGES,
        f"/admin/enforcement/webhookdelivery/{delivery.pk}/change/",
        f"/admin/enforcement/outboxevent/{event.pk}/change/",
        f"/admin/enforcement/decision/{decision.pk}/change/",
        f"/admin/enforcement/enforcementaction/{action.pk}/change/",
        f"/admin/enforcement/policy/{decision.policy_section.policy_id}/change/",
        f"/admin/enforcement/policysection/{decision.policy_section_id}/change/",
        f"/admin/enforcement/webhookendpoint/{endpoint.pk}/history/",
    ]
    client.force_login(senior)
    for url in pages:
        assert client.get(url).status_code == 200, url
    client.force_login(analyst)
    for url in pages:
        assert client.get(url).status_code == 302, url  # to the admin login


def test_the_admin_keeps_events_of_restricted_cases_from_seniors_outside_the_team(
    platform_account, senior, specialist, receiver, endpoint, client
):
    hidden = make_case(platform_account, reason="child_safety")
    assert hidden.restricted
    event = OutboxEvent.objects.create(
        event_type="decision.made", payload={"case_id": hidden.pk, "outcome": "violation"}
    )
    outbox.outbox_dispatch()
    delivery = WebhookDelivery.objects.get(event=event)
    client.force_login(senior)
    assert str(event.pk) not in client.get("/admin/enforcement/outboxevent/").content.decode()
    assert client.get(f"/admin/enforcement/outboxevent/{event.pk}/change/").status_code == 302
    url = f"/admin/enforcement/webhookdelivery/{delivery.pk}/change/"
    assert client.get(url).status_code == 302
    shown = client.get("/admin/enforcement/outboxevent/?event_type=decision.made")
    assert shown.status_code == 200 and "0 outbox events" in shown.content.decode()


def test_a_new_endpoint_with_a_blank_secret_gets_one_shown_once(senior, client):
    client.force_login(senior)
    response = client.post(
        "/admin/enforcement/webhookendpoint/add/",
        {
            "name": "platform",
            "url": "https://platform.example/hooks/tsops",
            "new_secret": "",
            "event_types": ["decision.made", "action.applied"],
            "active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    created = WebhookEndpoint.objects.get(name="platform")
    assert len(created.secret) >= 32
    assert created.secret in response.content.decode()  # the one time it is shown
    assert created.secret not in client.get("/admin/enforcement/webhookendpoint/").content.decode()


def test_an_endpoint_saved_with_a_blank_secret_keeps_its_secret(senior, receiver, endpoint, client):
    client.force_login(senior)
    response = client.post(
        f"/admin/enforcement/webhookendpoint/{endpoint.pk}/change/",
        {
            "name": "renamed",
            "url": endpoint.url,
            "new_secret": "",
            "event_types": ["decision.made"],
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.secret, endpoint.event_types) == (
        "renamed",
        SECRET,
        ["decision.made"],
    )
    rotated = "rotated-secret-5b7e2a91c4"
    response = client.post(
        f"/admin/enforcement/webhookendpoint/{endpoint.pk}/change/",
        {"name": "renamed", "url": endpoint.url, "new_secret": rotated, "active": "on",
         "event_types": ["decision.made"]},
    )  # fmt: skip
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret == rotated
    # The history never holds the secret (it is excluded from the history table).
    history = client.get(f"/admin/enforcement/webhookendpoint/{endpoint.pk}/history/")
    assert history.status_code == 200
    assert not hasattr(endpoint.history.first(), "secret")
    assert SECRET not in history.content.decode() and rotated not in history.content.decode()


def test_policy_sections_are_read_only_in_the_admin_and_analysts_are_kept_out(
    senior, analyst, client
):
    section = PolicySection.objects.filter(superseded_at__isnull=True).first()
    client.force_login(senior)
    url = f"/admin/enforcement/policysection/{section.pk}/change/"
    assert client.get(url).status_code == 200
    client.post(url, {"title": "rewritten", "code": section.code})
    section.refresh_from_db()
    assert section.title != "rewritten"
    duplicate = client.post(
        "/admin/enforcement/policysection/add/",
        {
            "policy": section.policy_id,
            "code": section.code,
            "title": "A second current version",
            "public_summary": "x",
            "internal_guidance": "x",
            "severity": 3,
            "effective_from_0": "2025-01-01",
            "effective_from_1": "00:00:00",
        },
    )
    assert duplicate.status_code == 200  # the form answers with an error, nothing is saved
    assert PolicySection.objects.filter(code=section.code).count() == 1
    client.force_login(analyst)
    assert client.get("/admin/enforcement/webhookdelivery/").status_code == 302


# --- Real transactions, threads and a dead broker ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_events_are_never_lost_when_the_broker_is_unreachable_at_decision_time(
    platform_account, analyst, receiver, endpoint, unreachable_broker, caplog
):
    case = claimed_case(platform_account, analyst)
    visible_elsewhere = "SELECT count(*) FROM enforcement_outboxevent WHERE id = ANY(%s::uuid[])"

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="enforcement.events"):
        with transaction.atomic():
            decision = decide(analyst, case)
            ids = [str(pk) for pk in OutboxEvent.objects.values_list("pk", flat=True)]
            assert len(ids) == 3
            # Written in the decision's transaction: invisible to anyone else until it commits.
            assert other_connection_count(visible_elsewhere, [ids]) == 0
    elapsed = time.monotonic() - started

    # The hand-over to Celery failed after commit; the decision stands, quickly.
    assert "broker unavailable" in caplog.text
    assert elapsed < 1.5
    assert Decision.objects.filter(pk=decision.pk).exists()
    assert other_connection_count(visible_elsewhere, [ids]) == 3
    assert receiver.received() == []

    # Once a dispatcher runs again (the beat sweep), every event goes out.
    assert outbox.outbox_dispatch() == 3
    assert sorted(r.json["id"] for r in receiver.received()) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_send_each_event_once_per_endpoint(
    platform_account, analyst, receiver, unreachable_broker
):
    endpoint_for(receiver, "/a")
    endpoint_for(receiver, "/b")
    for _ in range(6):
        decide(analyst, claimed_case(platform_account, analyst, reports=2))
    events = OutboxEvent.objects.count()
    assert events == 6 * 4

    barrier = threading.Barrier(6)
    totals: list[int] = []
    errors: list[BaseException] = []

    def dispatcher():
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            # Small batches so the dispatchers really compete for the same rows.
            made = 0
            for _ in range(30):
                outbox.outbox_fan_out(limit=5)
                made += outbox.deliveries_send_due(limit=4)
            totals.append(made)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    # Whatever the small batches left over; together, every delivery was attempted once.
    assert sum(totals) + outbox.outbox_dispatch() == 2 * events

    for path in ("/a", "/b"):
        ids = [r.json["id"] for r in receiver.received(path)]
        assert len(ids) == events == len(set(ids)), path
    assert DeliveryAttempt.objects.count() == 2 * events
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


# --- The dispatcher's bound: requests in flight plus answers not yet written ---------------


def make_events(count: int) -> list[str]:
    events = OutboxEvent.objects.bulk_create(
        [OutboxEvent(event_type="decision.made", payload={"n": n}) for n in range(count)]
    )
    return [str(e.pk) for e in events]


@pytest.mark.django_db(transaction=True)
def test_requests_in_flight_plus_unwritten_answers_stay_within_the_concurrency_over_few_connections(
    receiver, endpoint, settings
):
    settings.WEBHOOK_SEND_CONCURRENCY = 3
    ids = make_events(30)
    receiver.delay = 0.005  # answers overlap, so the dispatcher really runs 3 at once
    # As the n-th request arrives, every earlier one not yet written (as seen from another
    # connection) is one a killed dispatcher would send again: with this one, never more
    # than the concurrency.
    observer = psycopg2.connect(**connection.get_connection_params())
    observer.autocommit = True
    observing = threading.Lock()
    unwritten: list[int] = []

    def count_unwritten(n: int) -> None:
        with observing, observer.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM enforcement_deliveryattempt")
            unwritten.append(n - cursor.fetchone()[0])

    receiver.on_arrival = count_unwritten
    try:
        assert outbox.outbox_dispatch() == 30
    finally:
        observer.close()
    assert sorted(r.json["id"] for r in receiver.received()) == sorted(ids)
    assert len(unwritten) == 30 and max(unwritten) <= 3
    assert 2 <= receiver.peak <= 3
    # Kept-alive connections, never more than the concurrency: not one per request.
    assert len(receiver.connections) <= 3


DISPATCHER = """
import django

django.setup()
from enforcement import outbox

while outbox.outbox_dispatch():
    pass
"""


@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_killed_between_sending_and_writing_answers_resends_only_those_unwritten(
    receiver, endpoint, tmp_path
):
    from tests.tsops.conftest import ROOT, database_url_for

    concurrency, total, stall_at = 4, 60, 25
    ids = make_events(total)
    params = connection.get_connection_params()
    blocker = psycopg2.connect(**params)

    def stall_writes(n: int) -> None:
        # From the 25th request on, the dispatcher's next write of answers waits on this
        # lock: it has acknowledgements in hand that it cannot record.
        if n == stall_at:
            with blocker.cursor() as cursor:
                cursor.execute("LOCK TABLE enforcement_deliveryattempt IN EXCLUSIVE MODE")

    receiver.on_arrival = stall_writes
    script = tmp_path / "dispatcher.py"
    script.write_text(DISPATCHER)
    env = {
        **os.environ,
        "TSOPS_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "tsops.test_settings",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "WEBHOOK_SEND_CONCURRENCY": str(concurrency),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env)
    try:
        waiting = None
        deadline = time.monotonic() + 60
        while waiting is None:
            assert time.monotonic() < deadline, "the dispatcher never got to write its answers"
            assert proc.poll() is None, "the dispatcher ended before its writes were stalled"
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s",
                    ["%enforcement_deliveryattempt%"],
                )
                row = cursor.fetchone()
            waiting = row and row[0]
            time.sleep(0.05)
        # No request starts while answers wait to be written; let those in flight finish.
        time.sleep(0.5)
        assert receiver.in_flight == 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [waiting])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        blocker.rollback()
        blocker.close()

    acknowledged = {r.json["id"] for r in receiver.received()}
    written = {
        str(event_id)
        for event_id in WebhookDelivery.objects.filter(status="delivered").values_list(
            "event_id", flat=True
        )
    }
    unwritten = acknowledged - written
    assert stall_at <= len(acknowledged) < total
    assert 1 <= len(unwritten) <= concurrency

    # Its claims run out (fast-forwarded), and another dispatcher finishes the job.
    WebhookDelivery.objects.filter(status="sending").update(locked_until=timezone.now())
    receiver.on_arrival = None
    outbox.outbox_dispatch()

    received = Counter(r.json["id"] for r in receiver.received())
    assert set(received) == set(ids)
    # Sent again: exactly the acknowledgements that were never written, none written before.
    assert {event_id for event_id, times in received.items() if times > 1} == unwritten
    assert max(received.values()) == 2
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    ok_attempts = Counter(
        DeliveryAttempt.objects.filter(status_code__range=(200, 299)).values_list(
            "delivery_id", flat=True
        )
    )
    assert len(ok_attempts) == total and set(ok_attempts.values()) == {1}
