"""Load clients, each a process of its own: ``python -m bench.reliability.clients MODE …``.

The HTTP clients import nothing but the standard library, so that 64 of them stay light.
Every result a client must not lose (a claimed case, a report's answer) is written to its
output file as one line, flushed at once: a client killed with SIGKILL leaves behind exactly
what it had been told. A summary (status counts, latencies) is written at the end, by the
clients that get there.

Modes:

* ``claim``: POST /api/v1/queues/<queue>/claim until the queue answers 204; one line per
  claimed case id.
* ``claim-direct``: the same through ``cases.services.case_claim_next`` (Django, on the
  database of ``DATABASE_URL``): a kill lands inside the claim's transaction.
* ``ingest``: a plan of single and bulk requests (JSON file), on a few threads; one line per
  request with its status and, per report, the report and case ids it was answered with.
* ``decide``: decisions on the given cases; one line per request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import sys
import threading
import time
from collections import Counter
from pathlib import Path

TIMEOUT = 60.0


def report_payload(n: int, *, subjects: int, prefix: str) -> dict:
    """Report number ``n``: always the same body for the same ``n`` (its key is
    ``(source, f"{prefix}-r-{n}")``), about subject ``n % subjects``."""
    subject = n % subjects
    automated = n % 3 == 0
    return {
        "source": "automated_flag" if automated else "user_report",
        "external_id": f"{prefix}-r-{n}",
        "reason": ["spam", "scam_fraud", "harassment", "other"][n % 4],
        "description": "reliability harness report",
        "reporter_id": f"u-{n % 997}",
        "detector": "spamnet-v3" if automated else "",
        "score": 0.91 if automated else None,
        "subject": {
            "kind": "content",
            "external_id": f"{prefix}-post-{subject}",
            "owner_id": f"{prefix}-acct-{subject % max(1, subjects // 4)}",
            "text": f"reliability subject {subject}",
        },
    }


class Http:
    """One keep-alive connection that reconnects after errors; every call is timed."""

    def __init__(self, port: int, key: str, timeout: float = TIMEOUT):
        self.port, self.timeout = port, timeout
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body=None) -> tuple[int, bytes, float]:
        """(status, body, seconds); status 0 when no answer came (reset, refused, timeout)."""
        data = json.dumps(body).encode() if body is not None else b""
        started = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            payload = response.read()
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, payload, time.monotonic() - started
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, b"", time.monotonic() - started

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.latencies: list[float] = []
        self.slow: list[tuple[float, int, str]] = []

    def add(self, status: int, seconds: float, what: str = "") -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)
            if seconds > 5:
                self.slow.append((round(seconds, 2), status, what))

    def summary(self) -> dict:
        ordered = sorted(self.latencies) or [0.0]

        def pct(p):
            return ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1)))]

        return {
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "requests": len(self.latencies),
            "p50_ms": pct(0.5) * 1000,
            "p99_ms": pct(0.99) * 1000,
            "max_ms": ordered[-1] * 1000,
            "slow": self.slow[:50],
        }


def _write_summary(path: Path, stats: Stats, **extra) -> None:
    Path(f"{path}.summary.json").write_text(json.dumps({**stats.summary(), **extra}))


# --- claim -----------------------------------------------------------------------------------


def run_claim(args) -> None:
    http_ = Http(args.port, args.key)
    stats = Stats()
    out = open(args.out, "a", buffering=1)  # noqa: SIM115 - line-buffered for the whole run
    empty = 0
    while True:
        status, body, seconds = http_.request("POST", f"/api/v1/queues/{args.queue}/claim")
        stats.add(status, seconds, "claim")
        if status == 200:
            out.write(f"{json.loads(body)['id']}\n")
            empty = 0
        elif status == 204:
            empty += 1
            if empty >= args.empty_rounds:
                break
            time.sleep(0.5)
        else:
            time.sleep(0.05)
    out.close()
    _write_summary(Path(args.out), stats)


def run_claim_direct(args) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from cases.models import Queue
    from cases.services import case_claim_next

    user = get_user_model().objects.get(pk=args.user_id)
    target = Queue.objects.get(slug=args.queue)
    stats = Stats()
    out = open(args.out, "a", buffering=1)  # noqa: SIM115
    while True:
        started = time.monotonic()
        case = case_claim_next(actor=user, queue=target)
        stats.add(200 if case else 204, time.monotonic() - started)
        if case is None:
            break
        out.write(f"{case.pk}\n")
    out.close()
    _write_summary(Path(args.out), stats)


# --- ingest ----------------------------------------------------------------------------------


def run_ingest(args) -> None:
    plan = json.loads(Path(args.plan).read_text())
    subjects, prefix = plan["subjects"], plan["prefix"]
    work: queue.Queue = queue.Queue()
    for item in plan["requests"]:
        work.put(item)
    stats = Stats()
    out = open(args.out, "a", buffering=1)  # noqa: SIM115
    write = threading.Lock()
    deadline = time.monotonic() + args.duration if args.duration else None

    def one(http_: Http, item) -> None:
        numbers = item["n"]
        payloads = [report_payload(n, subjects=subjects, prefix=prefix) for n in numbers]
        for attempt in range(args.retries + 1):
            if item["kind"] == "single":
                status, body, seconds = http_.request("POST", "/api/v1/reports", payloads[0])
            else:
                status, body, seconds = http_.request(
                    "POST", "/api/v1/reports/bulk", {"reports": payloads}
                )
            stats.add(status, seconds, f"{item['kind']} {numbers[0]}")
            answers = []
            if 200 <= status < 300:
                data = json.loads(body)
                results = [data] if item["kind"] == "single" else data["results"]
                for n, result in zip(numbers, results, strict=True):
                    answers.append(
                        [n, result.get("status", status), result.get("report_id"),
                         result.get("case_id")]
                    )  # fmt: skip
            with write:
                out.write(
                    json.dumps(
                        {"t": round(time.time(), 3), "kind": item["kind"], "status": status,
                         "ms": round(seconds * 1000, 1), "answers": answers,
                         "attempt": attempt}
                    ) + "\n"
                )  # fmt: skip
            if 200 <= status < 300 or (400 <= status < 500 and status != 429):
                return
            time.sleep(0.2)

    def loop() -> None:
        http_ = Http(args.port, args.key)
        while True:
            if deadline and time.monotonic() > deadline:
                return
            if args.stop_file and Path(args.stop_file).exists():
                return
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            one(http_, item)
            if args.pause:
                time.sleep(args.pause)

    threads = [threading.Thread(target=loop) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.close()
    _write_summary(Path(args.out), stats)


# --- decide ----------------------------------------------------------------------------------


def run_decide(args) -> None:
    cases = json.loads(Path(args.cases).read_text())
    stats = Stats()
    out = open(args.out, "a", buffering=1)  # noqa: SIM115
    work: queue.Queue = queue.Queue()
    for item in cases:
        work.put(item)
    write = threading.Lock()

    def loop() -> None:
        http_ = Http(args.port, args.key)
        while True:
            if args.stop_file and Path(args.stop_file).exists():
                return
            try:
                case_id, version = work.get_nowait()
            except queue.Empty:
                return
            status, body, seconds = http_.request(
                "POST",
                f"/api/v1/cases/{case_id}/decision",
                {
                    "outcome": "violation",
                    "policy_section": "SPAM-1.1",
                    "rationale": "Reliability harness: commercial spam",
                    "version": version,
                    "actions": [{"type": "remove_content"}],
                },
            )
            stats.add(status, seconds, f"decide {case_id}")
            decision_id = json.loads(body).get("id") if status == 201 else None
            with write:
                out.write(
                    json.dumps(
                        {"t": round(time.time(), 3), "case": case_id, "status": status,
                         "ms": round(seconds * 1000, 1), "decision": decision_id}
                    ) + "\n"
                )  # fmt: skip
            if args.pause:
                time.sleep(args.pause)

    threads = [threading.Thread(target=loop) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.close()
    _write_summary(Path(args.out), stats)


# --- dispatch --------------------------------------------------------------------------------


def run_dispatch(args) -> None:
    """Wait for the ``--go`` file, then deliver the outbox until nothing is due (Django)."""
    import django

    django.setup()
    from enforcement import outbox

    while not Path(args.go).exists():
        time.sleep(0.05)
    while outbox.outbox_dispatch():
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability.clients")
    sub = parser.add_subparsers(dest="mode", required=True)
    claim = sub.add_parser("claim")
    claim.add_argument("--port", type=int, required=True)
    claim.add_argument("--key", required=True)
    claim.add_argument("--queue", default="general")
    claim.add_argument("--out", required=True)
    claim.add_argument("--empty-rounds", type=int, default=3)
    direct = sub.add_parser("claim-direct")
    direct.add_argument("--user-id", type=int, required=True)
    direct.add_argument("--queue", default="general")
    direct.add_argument("--out", required=True)
    ingest = sub.add_parser("ingest")
    ingest.add_argument("--port", type=int, required=True)
    ingest.add_argument("--key", required=True)
    ingest.add_argument("--plan", required=True)
    ingest.add_argument("--out", required=True)
    ingest.add_argument("--threads", type=int, default=4)
    ingest.add_argument("--retries", type=int, default=0)
    ingest.add_argument("--pause", type=float, default=0.0)
    ingest.add_argument("--duration", type=float, default=0.0)
    ingest.add_argument("--stop-file", default="", help="stop once this file exists")
    decide = sub.add_parser("decide")
    decide.add_argument("--port", type=int, required=True)
    decide.add_argument("--key", required=True)
    decide.add_argument("--cases", required=True)
    decide.add_argument("--out", required=True)
    decide.add_argument("--threads", type=int, default=2)
    decide.add_argument("--pause", type=float, default=0.0)
    decide.add_argument("--stop-file", default="", help="stop once this file exists")
    dispatch = sub.add_parser("dispatch")
    dispatch.add_argument("--go", required=True)
    args = parser.parse_args(argv)
    {
        "claim": run_claim,
        "claim-direct": run_claim_direct,
        "ingest": run_ingest,
        "decide": run_decide,
        "dispatch": run_dispatch,
    }[args.mode](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
