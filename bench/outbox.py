"""Outbox delivery throughput: events delivered per second through ``outbox_dispatch`` to a
local HTTP/1.1 receiver, against a raw baseline of the same bodies POSTed by a plain urllib
loop (a connection per POST) to the same receiver, measured in the same run; and, reported
beside it, against the same loop over one keep-alive connection.

``measure_outbox(n_events)`` needs Django set up against a migrated database (the bench's
scratch database, or the current one); it leaves no rows behind. Standalone, against the
database the settings point at: ``python -m bench.outbox --events 2000``.

The events use a type of their own (``bench.delivery``) and an endpoint that subscribes only
to it, so no other endpoint configured in the database receives them.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

BENCH_EVENT_TYPE = "bench.delivery"


# The receiver runs in a process of its own, so that it doesn't compete with the sender for
# the GIL: it answers every POST with 204, counts them, and tells the count on GET. It speaks
# HTTP/1.1 and keeps connections open, as a platform's webhook receiver would.
_RECEIVER = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

count, lock = 0, threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            count += 1
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        body = str(count).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a real receiver's backlog, not the default 5

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class _Receiver:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True
        )
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("the bench receiver did not start")
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/hook"

    def received(self) -> int:
        with urllib.request.urlopen(self.base + "/count", timeout=10) as response:  # noqa: S310
            return int(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _payload(n: int) -> dict:
    """Shaped and sized like a ``decision.made`` payload."""
    return {
        "decision_id": 100_000 + n,
        "case_id": 200_000 + n,
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "subject": {"kind": "content", "external_id": f"bench-post-{n}"},
        "actions": [
            {"action_id": 300_000 + n, "type": "remove_content", "status": "active"},
            {"action_id": 400_000 + n, "type": "suspend", "status": "active"},
        ],
        "statement_of_reasons": (
            "We reviewed your content under our policy SPAM-1.1 (Spam and platform "
            "manipulation) and found that it breaks it. Action taken: content removed. "
            "You can appeal this decision within 6 months."
        ),
        "emitted_at": "2025-01-01T00:00:00+00:00",
    }


def measure_outbox(n_events: int = 2000, *, concurrency: int | None = None) -> dict:
    """Deliver ``n_events`` through the outbox and the same bodies through two raw loops;
    returns ``{"tsops_per_s", "raw_per_s", "ratio", "keepalive_per_s", "keepalive_ratio",
    "events", "concurrency"}``.

    The TSOps figure covers everything after the events are committed: fan-out, claiming,
    signing, the POSTs (``WEBHOOK_SEND_CONCURRENCY`` at a time over keep-alive connections,
    unless ``concurrency`` says otherwise) and recording every attempt. The raw baseline
    (``raw_per_s``) is one POST after another with ``urllib.request``, a connection each;
    ``keepalive_per_s`` is one POST after another over a single keep-alive connection.
    """
    from django.test.utils import override_settings

    from enforcement import outbox
    from enforcement.models import OutboxEvent, WebhookDelivery, WebhookEndpoint

    receiver = _Receiver()
    endpoint = WebhookEndpoint.objects.create(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        url=receiver.url,
        secret=uuid.uuid4().hex,
        event_types=[BENCH_EVENT_TYPE],
    )
    events = OutboxEvent.objects.bulk_create(
        [OutboxEvent(event_type=BENCH_EVENT_TYPE, payload=_payload(n)) for n in range(n_events)],
        batch_size=1000,
    )
    ids = [e.pk for e in events]
    endpoint_id = endpoint.pk
    try:
        # Warm up every path (connections, imports) outside the measurement.
        keepalive = _KeepAliveLoop(receiver.url)
        for event in events[:1]:
            _raw_post(receiver.url, event)
            keepalive.post(event)
        settings_override = {} if concurrency is None else {"WEBHOOK_SEND_CONCURRENCY": concurrency}
        with override_settings(**settings_override):
            used = outbox.send_concurrency()
            started = time.perf_counter()
            delivered = 0
            while delivered < n_events:
                made = outbox.outbox_dispatch()
                delivered = WebhookDelivery.objects.filter(
                    endpoint=endpoint, status=WebhookDelivery.Status.DELIVERED
                ).count()
                if not made and delivered < n_events:
                    raise RuntimeError(f"only {delivered} of {n_events} events were delivered")
            tsops_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for event in events:
            _raw_post(receiver.url, event)
        raw_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for event in events:
            keepalive.post(event)
        keepalive_seconds = time.perf_counter() - started
        keepalive.close()
        expected = 3 * n_events + 2
        if receiver.received() != expected:
            raise RuntimeError(f"the receiver got {receiver.received()} requests, not {expected}")
    finally:
        receiver.stop()
        OutboxEvent.objects.filter(pk__in=ids).delete()
        endpoint.delete()
        # The bench endpoint was never configuration: leave no history of it either.
        WebhookEndpoint.history.filter(id=endpoint_id).delete()

    tsops_rate, raw_rate = n_events / tsops_seconds, n_events / raw_seconds
    keepalive_rate = n_events / keepalive_seconds
    return {
        "tsops_per_s": tsops_rate,
        "raw_per_s": raw_rate,
        "ratio": tsops_rate / raw_rate,
        "keepalive_per_s": keepalive_rate,
        "keepalive_ratio": tsops_rate / keepalive_rate,
        "events": n_events,
        "concurrency": used,
    }


def _raw_post(url: str, event) -> None:
    """The baseline: a plain ``urllib.request`` POST (a connection of its own) of the body the
    dispatcher would send."""
    from enforcement.outbox import event_body

    body = event_body(event.pk, event.event_type, event.created_at, event.payload)
    request = urllib.request.Request(  # noqa: S310 - the local receiver's http URL
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"the receiver answered {response.status}")


class _KeepAliveLoop:
    """The stronger baseline: one POST after another over one keep-alive connection (what a
    plain loop with ``requests.Session`` does), each body built like the dispatcher's."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def post(self, event) -> None:
        from enforcement.outbox import event_body

        body = event_body(event.pk, event.event_type, event.created_at, event.payload)
        self.connection.request(
            "POST", self.path, body=body, headers={"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"the receiver answered {response.status}")

    def close(self) -> None:
        self.connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    import django

    django.setup()
    figures = measure_outbox(args.events, concurrency=args.concurrency)
    print(
        f"outbox delivery, events/s ({figures['events']:,} events, "
        f"{figures['concurrency']} in flight): TSOps {figures['tsops_per_s']:,.0f}, "
        f"raw urllib loop {figures['raw_per_s']:,.0f}, ratio {figures['ratio']:.2f}; "
        f"keep-alive loop {figures['keepalive_per_s']:,.0f}, "
        f"ratio {figures['keepalive_ratio']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
