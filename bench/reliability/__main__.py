"""``python -m bench.reliability``: the six reliability scenarios of issue 9 at full size, on a
private PostgreSQL and Redis, with the table printed at the end (and written to
``bench/results/reliability.txt`` / ``.json``). See bench/README.md, "Reliability"."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.reliability import scenarios
from bench.reliability.stack import ROOT, Stack, log

RESULTS = ROOT / "bench" / "results"
ORDER = ("claim", "ingest", "redis", "worker", "postgres", "edits")


def run(stack: Stack, name: str, args) -> scenarios.Outcome:
    if name == "claim":
        return scenarios.claim_storm(
            stack,
            cases=args.claim_cases,
            claimers=args.claimers,
            kills=args.claimer_kills,
            worker_kills=args.web_worker_kills,
            mode="http",
            duration=args.claim_seconds,
            kill_every=args.kill_every,
        )
    if name == "ingest":
        return scenarios.duplicate_ingestion(
            stack,
            reports=args.reports,
            subjects=args.subjects,
            batch=args.batch,
            single_every=args.single_every,
            threads=args.ingest_threads,
        )
    if name == "redis":
        return scenarios.redis_outage(
            stack,
            outage=args.redis_outage,
            freeze=args.redis_freeze,
            decide_cases=args.outage_decisions,
            beat_scale=1,
        )
    if name == "worker":
        return scenarios.worker_killed(
            stack,
            reports=args.worker_reports,
            actions=args.worker_actions,
            history_days=args.history_days,
            fast_forward_locks=False,
            beat_scale=args.worker_beat_scale,
        )
    if name == "postgres":
        return scenarios.postgres_restart(
            stack, down=args.pg_down, crash=True, synchronous_commit=args.pg_synchronous_commit
        )
    if name == "edits":
        return scenarios.concurrent_edits(stack, clients=20, rounds=args.edit_rounds)
    raise ValueError(name)


def table(rows: list[scenarios.Row]) -> str:
    headers = ("scenario", "load held", "faults injected", "invariant", "result")
    cells = [(r.scenario, r.load, r.faults, r.invariant, r.result) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) + " |"
        for cell in cells
    ]
    return "\n".join([line, rule, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--only", default=",".join(ORDER), help=f"some of {','.join(ORDER)}")
    parser.add_argument("--base", help="folder for the private servers (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, data)")
    parser.add_argument("--claim-cases", type=int, default=100_000)
    parser.add_argument("--claimers", type=int, default=64)
    parser.add_argument("--claim-seconds", type=float, default=240.0, help="storm length")
    parser.add_argument("--claimer-kills", type=int, default=16)
    parser.add_argument("--web-worker-kills", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills")
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--subjects", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--single-every", type=int, default=20, help="1 report in N as singles")
    parser.add_argument("--ingest-threads", type=int, default=4, help="threads per client")
    parser.add_argument("--redis-outage", type=float, default=60.0, help="seconds stopped")
    parser.add_argument("--redis-freeze", type=float, default=15.0, help="seconds frozen")
    parser.add_argument("--outage-decisions", type=int, default=3000)
    parser.add_argument("--worker-reports", type=int, default=40_000)
    parser.add_argument("--worker-actions", type=int, default=3000)
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--worker-beat-scale", type=float, default=10.0)
    parser.add_argument("--pg-down", type=float, default=10.0)
    parser.add_argument(
        "--pg-synchronous-commit",
        default="on",
        help="the scenario database's setting (on: PostgreSQL's default; the embedded "
        "server runs off, and a crash then loses the last acknowledged writes)",
    )
    parser.add_argument("--edit-rounds", type=int, default=20)
    args = parser.parse_args(argv)

    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(ORDER)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    base = Path(args.base or tempfile.mkdtemp(prefix="tsops-rel-"))
    stack = Stack(base)
    log(f"private PostgreSQL and Redis in {base}")
    stack.start()
    outcomes: list[scenarios.Outcome] = []
    started = time.monotonic()
    try:
        for name in ORDER:
            if name not in names:
                continue
            began = time.monotonic()
            try:
                outcome = run(stack, name, args)
            except Exception as exc:  # noqa: BLE001 - a broken scenario is a failed row
                log(f"{name} broke: {exc!r}")
                outcome = scenarios.Outcome(name)
                outcome.row("—", "—", "the scenario ran to the end", False, repr(exc)[:200])
            outcome.figures["seconds_total"] = round(time.monotonic() - began, 1)
            outcomes.append(outcome)
            verdict = "PASS" if outcome.ok else "FAIL"
            log(f"{outcome.name}: {verdict} in {time.monotonic() - began:.0f} s")
    finally:
        stack.stop()
        if not args.keep and not args.base:
            shutil.rmtree(base, ignore_errors=True)
    rows = [row for outcome in outcomes for row in outcome.rows]
    text = (
        f"TSOps reliability harness — {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{time.monotonic() - started:.0f} s\n\n{table(rows)}\n"
    )
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reliability.txt").write_text(text)
    (RESULTS / "reliability.json").write_text(
        json.dumps(
            [
                {
                    "name": o.name,
                    "ok": o.ok,
                    "figures": o.figures,
                    "rows": [r.__dict__ for r in o.rows],
                }
                for o in outcomes
            ],
            indent=2,
            default=str,
        )
    )
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
