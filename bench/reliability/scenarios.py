"""The six scenarios of issue 9: each drives TSOps on a :class:`~bench.reliability.stack.Stack`,
injects its faults, checks its invariants with SQL, and returns table rows.

Every scenario takes its sizes as arguments: ``python -m bench.reliability`` runs them at the
issue's sizes, ``tests/reliability`` at small ones. A row passes only when every number it
names is what the invariant says.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.reliability.stack import Database, Proc, Stack, log, wait_until


@dataclass
class Row:
    scenario: str
    load: str
    faults: str
    invariant: str
    ok: bool
    numbers: str

    @property
    def result(self) -> str:
        return ("PASS" if self.ok else "FAIL") + f" ({self.numbers})"


@dataclass
class Outcome:
    """A scenario's rows and the raw figures behind them (the tests assert on both)."""

    name: str
    rows: list[Row] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    def row(self, load: str, faults: str, invariant: str, ok: bool, numbers: str) -> bool:
        self.rows.append(Row(self.name, load, faults, invariant, bool(ok), numbers))
        log(f"  {'PASS' if ok else 'FAIL'}  {invariant}: {numbers}")
        return bool(ok)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def failures(self) -> list[str]:
        return [f"{r.invariant}: {r.numbers}" for r in self.rows if not r.ok]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def _summary(path: Path) -> dict | None:
    try:
        return json.loads(Path(f"{path}.summary.json").read_text())
    except FileNotFoundError:
        return None


def _wait_procs(procs: list[Proc], timeout: float, what: str) -> None:
    wait_until(lambda: not any(p.alive() for p in procs), timeout, what, interval=0.3)


# --- 1. Claim storm ----------------------------------------------------------------------------

CLAIM_CHECKS = {
    # A claim without its own timeline event, or two claims with no expiry between them: in
    # event order, a CASE_CLAIMED must follow the case's creation or its lease's expiry.
    "overlapping": """
        SELECT count(*) FROM (
            SELECT kind, lag(kind) OVER (PARTITION BY case_id ORDER BY at, id) AS before
            FROM cases_caseevent
            WHERE case_id = ANY(%(ids)s)
              AND kind IN ('CASE_CREATED', 'CASE_CLAIMED', 'CASE_LEASE_EXPIRED')
        ) e WHERE kind = 'CASE_CLAIMED' AND before = 'CASE_CLAIMED'
    """,
    "events": """
        SELECT count(*) FILTER (WHERE kind = 'CASE_CLAIMED'),
               count(*) FILTER (WHERE kind = 'CASE_LEASE_EXPIRED')
        FROM cases_caseevent WHERE case_id = ANY(%(ids)s)
    """,
    "history": """
        SELECT count(*) FROM cases_historicalcase
        WHERE id = ANY(%(ids)s) AND history_change_reason = 'claimed'
    """,
    "states": """
        SELECT status, count(*) FROM cases_case WHERE id = ANY(%(ids)s) GROUP BY status
    """,
}


def claim_storm(
    stack: Stack,
    *,
    cases: int,
    claimers: int,
    kills: int,
    worker_kills: int = 0,
    mode: str = "http",
    duration: float | None = None,
    web_workers: int = 4,
    web_threads: int = 8,
    kill_every: float = 3.0,
    timeout: float = 3600,
) -> Outcome:
    """``claimers`` processes claim from a queue of ``cases`` (until it is empty, or for
    ``duration`` seconds after which every claimer is SIGKILLed), while ``kills`` of them are
    SIGKILLed and restarted and, over HTTP, ``worker_kills`` gunicorn workers die too.

    Then the claims nobody heard of (the claimer or the web worker died before the answer
    was read) have their lease run out (the clock fast-forwarded for those rows only) and
    the lease expiry returns them to the queue; without ``duration`` the queue is drained
    once more, so that they are claimed again. The claims are checked against the timeline,
    the history and what each claimer was told."""
    out = Outcome("1. claim storm")
    db = stack.database("rel_claim")
    log(f"claim storm: {cases:,} cases, {claimers} claimers ({mode})")
    people = stack.seed(
        db, [{"op": "members", "analysts": claimers}, {"op": "claim_queue", "cases": cases}]
    )[0]["analysts"]
    folder = stack.base / "claim"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("claimer-*"):
        old.unlink()
    web = stack.web(db, workers=web_workers, threads=web_threads) if mode == "http" else None

    def start(i: int) -> Proc:
        outfile = folder / f"claimer-{i}.txt"
        if mode == "http":
            args = ["claim", "--port", str(web.port), "--key", people[i]["key"]]
            return stack.client(f"claimer-{i}", [*args, "--out", str(outfile)])
        args = ["claim-direct", "--user-id", str(people[i]["id"]), "--out", str(outfile)]
        return stack.django_client(f"claimer-{i}", db, args)

    def in_review() -> int:
        return db.value("SELECT count(*) FROM cases_case WHERE status = 'in_review'")

    procs = [start(i) for i in range(claimers)]
    killed = worker_killed = 0
    rng = random.Random(9)
    # Kill only once claiming is under way (past the processes' start-up).
    wait_until(lambda: in_review() > 0, 180, "first claims", interval=0.2)
    started = last_progress = time.monotonic()
    next_kill = started + kill_every * rng.uniform(0.3, 1.0)
    while any(p.alive() for p in procs):
        now = time.monotonic()
        if now - started > (duration or timeout):
            if duration is None:
                raise TimeoutError("the claim storm did not finish")
            for proc in procs:
                if proc.alive():
                    proc.kill(signal.SIGKILL)
            break
        if now >= next_kill and (killed < kills or worker_killed < worker_kills):
            alive = [p for p in procs if p.alive()]
            if killed < kills and alive:
                victim = rng.choice(alive)
                victim.kill(signal.SIGKILL)
                victim.start()
                killed += 1
            if web is not None and worker_killed < worker_kills:
                workers = web.workers()
                if workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    worker_killed += 1
            next_kill = now + kill_every * rng.uniform(0.5, 1.5)
        if now - last_progress > 10:
            done = in_review()
            log(
                f"  {done:,} claimed ({done / (now - started):,.0f}/s), {killed} claimers "
                f"and {worker_killed} web workers killed"
            )
            last_progress = now
        time.sleep(0.1)
    storm_seconds = time.monotonic() - started
    if web is not None:
        # A claimer killed mid-request leaves the web server finishing its claim: let every
        # request in flight end (a graceful stop) before counting what the claimers heard.
        stack.forget(web.proc)
    storm_claims = in_review()

    def logged() -> dict[int, list[int]]:
        owners: dict[int, list[int]] = {}
        for i in range(claimers):
            for line in _lines(folder / f"claimer-{i}.txt"):
                if line.strip():
                    owners.setdefault(int(line), []).append(people[i]["id"])
        return owners

    orphans = [
        case_id
        for (case_id,) in db.rows(
            "SELECT id FROM cases_case WHERE status = 'in_review' AND NOT (id = ANY(%s))",
            [list(logged())],
        )
    ]
    log(
        f"  storm over: {storm_claims:,} claims in {storm_seconds:.0f} s; "
        f"{len(orphans)} claims nobody heard of"
    )
    db.execute(
        "UPDATE cases_case SET lease_expires_at = now() - interval '1 second' WHERE id = ANY(%s)",
        [orphans],
    )
    if duration is None:
        # The drain's claims return expired leases to the queue first, and take them again.
        if mode == "http":
            web = stack.web(db, workers=web_workers, threads=web_threads)
        drainers = [start(i) for i in range(min(claimers, 2))]
        _wait_procs(drainers, 600, "the final drain")
        if mode == "http":
            stack.forget(web.proc)
        returned = db.value(
            "SELECT count(*) FROM cases_caseevent WHERE kind = 'CASE_LEASE_EXPIRED'"
        )
    else:
        returned = stack.seed(db, [{"op": "expire_leases"}])[0]
    owners = logged()
    twice = {case_id: who for case_id, who in owners.items() if len(who) > 1}
    holders = dict(db.rows("SELECT id, claimed_by_id FROM cases_case WHERE status = 'in_review'"))
    wrong_holder = sum(1 for case_id, who in owners.items() if holders.get(case_id) != who[-1])
    unexplained = len(set(holders) - set(owners))
    params = {"ids": [row[0] for row in db.rows("SELECT id FROM cases_case")]}
    overlapping = db.value(CLAIM_CHECKS["overlapping"], params)
    claimed_events, expired_events = db.rows(CLAIM_CHECKS["events"], params)[0]
    history = db.value(CLAIM_CHECKS["history"], params)
    states = dict(db.rows(CLAIM_CHECKS["states"], params))
    orphan_states = dict(db.rows("SELECT id, status FROM cases_case WHERE id = ANY(%s)", [orphans]))
    logged_claims = sum(len(who) for who in owners.values())
    expected_events = logged_claims + len(orphans)
    answers: Counter = Counter()
    for i in range(claimers):
        summary = _summary(folder / f"claimer-{i}.txt") or {}
        answers.update(summary.get("statuses") or {})
    kill_note = f"{killed} claimers SIGKILLed + restarted" + (
        f", {worker_killed} gunicorn workers SIGKILLed mid-request" if web is not None else ""
    )
    if duration:
        kill_note += f"; all {claimers} SIGKILLed at the end"
    how = "HTTP claim API via gunicorn" if mode == "http" else "case_claim_next in-process"
    load = f"{cases:,}-case queue, {claimers} claimer processes ({how}), {storm_claims:,} claims"
    if duration:
        load += f" in {storm_seconds:.0f} s"
    out.figures.update(
        cases=cases,
        seconds=storm_seconds,
        claims=storm_claims,
        killed=killed,
        worker_killed=worker_killed,
        orphans=len(orphans),
        returned=returned,
        twice=len(twice),
        states=states,
        answers=dict(answers),
    )
    out.row(
        load,
        kill_note,
        "no case held by two live claims",
        not twice and overlapping == 0 and wrong_holder == 0 and unexplained == 0,
        f"{len(twice)} cases given to two claimers, {overlapping} claims over a live claim, "
        f"{wrong_holder + unexplained} held by someone other than the claimer told",
    )
    if duration is None:
        settled = states.get("in_review", 0) == cases == len(owners)
        settled_text = f"{states.get('in_review', 0):,}/{cases:,} claimed"
    else:
        settled = states.get("in_review", 0) == len(owners) and states.get("new", 0) == cases - len(
            owners
        )
        settled_text = (
            f"{states.get('in_review', 0):,} claimed once, {states.get('new', 0):,} in the queue"
        )
    back = (
        sum(1 for status in orphan_states.values() if status == "new") if duration else len(orphans)
    )
    out.row(
        load,
        kill_note,
        "every case claimed once, or back in the queue after its lease",
        settled
        and returned == len(orphans)
        and expired_events == len(orphans)
        and back == len(orphans),
        f"{settled_text}; {len(orphans)} unheard claims expired back "
        f"({expired_events} expiry events)" + ("" if duration else " and claimed again"),
    )
    out.row(
        load,
        kill_note,
        "every claim has exactly one timeline event",
        claimed_events == expected_events and history == expected_events,
        f"{claimed_events:,} CASE_CLAIMED events and {history:,} history rows "
        f"for {expected_events:,} claims",
    )
    return out


# --- 6. Concurrent edits -------------------------------------------------------------------------


def concurrent_edits(stack: Stack, *, clients: int = 20, rounds: int = 5) -> Outcome:
    """``clients`` threads PATCH the same case at the same version, ``rounds`` times on fresh
    cases; and as many decide one case at the same version."""
    import http.client

    out = Outcome("6. concurrent edits")
    db = stack.database("rel_edits")
    log(f"concurrent edits: {clients} clients × {rounds} cases")
    seeded = stack.seed(
        db,
        [
            {"op": "members", "seniors": clients},
            {"op": "claim_queue", "cases": 2 * rounds, "prefix": "edit"},
        ],
    )
    seniors = seeded[0]["seniors"]
    web = stack.web(db, workers=4, threads=8)
    case_ids = [row[0] for row in db.rows("SELECT id FROM cases_case ORDER BY id")]

    def storm(method: str, path_of, body_of) -> list[list[int]]:
        results: list[list[int]] = []
        for case_id in case_ids[:rounds] if method == "PATCH" else case_ids[rounds:]:
            barrier = threading.Barrier(clients)
            statuses: list[int] = []
            lock = threading.Lock()

            def one(i, case_id=case_id, barrier=barrier, statuses=statuses, lock=lock):
                conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=60)
                headers = {
                    "Authorization": f"Bearer {seniors[i]['key']}",
                    "Content-Type": "application/json",
                }
                body = json.dumps(body_of(i))
                conn.connect()
                barrier.wait()
                try:
                    conn.request(method, path_of(case_id), body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except OSError:
                    status = 0
                finally:
                    conn.close()
                with lock:
                    statuses.append(status)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            results.append(statuses)
        return results

    edits = storm(
        "PATCH",
        lambda case_id: f"/api/v1/cases/{case_id}",
        lambda i: {"version": 1, "tags": [f"t{i}"]},
    )
    decisions = storm(
        "POST",
        lambda case_id: f"/api/v1/cases/{case_id}/decision",
        lambda i: {
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "rationale": f"client {i}",
            "version": 1,
            "actions": [{"type": "remove_content"}],
        },
    )
    edited, decided = case_ids[:rounds], case_ids[rounds:]
    edit_ok = all(sorted(Counter(s).items()) == [(200, 1), (409, clients - 1)] for s in edits)
    tagged = dict(
        db.rows(
            "SELECT case_id, count(*) FROM cases_caseevent WHERE kind = 'CASE_TAGGED' "
            "AND case_id = ANY(%s) GROUP BY case_id",
            [edited],
        )
    )
    edit_history = dict(
        db.rows(
            "SELECT id, count(*) FROM cases_historicalcase WHERE id = ANY(%s) "
            "AND history_change_reason LIKE 'edited%%' GROUP BY id",
            [edited],
        )
    )
    versions = dict(db.rows("SELECT id, version FROM cases_case WHERE id = ANY(%s)", [edited]))
    one_change = all(
        tagged.get(c) == 1 and edit_history.get(c) == 1 and versions[c] == 2 for c in edited
    )
    decide_ok = all(sorted(Counter(s).items()) == [(201, 1), (409, clients - 1)] for s in decisions)
    made = dict(
        db.rows(
            "SELECT case_id, count(*) FROM enforcement_decision WHERE case_id = ANY(%s) "
            "GROUP BY case_id",
            [decided],
        )
    )
    events = dict(
        db.rows(
            "SELECT (payload->>'case_id')::bigint, count(*) FROM enforcement_outboxevent "
            "WHERE event_type = 'decision.made' AND (payload->>'case_id')::bigint = ANY(%s) "
            "GROUP BY 1",
            [decided],
        )
    )
    one_decision = all(made.get(c) == 1 and events.get(c) == 1 for c in decided)
    load = f"{clients} clients × {rounds} cases, same version at once"
    tally = Counter(s for statuses in edits for s in statuses)
    out.row(
        load,
        "—",
        "edits: one 200, the rest 409; history shows one change",
        edit_ok and one_change,
        f"answers {dict(sorted(tally.items()))}; per case "
        f"{sorted(set(tagged.values()))} tag events, {sorted(set(edit_history.values()))} "
        f"history rows, versions {sorted(set(versions.values()))}",
    )
    tally = Counter(s for statuses in decisions for s in statuses)
    out.row(
        load,
        "—",
        "decisions: one 201, the rest 409; one decision and one event",
        decide_ok and one_decision,
        f"answers {dict(sorted(tally.items()))}; per case {sorted(set(made.values()))} "
        f"decisions, {sorted(set(events.values()))} decision.made events",
    )
    stack.forget(web.proc)
    return out


# --- 2. Duplicate ingestion storm ----------------------------------------------------------------


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _read_answers(path: Path) -> tuple[list[dict], Counter]:
    """The request lines of an ingest client's file, and the count of each answer status."""
    requests, statuses = [], Counter()
    for line in _lines(path):
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a line cut short by SIGKILL
        requests.append(item)
        statuses[item["status"]] += 1
    return requests, statuses


def _pg_log_count(stack: Stack, offset: int, needle: str) -> int:
    return stack.pg_log()[offset:].count(needle)


INGEST_CHECKS = {
    "reports": """
        SELECT count(*), count(DISTINCT (source, external_id)) FROM cases_report
        WHERE external_id LIKE %(like)s
    """,
    "cases": """
        SELECT count(*) FILTER (WHERE NOT (c.status = 'resolved')),
               count(DISTINCT c.subject_id) FILTER (WHERE NOT (c.status = 'resolved')),
               count(*)
        FROM cases_case c JOIN cases_subject s ON s.id = c.subject_id
        WHERE s.external_id LIKE %(subject_like)s
    """,
    "subjects": "SELECT count(*) FROM cases_subject WHERE external_id LIKE %(subject_like)s",
    "counts": """
        SELECT count(*) FROM cases_case c JOIN cases_subject s ON s.id = c.subject_id
        LEFT JOIN LATERAL (
            SELECT count(*) AS n,
                   count(*) FILTER (WHERE r.source = 'automated_flag') AS a
            FROM cases_report r WHERE r.case_id = c.id
        ) r ON true
        WHERE s.external_id LIKE %(subject_like)s
          AND (c.report_count <> r.n OR c.automated_count <> r.a
               OR c.human_count <> r.n - r.a)
    """,
}


def duplicate_ingestion(
    stack: Stack,
    *,
    reports: int,
    subjects: int,
    batch: int = 500,
    single_every: int = 20,
    threads: int = 4,
    web_workers: int = 4,
    web_threads: int = 4,
    prefix: str = "dup",
) -> Outcome:
    """Two client processes each send every one of ``reports`` reports (over ``subjects``
    subjects), at the same time: client A sends one report in ``single_every`` as a single
    request and the rest in bulk batches in key order; client B sends all of them in bulk
    batches shifted by half a batch (so A's and B's batches overlap) with the keys of each
    batch shuffled."""
    out = Outcome("2. duplicate ingestion")
    db = stack.database("rel_ingest")
    log(f"duplicate ingestion: {reports:,} reports over {subjects:,} subjects, each sent twice")
    platform = stack.seed(db, [{"op": "members", "platform": True}])[0]["platform"]
    web = stack.web(db, workers=web_workers, threads=web_threads)
    rng = random.Random(2)
    numbers = list(range(reports))
    singles = [n for n in numbers if n % single_every == 0]
    bulk_a = _chunks([n for n in numbers if n % single_every != 0], batch)
    plan_a: list[dict] = []
    per_batch = max(1, len(singles) // max(1, len(bulk_a)))
    single_iter = iter(singles)
    for chunk in bulk_a:
        plan_a.append({"kind": "bulk", "n": chunk})
        for _ in range(per_batch):
            n = next(single_iter, None)
            if n is not None:
                plan_a.append({"kind": "single", "n": [n]})
    plan_a.extend({"kind": "single", "n": [n]} for n in single_iter)
    half = batch // 2
    plan_b = [{"kind": "bulk", "n": numbers[:half]}] + [
        {"kind": "bulk", "n": chunk} for chunk in _chunks(numbers[half:], batch)
    ]
    for item in plan_b:
        rng.shuffle(item["n"])
    folder = stack.base / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    procs = []
    files = {}
    for name, plan in (("A", plan_a), ("B", plan_b)):
        plan_file = folder / f"plan-{name}.json"
        plan_file.write_text(json.dumps({"subjects": subjects, "prefix": prefix, "requests": plan}))
        files[name] = folder / f"client-{name}.txt"
        files[name].unlink(missing_ok=True)
        procs.append(
            stack.client(
                f"ingest-{name}",
                [
                    "ingest",
                    "--port",
                    str(web.port),
                    "--key",
                    platform["key"],
                    "--plan",
                    str(plan_file),
                    "--out",
                    str(files[name]),
                    "--threads",
                    str(threads),
                ],
            )  # fmt: skip
        )
    log_offset = len(stack.pg_log())
    started = time.monotonic()
    last = started
    while any(p.alive() for p in procs):
        if time.monotonic() - last > 10:
            done = db.value(
                "SELECT count(*) FROM cases_report WHERE external_id LIKE %s", [f"{prefix}-r-%"]
            )
            log(f"  {done:,}/{reports:,} reports stored ({time.monotonic() - started:.0f} s)")
            last = time.monotonic()
        time.sleep(0.5)
    seconds = time.monotonic() - started
    deadlocks = _pg_log_count(stack, log_offset, "deadlock detected")
    serialization = _pg_log_count(stack, log_offset, "could not serialize")
    log(f"  sent in {seconds:.0f} s ({2 * reports / seconds:,.0f} reports/s)")

    answers: dict[int, list[tuple[int, int | None, int | None]]] = {}
    request_statuses: Counter = Counter()
    item_statuses: Counter = Counter()
    for name in ("A", "B"):
        lines, statuses = _read_answers(files[name])
        request_statuses.update(statuses)
        for line in lines:
            for n, status, report_id, case_id in line["answers"]:
                item_statuses[status] += 1
                answers.setdefault(n, []).append((status, report_id, case_id))
    like = {"like": f"{prefix}-r-%", "subject_like": f"{prefix}-post-%"}
    rows, keys = db.rows(INGEST_CHECKS["reports"], like)[0]
    open_cases, open_subjects, all_cases = db.rows(INGEST_CHECKS["cases"], like)[0]
    stored_subjects = db.value(INGEST_CHECKS["subjects"], like)
    wrong_counts = db.value(INGEST_CHECKS["counts"], like)
    stored = dict(
        db.rows(
            "SELECT external_id, id FROM cases_report WHERE external_id LIKE %s", [like["like"]]
        )
    )
    case_of = dict(
        db.rows("SELECT id, case_id FROM cases_report WHERE external_id LIKE %s", [like["like"]])
    )
    answered_twice = sum(1 for n in numbers if len(answers.get(n, [])) == 2)
    created_once = sum(1 for n in numbers if [a[0] for a in answers.get(n, [])].count(201) == 1)
    mismatched = sum(
        1
        for n in numbers
        for status, report_id, case_id in answers.get(n, [])
        if report_id != stored.get(f"{prefix}-r-{n}") or case_id != case_of.get(report_id)
    )
    server_errors = sum(v for k, v in request_statuses.items() if k >= 500 or k == 0)
    load = (
        f"{reports:,} reports / {subjects:,} subjects, each sent twice by 2 clients × "
        f"{threads} threads ({len(singles):,} as singles vs bulk, bulk {batch} overlapping by "
        f"{half}) in {seconds:.0f} s"
    )
    faults = "duplicates racing each other"
    out.figures.update(
        seconds=seconds,
        request_statuses=dict(request_statuses),
        item_statuses=dict(item_statuses),
        deadlocks=deadlocks,
        serialization_failures=serialization,
        rows=rows,
        open_cases=open_cases,
    )
    out.row(
        load,
        faults,
        "exactly one report row per key",
        rows == keys == reports,
        f"{rows:,} rows, {keys:,} keys for {reports:,} reports",
    )
    out.row(
        load,
        faults,
        "exactly one open case per subject",
        open_cases == open_subjects == stored_subjects == subjects == all_cases,
        f"{open_cases:,} open cases for {open_subjects:,} subjects of {subjects:,}",
    )
    out.row(
        load,
        faults,
        "report counts exact; each sender told the same report and case",
        wrong_counts == 0
        and mismatched == 0
        and answered_twice == reports
        and created_once == reports,
        f"{wrong_counts} cases with wrong counts, {answered_twice:,}/{reports:,} answered to "
        f"both senders, {created_once:,} created once (201) and repeated (200), "
        f"{mismatched} answers naming another row",
    )
    out.row(
        load,
        faults,
        "no 5xx, no deadlock errors",
        server_errors == 0 and deadlocks == 0 and set(item_statuses) <= {200, 201},
        f"requests {dict(sorted(request_statuses.items()))}; {deadlocks} deadlocks and "
        f"{serialization} serialization failures in the PostgreSQL log",
    )
    stack.forget(web.proc)
    return out


# --- 3. Redis outage -----------------------------------------------------------------------------


def _window_stats(lines: list[dict], start: float, end: float) -> tuple[int, int, float]:
    """(requests, 2xx, slowest seconds) among requests that were in flight during [start, end]."""
    inside = [line for line in lines if line["t"] >= start and line["t"] - line["ms"] / 1000 <= end]
    ok = sum(1 for line in inside if 200 <= line["status"] < 300)
    slowest = max((line["ms"] / 1000 for line in inside), default=0.0)
    return len(inside), ok, slowest


def _delivery_state(db: Database) -> tuple[int, int, dict]:
    events = db.value("SELECT count(*) FROM enforcement_outboxevent")
    unfanned = db.value("SELECT count(*) FROM enforcement_outboxevent WHERE fanned_out_at IS NULL")
    deliveries = dict(
        db.rows("SELECT status, count(*) FROM enforcement_webhookdelivery GROUP BY status")
    )
    return events, unfanned, deliveries


def _exactly_once(db: Database, receiver) -> tuple[int, int, int, int]:
    """(events, acknowledged ids, ids acknowledged more than once, events never acknowledged)."""
    ids = {str(row[0]) for row in db.rows("SELECT id FROM enforcement_outboxevent")}
    acked = Counter(receiver.acknowledged())
    twice = sum(1 for count in acked.values() if count > 1)
    return len(ids), len(acked), twice, len(ids - set(acked))


# One cache timeout and one broker timeout (a second each, tsops.cache / tsops.broker), and
# some slack: a request blocked on the broker used to take 5 s (kombu's socket timeout) or
# 30 s (the cache had none: gunicorn killed the worker).
SLOWEST_ALLOWED = 3.0


def redis_outage(
    stack: Stack,
    *,
    outage: float,
    freeze: float,
    decide_cases: int,
    sla_cases: int = 200,
    warm: float = 10,
    between: float = 10,
    after: float = 20,
    beat_scale: float = 1,
    catch_up: float = 300,
    ingest_threads: int = 2,
    decide_threads: int = 2,
    web_workers: int = 4,
) -> Outcome:
    """Ingestion and decisions run while Redis is stopped for ``outage`` seconds and then
    frozen (SIGSTOP: connections accepted, nothing answered) for ``freeze`` seconds. A local
    receiver takes the webhooks; some cases' first-action deadlines fall inside the outage."""
    out = Outcome("3. Redis outage")
    db = stack.database("rel_redis")
    log(f"Redis outage: stopped {outage:.0f} s, frozen {freeze:.0f} s, under load")
    receiver = stack.receiver()
    seeded = stack.seed(
        db,
        [
            {"op": "members", "seniors": 1, "platform": True},
            {"op": "endpoint", "url": receiver.url, "secret": receiver.secret},
            {"op": "intake", "reports": decide_cases, "subjects": decide_cases, "prefix": "rd"},
            {"op": "intake", "reports": sla_cases, "subjects": sla_cases, "prefix": "rs"},
            {"op": "open_cases", "prefix": "rd"},
            {"op": "open_cases", "prefix": "rs"},
        ],
    )
    people, to_decide = seeded[0], seeded[4]
    sla_ids = [row[0] for row in seeded[5]]
    web = stack.web(db, workers=web_workers, threads=4)
    worker = stack.worker(db, concurrency=2)
    beat = stack.beat(db, scale=beat_scale)
    total = warm + outage + between + freeze + after
    folder = stack.base / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    plan = [
        {"kind": "single", "n": [i]}
        if i % 2
        else {"kind": "bulk", "n": list(range(i * 20, i * 20 + 20))}
        for i in range(1, 200_000)
    ]
    # Bulk numbers and single numbers never meet: singles take odd i, bulk ranges even i * 20.
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps({"subjects": 5000, "prefix": "ro", "requests": plan}))
    cases_file = folder / "decide.json"
    cases_file.write_text(json.dumps(to_decide))
    ingest_out, decide_out = folder / "ingest.txt", folder / "decide.txt"
    for path in (ingest_out, decide_out):
        path.unlink(missing_ok=True)
    # Decisions spread over the whole run (and then some: the phases take longer than planned).
    pause = max(0.0, 1.5 * total * decide_threads / max(1, len(to_decide)) - 0.05)
    stop_file = folder / "stop"
    stop_file.unlink(missing_ok=True)
    clients = [
        stack.client(
            "outage-ingest",
            ["ingest", "--port", str(web.port), "--key", people["platform"]["key"], "--plan",
             str(plan_file), "--out", str(ingest_out), "--threads", str(ingest_threads),
             "--pause", "0.05", "--stop-file", str(stop_file)],
        ),
        stack.client(
            "outage-decide",
            ["decide", "--port", str(web.port), "--key", people["seniors"][0]["key"],
             "--cases", str(cases_file), "--out", str(decide_out), "--threads",
             str(decide_threads), "--pause", f"{pause:.3f}", "--stop-file", str(stop_file)],
        ),
    ]  # fmt: skip
    load_started = time.time()
    time.sleep(warm)
    # These cases' first action falls due in the middle of the outage: no worker can be told.
    db.execute(
        "UPDATE cases_case SET first_action_due = now() + %s * interval '1 second' "
        "WHERE id = ANY(%s)",
        [outage / 2, sla_ids],
    )
    log("  stopping Redis")
    t_stop = time.time()
    stack.redis_stop()
    time.sleep(outage)
    stack.redis_start()
    t_start = time.time()
    log("  Redis is back")
    time.sleep(between)
    t_freeze = time.time()
    if freeze:
        log("  freezing Redis (SIGSTOP)")
        stack.redis_freeze()
        time.sleep(freeze)
        stack.redis_thaw()
        log("  Redis thawed")
    t_thaw = time.time()
    time.sleep(after)
    stop_file.touch()
    _wait_procs(clients, 600, "the outage clients")
    load_seconds = time.time() - load_started
    log("  load over; waiting for the outbox and the SLA sweep to catch up")
    breached_sql = (
        "SELECT count(*) FROM cases_case WHERE id = ANY(%s) AND first_action_breached_at "
        "IS NOT NULL"
    )

    def caught_up() -> bool:
        events, unfanned, deliveries = _delivery_state(db)
        _, acked, _, missing = _exactly_once(db, receiver)
        undelivered = sum(v for k, v in deliveries.items() if k != "delivered")
        return (
            unfanned == 0
            and undelivered == 0
            and missing == 0
            and db.value(breached_sql, [sla_ids]) == len(sla_ids)
        )

    try:
        catch_seconds = wait_until(caught_up, catch_up, "catching up", interval=2)
    except TimeoutError:
        catch_seconds = None
    time.sleep(2)  # anything sent twice would arrive now
    requests = []
    for path in (ingest_out, decide_out):
        requests.extend(_read_answers(path)[0])
    statuses = Counter(line["status"] for line in requests)
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    ratio = ok / max(1, len(requests))
    n_out, ok_out, slow_out = _window_stats(requests, t_stop, t_start)
    n_frz, ok_frz, slow_frz = _window_stats(requests, t_freeze, t_thaw)
    slowest = max((line["ms"] / 1000 for line in requests), default=0.0)
    # A busy machine slows every request: the limit is the broker's share on top of the
    # 99th percentile of requests that met no fault.
    calm = sorted(
        line["ms"] / 1000
        for line in requests
        if line["t"] < t_stop or line["t"] - line["ms"] / 1000 > t_thaw
    ) or [0.0]
    limit = SLOWEST_ALLOWED + calm[int(0.99 * (len(calm) - 1))]
    events, acked, twice, missing = _exactly_once(db, receiver)
    _, unfanned, deliveries = _delivery_state(db)
    breached = db.value(breached_sql, [sla_ids])
    sla_events = db.value(
        "SELECT count(*) FROM cases_caseevent WHERE kind = 'CASE_SLA_BREACHED' "
        "AND case_id = ANY(%s) AND data->>'deadline' = 'first_action'",
        [sla_ids],
    )
    decisions = sum(1 for line in _read_answers(decide_out)[0] if line["status"] == 201)
    load = (
        f"ingestion (singles + bulk 20) and {decisions:,} decisions, {len(requests):,} requests "
        f"over {load_seconds:.0f} s"
    )
    faults = f"Redis stopped {outage:.0f} s, then frozen (SIGSTOP) {freeze:.0f} s"
    out.figures.update(
        statuses=dict(statuses),
        ratio=ratio,
        slowest=slowest,
        outage=(n_out, ok_out, slow_out),
        freeze=(n_frz, ok_frz, slow_frz),
        events=events,
        acked=acked,
        twice=twice,
        missing=missing,
        deliveries=deliveries,
        catch_up_seconds=catch_seconds,
        worker_alive=worker.alive(),
        beat_alive=beat.alive(),
    )
    out.row(
        load,
        faults,
        "≥ 99.9% of ingestion and decision requests 2xx",
        ratio >= 0.999,
        f"{ratio:.3%} 2xx ({dict(sorted(statuses.items()))}); while stopped {ok_out}/{n_out}, "
        f"while frozen {ok_frz}/{n_frz}",
    )
    out.row(
        load,
        faults,
        "no request blocks on the broker",
        slowest < limit and worker.alive() and beat.alive(),
        f"slowest {slowest:.2f} s, limit {limit:.1f} s = {SLOWEST_ALLOWED:.0f} s + p99 without "
        f"faults (stopped: {slow_out:.2f} s, frozen: {slow_frz:.2f} s); "
        f"worker {'alive' if worker.alive() else 'DEAD'}, "
        f"beat {'alive' if beat.alive() else 'DEAD'}",
    )
    out.row(
        load,
        faults,
        "afterwards every outbox event delivered exactly once by event id",
        missing == 0 and twice == 0 and unfanned == 0 and set(deliveries) <= {"delivered"},
        f"{events:,} events, {acked:,} ids acknowledged, {twice} twice, {missing} never; "
        f"deliveries {deliveries}"
        + (
            f"; caught up {catch_seconds:.0f} s after the load" if catch_seconds is not None else ""
        ),
    )
    out.row(
        load,
        faults,
        "missed SLA sweeps catch up (each breach once)",
        breached == sla_events == len(sla_ids),
        f"{breached}/{len(sla_ids)} first-action breaches marked, {sla_events} breach events",
    )
    receiver.stop()
    for proc in (web.proc, worker, beat):
        stack.forget(proc)
    return out


# --- 5. PostgreSQL restart -----------------------------------------------------------------------


def postgres_restart(
    stack: Stack,
    *,
    down: float = 10,
    crash: bool = True,
    warm: float = 8,
    after: float = 15,
    synchronous_commit: str | None = None,
    threads: int = 4,
    web_workers: int = 4,
) -> Outcome:
    """Ingestion runs while PostgreSQL is stopped (``pg_ctl -m fast``) for ``down`` seconds
    and restarted and, with ``crash``, crashed (``-m immediate``: no shutdown checkpoint) and
    restarted. Web, worker and beat are never restarted. ``synchronous_commit`` sets the
    database's setting (the embedded server runs with ``off``)."""
    out = Outcome("5. PostgreSQL restart")
    db = stack.database("rel_pg")
    if synchronous_commit:
        db.execute(f"ALTER DATABASE rel_pg SET synchronous_commit = {synchronous_commit}")
    log(f"PostgreSQL restart: down {down:.0f} s" + (", then a crash" if crash else ""))
    people = stack.seed(db, [{"op": "members", "platform": True}])[0]
    web = stack.web(db, workers=web_workers, threads=4)
    worker = stack.worker(db, concurrency=2)
    beat = stack.beat(db, scale=10)  # heartbeat every 3 s
    web_pids = sorted(web.workers())
    worker_pids = sorted(worker.children())
    folder = stack.base / "postgres"
    folder.mkdir(parents=True, exist_ok=True)
    plan = [
        {"kind": "single", "n": [i]}
        if i % 2
        else {"kind": "bulk", "n": list(range(i * 10, i * 10 + 10))}
        for i in range(1, 100_000)
    ]
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps({"subjects": 3000, "prefix": "pg", "requests": plan}))
    ingest_out = folder / "ingest.txt"
    ingest_out.unlink(missing_ok=True)
    stop_file = folder / "stop"
    stop_file.unlink(missing_ok=True)
    client = stack.client(
        "pg-ingest",
        ["ingest", "--port", str(web.port), "--key", people["platform"]["key"], "--plan",
         str(plan_file), "--out", str(ingest_out), "--threads", str(threads), "--pause", "0.02",
         "--stop-file", str(stop_file)],
    )  # fmt: skip
    time.sleep(warm)
    windows = []
    log("  stopping PostgreSQL (fast)")
    t0 = time.time()
    stack.pg_stop("fast")
    time.sleep(down)
    stack.pg_start()
    windows.append(("restart", t0, time.time()))
    log("  PostgreSQL is back")
    time.sleep(after)
    if crash:
        log("  crashing PostgreSQL (immediate)")
        t0 = time.time()
        stack.pg_stop("immediate")
        time.sleep(3)
        stack.pg_start()
        windows.append(("crash", t0, time.time()))
        log("  PostgreSQL is back")
        time.sleep(after)
    stop_file.touch()
    _wait_procs([client], 300, "the ingestion client")
    lines = _read_answers(ingest_out)[0]
    statuses = Counter(line["status"] for line in lines)
    slowest = max((line["ms"] / 1000 for line in lines), default=0.0)

    def in_window(line) -> bool:
        begun = line["t"] - line["ms"] / 1000
        return any(line["t"] >= start and begun <= end for _, start, end in windows)

    flags = [in_window(line) for line in lines]
    calm = sorted(
        line["ms"] / 1000 for line, inside in zip(lines, flags, strict=True) if not inside
    ) or [0.0]
    limit = 5 + calm[int(0.99 * (len(calm) - 1))]
    failed = Counter(
        line["status"]
        for line, inside in zip(lines, flags, strict=True)
        if inside and not 200 <= line["status"] < 300
    )
    outside_failed = Counter(
        line["status"]
        for line, inside in zip(lines, flags, strict=True)
        if not inside and not 200 <= line["status"] < 300
    )
    recovery = []
    for _, _start, end in windows:
        later = [line for line in lines if line["t"] - line["ms"] / 1000 > end]
        first_ok = min((line["t"] for line in later if 200 <= line["status"] < 300), default=None)
        recovery.append(None if first_ok is None else first_ok - end)
    # Every report whose request was answered 2xx must be there, with the id it was told.
    acknowledged = {
        f"pg-r-{n}": report_id
        for line in lines
        if 200 <= line["status"] < 300
        for n, status, report_id, _case in line["answers"]
    }
    stored = dict(
        db.rows("SELECT external_id, id FROM cases_report WHERE external_id LIKE 'pg-r-%%'")
    )
    lost = [key for key, report_id in acknowledged.items() if stored.get(key) != report_id]
    heartbeat_after = db.value(
        "SELECT extract(epoch FROM max(last_seen)) FROM tsops_workerheartbeat"
    )
    same_processes = (
        web.proc.alive()
        and sorted(web.workers()) == web_pids
        and worker.alive()
        and sorted(worker.children()) == worker_pids
        and beat.alive()
    )
    setting = synchronous_commit or "off (embedded default)"
    load = f"ingestion (singles + bulk 10), {len(lines):,} requests, synchronous_commit {setting}"
    faults = f"PostgreSQL stopped {down:.0f} s (fast)" + (
        ", then crashed (immediate) 3 s" if crash else ""
    )
    out.figures.update(
        statuses=dict(statuses),
        failed_during=dict(failed),
        failed_outside=dict(outside_failed),
        slowest=slowest,
        recovery=recovery,
        acknowledged=len(acknowledged),
        lost=len(lost),
        lost_examples=lost[:10],
    )
    out.row(
        load,
        faults,
        "requests during the outage fail cleanly with 503, none hangs",
        set(failed) <= {503} and not outside_failed and slowest < limit,
        f"failed while down: {dict(sorted(failed.items()))}, elsewhere "
        f"{dict(sorted(outside_failed.items()))}; slowest {slowest:.2f} s (limit {limit:.1f} s "
        "= 5 s connect timeout + p99 without faults)",
    )
    recovered = all(r is not None and r < 10 for r in recovery)
    beat_ok = heartbeat_after is not None and heartbeat_after > windows[-1][2]
    out.row(
        load,
        faults,
        "web and worker recover without a restart of their own",
        recovered and same_processes and beat_ok,
        "first 2xx "
        + ", ".join("never" if r is None else f"{r:.1f} s" for r in recovery)
        + " after PostgreSQL was back; web master, workers, Celery children and beat "
        + ("the same processes" if same_processes else "RESTARTED OR DEAD")
        + ("; worker heartbeat recorded after" if beat_ok else "; NO worker heartbeat after"),
    )
    out.row(
        load,
        faults,
        "no acknowledged write lost",
        not lost and len(acknowledged) > 0,
        f"{len(acknowledged):,} acknowledged reports, {len(lost)} missing or different",
    )
    for proc in (client, web.proc, worker, beat):
        stack.forget(proc)
    return out


# --- 4. Worker killed ---------------------------------------------------------------------------

# Every timestamp of a case and of what hangs off it moves back by the same number of hours
# (case id modulo the history), so that the rollups have ``days`` of history to recompute.
BACKDATE = [
    "UPDATE cases_case SET created_at = created_at - {shift}, updated_at = updated_at - {shift}, "
    "first_action_at = first_action_at - {shift}, resolved_at = resolved_at - {shift}, "
    "first_action_due = first_action_due - {shift}, resolve_due = resolve_due - {shift}",
    "UPDATE cases_report r SET received_at = r.received_at - {shift}, "
    "created_at = r.created_at - {shift} FROM cases_case c WHERE c.id = r.case_id",
    "UPDATE cases_caseevent e SET at = e.at - {shift} FROM cases_case c WHERE c.id = e.case_id",
    "UPDATE enforcement_decision d SET created_at = d.created_at - {shift} "
    "FROM cases_case c WHERE c.id = d.case_id",
    "UPDATE enforcement_enforcementaction a SET starts_at = a.starts_at - {shift}, "
    "decided_at = a.decided_at - {shift}, created_at = a.created_at - {shift}, "
    "expires_at = now() + interval '1 day' FROM cases_case c WHERE c.id = a.case_id",
]


def _snapshot(db: Database, tables: list[str]) -> Counter:
    rows: Counter = Counter()
    for table in tables:
        for (row,) in db.rows(f"SELECT (to_jsonb(t) - 'id')::text FROM {table} t"):  # noqa: S608
            rows[(table, row)] += 1
    return rows


def _wait_for_transaction(db: Database, pattern: str, timeout: float) -> bool:
    """Wait until another session is inside a transaction running a statement like
    ``pattern``; True if one was seen."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND query ILIKE %s"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.value(sql, [pattern]):
            return True
        time.sleep(0.02)
    return False


# WEBHOOK_SEND_CONCURRENCY's default (enforcement.outbox.send_concurrency).
WEBHOOK_CONCURRENCY = 8


def worker_killed(
    stack: Stack,
    *,
    reports: int,
    actions: int,
    history_days: int = 30,
    fast_forward_locks: bool = False,
    beat_scale: float = 10,
    receiver_delay_ms: int = 20,
) -> Outcome:
    """A Celery worker (with its pool children) is SIGKILLed in the middle of a rollup run,
    of the expiry of due actions, and of webhook deliveries, and started again. A local
    receiver acknowledges every webhook. With ``fast_forward_locks`` the 60-second claim of
    the deliveries the dead worker was sending is run out at once (the tests' clock) instead
    of waited for."""
    out = Outcome("4. worker killed")
    db = stack.database("rel_worker")
    log(f"worker killed: {reports:,} reports, {actions:,} temporary actions, {history_days} days")
    receiver = stack.receiver(delay_ms=receiver_delay_ms)
    seeded = stack.seed(
        db,
        [
            {"op": "members", "seniors": 1, "platform": True},
            {"op": "endpoint", "url": receiver.url, "secret": receiver.secret},
            {"op": "intake", "reports": reports, "subjects": max(1, reports // 2), "prefix": "wk"},
            {"op": "decide_temporary", "count": actions, "prefix": "wk", "hours": 24},
            {"op": "rollup_tables"},
            # The next incremental run redoes every day of the history to come.
            {"op": "rollup_watermark", "days": history_days + 1},
        ],
    )
    action_ids, tables = seeded[3], seeded[4]
    shift = f"((c.id % {history_days * 24}) * interval '1 hour')"
    conn = db.connect()
    try:
        with conn.cursor() as cursor:
            # Decisions are immutable (a trigger): back-dating the fixtures is not a change.
            cursor.execute("SET session_replication_role = replica")
            for statement in BACKDATE:
                own = "cases_case SET" in statement
                cursor.execute(
                    statement.format(shift=shift.replace("c.id", "id") if own else shift)
                )
    finally:
        conn.close()
    events_before = db.value("SELECT count(*) FROM enforcement_outboxevent")
    log(f"  {events_before:,} outbox events waiting; starting the worker")
    worker = stack.worker(db, concurrency=2, name="worker-killed")
    kills: list[str] = []

    # C. Webhook delivery: the decisions' events go out as soon as the worker is up (their
    # on-commit kicks wait in Redis); kill it once a third of them are acknowledged.
    target = max(1, events_before // 3)
    try:
        wait_until(lambda: len(receiver.acknowledged()) >= target, 300, "deliveries", 0.02)
        sending = db.value(
            "SELECT count(*) FROM enforcement_webhookdelivery WHERE status = 'sending'"
        )
        worker.kill(signal.SIGKILL)
        acked_at_kill = len(receiver.acknowledged())
        kills.append(f"mid-delivery ({acked_at_kill:,} acknowledged, {sending} being sent)")
        log(f"  SIGKILLed the worker during delivery ({acked_at_kill:,} acknowledged)")
    except TimeoutError:
        kills.append("(deliveries stalled before the kill)")
        worker.kill(signal.SIGKILL)

    def run_out_claims() -> None:
        if fast_forward_locks:
            # The dead worker's claim on what it was sending runs out (60 s) at once.
            db.execute(
                "UPDATE enforcement_webhookdelivery SET locked_until = now() "
                "WHERE status = 'sending'"
            )

    run_out_claims()
    stack.restart_worker(worker)

    # A. Rollups.
    stack.send_task("metrics.tasks.rollup_incremental")
    mid_rollup = _wait_for_transaction(db, "%metrics_%", 300)
    time.sleep(random.uniform(0.2, 0.8))
    mid_rollup = mid_rollup and bool(
        db.value(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND query ILIKE '%%metrics_%%'"
        )
    )
    worker.kill(signal.SIGKILL)
    killed_at = db.value("SELECT now()")
    kills.append(f"mid-rollup{'' if mid_rollup else ' (not caught in a transaction)'}")
    log("  SIGKILLed the worker during the rollup")
    run_out_claims()
    stack.restart_worker(worker)
    stack.send_task("metrics.tasks.rollup_incremental")
    wait_until(
        lambda: db.value(
            "SELECT count(*) FROM metrics_rollupstate WHERE name = 'incremental' "
            "AND last_run_at > %s",
            [killed_at],
        ),
        600,
        "the rollup after the restart",
    )
    incremental = _snapshot(db, tables)
    stack.seed(db, [{"op": "rollup_rebuild", "days": history_days + 1}])
    rebuilt = _snapshot(db, tables)
    differing = sum(((incremental - rebuilt) + (rebuilt - incremental)).values())
    log(f"  rollups: {sum(incremental.values()):,} rows after the restart, {differing} differ")

    # B. Action expiry, with beat from now on.
    db.execute(
        "UPDATE enforcement_enforcementaction SET expires_at = now() - interval '1 minute' "
        "WHERE id = ANY(%s)",
        [action_ids],
    )
    stack.send_task("enforcement.tasks.actions_expire_due")
    mid_expiry = _wait_for_transaction(db, "%enforcement_%", 120)
    worker.kill(signal.SIGKILL)
    kills.append(f"mid-expiry{'' if mid_expiry else ' (not caught in a transaction)'}")
    log("  SIGKILLed the worker during action expiry")
    run_out_claims()
    stack.restart_worker(worker)
    beat = stack.beat(db, scale=beat_scale)

    def settled() -> bool:
        due = db.value(
            "SELECT count(*) FROM enforcement_enforcementaction WHERE status = 'active' "
            "AND expires_at <= now()"
        )
        _, unfanned, deliveries = _delivery_state(db)
        undelivered = sum(v for k, v in deliveries.items() if k != "delivered")
        return due == 0 and unfanned == 0 and undelivered == 0

    try:
        settle_seconds = wait_until(settled, 900, "work after the restarts", interval=1)
    except TimeoutError:
        settle_seconds = None
    time.sleep(2)
    expired = db.value(
        "SELECT count(*) FROM enforcement_enforcementaction WHERE id = ANY(%s) "
        "AND status = 'expired'",
        [action_ids],
    )
    expiry_events = dict(
        db.rows(
            "SELECT (data->>'action_id')::bigint, count(*) FROM cases_caseevent "
            "WHERE kind = 'ACTION_EXPIRED' GROUP BY 1"
        )
    )
    expiry_outbox = dict(
        db.rows(
            "SELECT (payload->>'action_id')::bigint, count(*) FROM enforcement_outboxevent "
            "WHERE event_type = 'action.expired' GROUP BY 1"
        )
    )
    expired_twice = sum(1 for n in expiry_events.values() if n > 1) + sum(
        1 for n in expiry_outbox.values() if n > 1
    )
    expired_once = sum(
        1 for a in action_ids if expiry_events.get(a) == 1 and expiry_outbox.get(a) == 1
    )
    events, acked, twice, missing = _exactly_once(db, receiver)
    # A duplicate is excused only if the first copy's acknowledgement never reached the
    # database: the dead worker sent it and was killed before recording the answer.
    recorded_then_resent = db.value(
        "SELECT count(*) FROM enforcement_webhookdelivery d WHERE d.status = 'delivered' "
        "AND (SELECT count(*) FROM enforcement_deliveryattempt a WHERE a.delivery_id = d.id "
        "AND a.status_code BETWEEN 200 AND 299) > 1"
    )
    load = (
        f"{reports:,} reports, {actions:,} decisions with temporary actions, "
        f"{events:,} webhook events, rollups over {history_days} days"
    )
    faults = "worker SIGKILLed " + ", ".join(kills)
    out.figures.update(
        differing=differing,
        rollup_rows=sum(incremental.values()),
        expired=expired,
        expired_twice=expired_twice,
        events=events,
        acked=acked,
        twice=twice,
        missing=missing,
        recorded_then_resent=recorded_then_resent,
        settle_seconds=settle_seconds,
        kills=kills,
    )
    out.row(
        load,
        faults,
        "after restart, rollups equal a clean rebuild",
        differing == 0 and sum(incremental.values()) > 0 and mid_rollup,
        f"{sum(incremental.values()):,} rollup rows, {differing} differ from the rebuild",
    )
    out.row(
        load,
        faults,
        "every due action expires, none twice",
        expired == len(action_ids) == expired_once and expired_twice == 0,
        f"{expired:,}/{len(action_ids):,} expired, {expired_once:,} with exactly one timeline "
        f"event and one action.expired event, {expired_twice} twice",
    )
    # What no sender can avoid: a receiver that answered a request the killed worker never
    # read. Anything beyond the requests in flight at the kills is a window of our own.
    in_flight = WEBHOOK_CONCURRENCY * len(kills)
    out.row(
        load,
        faults,
        "every webhook delivered; no acknowledged event id sent again",
        missing == 0 and recorded_then_resent == 0 and twice <= in_flight,
        f"{events:,} events, {acked:,} acknowledged, {missing} never; {recorded_then_resent} "
        f"re-sent after TSOps recorded the acknowledgement; {twice} answered by the receiver "
        f"to a killed worker before it could record them (at most {in_flight}: "
        f"{WEBHOOK_CONCURRENCY} in flight × {len(kills)} kills)"
        + (f"; settled {settle_seconds:.0f} s after the last kill" if settle_seconds else ""),
    )
    receiver.stop()
    for proc in (worker, beat):
        stack.forget(proc)
    return out


def dispatcher_killed(stack: Stack, *, events: int = 120, kill_after: int = 40) -> Outcome:
    """A dispatcher process delivers ``events`` webhooks; the receiver SIGKILLs it right after
    acknowledging the ``kill_after``-th request, before the answer leaves. Then the claims
    run out (fast-forwarded) and another dispatcher finishes the job."""
    out = Outcome("4. worker killed")
    db = stack.database("rel_dispatch")
    db.execute(
        "INSERT INTO enforcement_outboxevent (id, event_type, payload, created_at) "
        "SELECT gen_random_uuid(), 'decision.made', jsonb_build_object('n', g), "
        "now() + g * interval '1 microsecond' FROM generate_series(1, %s) g",
        [events],
    )
    go = stack.base / "dispatch-go"
    go.unlink(missing_ok=True)
    dispatcher = stack.django_client("dispatcher", db, ["dispatch", "--go", str(go)])
    receiver = stack.receiver(delay_ms=10, kill_pid=dispatcher.pid, kill_after=kill_after)
    stack.seed(db, [{"op": "endpoint", "url": receiver.url, "secret": receiver.secret}])
    go.touch()
    _wait_procs([dispatcher], 120, "the dispatcher")
    killed = dispatcher.popen.returncode == -signal.SIGKILL
    time.sleep(0.5)
    acknowledged = set(receiver.acknowledged())
    recorded = {
        str(row[0])
        for row in db.rows(
            "SELECT event_id FROM enforcement_webhookdelivery WHERE status = 'delivered'"
        )
    }
    unrecorded = len(acknowledged - recorded)
    db.execute(
        "UPDATE enforcement_webhookdelivery SET locked_until = now() WHERE status = 'sending'"
    )
    go.touch()
    finisher = stack.django_client("dispatcher-2", db, ["dispatch", "--go", str(go)])
    _wait_procs([finisher], 120, "the second dispatcher")
    time.sleep(0.5)
    total, acked, twice, missing = _exactly_once(db, receiver)
    resent_after_record = db.value(
        "SELECT count(*) FROM enforcement_webhookdelivery d WHERE (SELECT count(*) FROM "
        "enforcement_deliveryattempt a WHERE a.delivery_id = d.id "
        "AND a.status_code BETWEEN 200 AND 299) > 1"
    )
    out.figures.update(
        killed=killed,
        acknowledged_at_kill=len(acknowledged),
        unrecorded=unrecorded,
        twice=twice,
        missing=missing,
        resent_after_record=resent_after_record,
    )
    out.row(
        f"{events} webhooks, {WEBHOOK_CONCURRENCY} in flight",
        f"dispatcher SIGKILLed after the receiver's {kill_after}th acknowledgement",
        "a dead dispatcher leaves at most its requests in flight unrecorded",
        killed
        and unrecorded <= WEBHOOK_CONCURRENCY
        and missing == 0
        and resent_after_record == 0
        and twice == unrecorded,
        f"{len(acknowledged)} acknowledged at the kill, {unrecorded} of them unrecorded "
        f"(at most {WEBHOOK_CONCURRENCY}) and sent again, {missing} never delivered, "
        f"{resent_after_record} re-sent after a recorded acknowledgement",
    )
    receiver.stop()
    stack.forget(finisher)
    stack.forget(dispatcher)
    return out


def worker_outlives_broker(stack: Stack, *, down: float = 4) -> Outcome:
    """Redis stops while a worker runs a task it has not acknowledged yet (``acks_late``);
    the worker must be there, and work, once Redis is back."""
    out = Outcome("3. Redis outage")
    db = stack.database("rel_broker_loss")
    # Each request takes the receiver 3 s: a dispatch of 16 events (8 at a time) runs 6 s.
    receiver = stack.receiver(delay_ms=3000)
    stack.seed(db, [{"op": "endpoint", "url": receiver.url, "secret": receiver.secret}])
    db.execute(
        "INSERT INTO enforcement_outboxevent (id, event_type, payload, created_at) "
        "SELECT gen_random_uuid(), 'decision.made', '{}'::jsonb, now() "
        "FROM generate_series(1, 16)"
    )
    # Two pool processes: one runs the task, the other leaves the consumer waiting on Redis
    # (BRPOP) when the connection drops, the state in which the worker used to die.
    worker = stack.worker(db, concurrency=2, name="worker-broker-loss")
    stack.send_task("enforcement.tasks.outbox_dispatch")
    # The first answers are in: the task is half-way, unacknowledged (acks_late).
    wait_until(lambda: len(receiver.received()) > 0, 60, "the first deliveries", 0.05)
    running = db.value("SELECT count(*) FROM enforcement_webhookdelivery WHERE status = 'sending'")
    stack.redis_stop()
    time.sleep(down)
    stack.redis_start()
    back = db.value("SELECT now()")
    alive_after_outage = worker.alive()
    stack.send_task("tsops.tasks.worker_heartbeat")
    try:
        wait_until(
            lambda: (
                db.value("SELECT count(*) FROM tsops_workerheartbeat WHERE last_seen > %s", [back])
                > 0
            ),
            90,
            "a task after the outage",
        )
        worked = True
    except TimeoutError:
        worked = False
    out.figures.update(running=running, alive=alive_after_outage, worked=worked)
    out.row(
        "one worker running an unacknowledged task",
        f"Redis stopped {down:.0f} s",
        "the worker outlives the broker and works after it",
        running > 0 and alive_after_outage and worked and worker.alive(),
        f"{running} deliveries in flight at the stop; worker alive after: {alive_after_outage}; "
        f"ran a task after Redis came back: {worked}",
    )
    receiver.stop()
    stack.forget(worker)
    return out
