"""Rules benchmark: ``python -m bench.rules`` (see bench/README.md).

Three figures, each a ratio measured in one run:

- **evaluation**: evaluations per second per core of 50 rules of realistic shape (compiled
  CEL, ``detection.engine.RuleSet``) beside the same conditions written as plain Python
  predicates over the same inputs — target at least 0.25;
- **intake**: reports per second through ``POST /api/v1/reports/bulk`` (batches of 500) with
  those 50 rules active beside the same intake with no rule — target at least 0.8;
- **backtest**: one rule replayed over 30 days of reports (1,000,000 by default), its wall
  time and peak memory — target at most 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time

from bench.__main__ import ROOT, _log, _scratch_database

RESULTS = ROOT / "bench" / "results"
REASONS = ("spam", "scam_fraud", "harassment", "hate_speech", "violent_threat", "other")
DETECTORS = ("spamnet-v3", "classifier-v2", "fingerprint", "")


def rule_specs() -> list[tuple[str, object]]:
    """50 conditions like a team's: reason and detector guards, score thresholds, account
    standing, reporter reputation, text size — each with its plain-Python twin."""
    specs: list[tuple[str, object]] = []
    for i in range(50):
        reason = REASONS[i % len(REASONS)]
        detector = DETECTORS[i % 3]
        score = round(0.5 + (i % 5) / 10, 2)
        age = 3 + i % 30
        kind = i % 5
        if kind == 0:
            specs.append(
                (
                    f'report.reason == "{reason}" && report.score >= {score}',
                    lambda v, r=reason, s=score: v["report.reason"] == r and v["report.score"] >= s,
                )
            )
        elif kind == 1:
            specs.append(
                (
                    f'report.source == "automated_flag" && report.detector == "{detector}" && '
                    f"report.score >= {score} && account.age_days < {age}",
                    lambda v, d=detector, s=score, a=age: (
                        v["report.source"] == "automated_flag"
                        and v["report.detector"] == d
                        and v["report.score"] >= s
                        and v["account.age_days"] < a
                    ),
                )
            )
        elif kind == 2:
            specs.append(
                (
                    f'report.reason == "{reason}" && (account.strikes >= 2 || '
                    "account.evasion_suspect) && reporter.reputation > 0.6",
                    lambda v, r=reason: (
                        v["report.reason"] == r
                        and (v["account.strikes"] >= 2 or v["account.evasion_suspect"])
                        and v["reporter.reputation"] > 0.6
                    ),
                )
            )
        elif kind == 3:
            specs.append(
                (
                    f'subject.kind == "content" && report.text_length > {100 * (i % 7)} && '
                    f'report.reason in ["{reason}", "spam"] && !reporter.trusted',
                    lambda v, r=reason, n=100 * (i % 7): (
                        v["subject.kind"] == "content"
                        and v["report.text_length"] > n
                        and v["report.reason"] in (r, "spam")
                        and not v["reporter.trusted"]
                    ),
                )
            )
        else:
            specs.append(
                (
                    'account.active_restrictions.exists(r, r == "suspend") && '
                    f'report.reason == "{reason}"',
                    lambda v, r=reason: (
                        any(x == "suspend" for x in v["account.active_restrictions"])
                        and v["report.reason"] == r
                    ),
                )
            )
    return specs


def sample_inputs(count: int, rng: random.Random) -> list[dict]:
    from detection.expressions import default_inputs

    base = default_inputs()
    inputs = []
    for _ in range(count):
        v = dict(base)
        automated = rng.random() < 0.5
        v.update(
            {
                "report.source": "automated_flag" if automated else "user_report",
                "report.reason": rng.choice(REASONS),
                "report.detector": rng.choice(DETECTORS) if automated else "",
                "report.score": rng.random() if automated else 0.0,
                "report.text_length": rng.randrange(0, 700),
                "subject.kind": rng.choice(("content", "account")),
                "account.known": True,
                "account.age_days": rng.randrange(0, 400),
                "account.strikes": rng.randrange(0, 4),
                "account.evasion_suspect": rng.random() < 0.05,
                "account.active_restrictions": ("suspend",) if rng.random() < 0.1 else (),
                "reporter.reputation": rng.random(),
                "reporter.trusted": rng.random() < 0.05,
            }
        )
        inputs.append(v)
    return inputs


def measure_evaluation(rounds: int = 5) -> dict:
    """Evaluations per second of the compiled rules and of the plain predicates."""
    from detection.expressions import compile_expression

    specs = rule_specs()
    compiled = [compile_expression(source, cost_limit=10**6) for source, _ in specs]
    from detection.engine import Entry

    entries = [Entry(rule=None, version=None, live=True, compiled=c) for c in compiled]
    predicates = [fn for _, fn in specs]
    inputs = sample_inputs(20_000, random.Random(7))
    for v in inputs[:200]:
        assert [e.matches(v) for e in entries] == [p(v) is True for p in predicates]
    best_rules = best_plain = 0.0
    for _ in range(rounds):
        began = time.process_time()
        for v in inputs:
            for entry in entries:
                entry.matches(v)
        rules_rate = len(inputs) * len(entries) / (time.process_time() - began)
        began = time.process_time()
        for v in inputs:
            for predicate in predicates:
                predicate(v)
        plain_rate = len(inputs) * len(predicates) / (time.process_time() - began)
        best_rules, best_plain = max(best_rules, rules_rate), max(best_plain, plain_rate)
    return {
        "rules_per_s": round(best_rules),
        "plain_per_s": round(best_plain),
        "ratio": round(best_rules / best_plain, 3),
        "target": ">= 0.25",
    }


def _activate_rules(senior, senior2) -> None:
    from detection.services.rules import rule_activate, rule_create

    for i, (source, _) in enumerate(rule_specs()):
        rule = rule_create(
            actor=senior,
            name=f"bench rule {i}",
            expression=source,
            effects=[{"type": "tag", "tag": f"bench-{i}"}],
            position=100 + i,
        )
        rule_activate(actor=senior, rule_id=rule.pk, version=1)


def _bulk(client, prefix: str, batches: int, rng: random.Random) -> float:
    """Seconds to push ``batches`` batches of 500 fresh reports through the bulk API."""
    elapsed = 0.0
    for b in range(batches):
        items = []
        for n in range(500):
            automated = rng.random() < 0.5
            item = {
                "source": "automated_flag" if automated else "user_report",
                "external_id": f"{prefix}-{b}-{n}",
                "reason": rng.choice(REASONS[:4]),
                "reporter_id": "" if automated else f"user-{rng.randrange(20000)}",
                "subject": {
                    "kind": "content",
                    "external_id": f"{prefix}-post-{b}-{n}",
                    "owner_id": f"{prefix}-acct-{rng.randrange(5000)}",
                    "text": "Free followers, click my bio link now " * rng.randrange(1, 6),
                },
            }
            if automated:
                item["detector"] = rng.choice(DETECTORS[:3])
                item["score"] = round(rng.random(), 3)
            items.append(item)
        began = time.perf_counter()
        response = client.post("/api/v1/reports/bulk", {"reports": items}, format="json")
        elapsed += time.perf_counter() - began
        assert response.status_code in (200, 201, 207), response.content[:300]
    return elapsed


class _NoRules:
    """An engine with no rule: intake as it runs before any rule exists."""

    verdicts: dict = {}

    def evaluate(self, items, *, now):
        return self

    def record(self, *, actor, placed, now) -> None:
        return None


def measure_intake(batches: int) -> dict:
    """Batches through the 50 active rules alternate with batches through an engine with no
    rule (swapped between batches, outside the timing), so a noisy machine slows both sides
    alike and the rules stay loaded as they would in a running intake."""
    from rest_framework.test import APIClient

    from cases.routing import register_rule_engine
    from detection.engine import IntakeRules
    from tests.conftest import make_member
    from tsops import roles
    from tsops.services import api_key_create

    platform = make_member("bench_platform", roles.PLATFORM)
    senior = make_member("bench_senior", roles.SENIOR)
    senior2 = make_member("bench_senior2", roles.SENIOR)
    _, secret = api_key_create(user=platform, name="bench", scopes=["reports:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    rng = random.Random(11)
    _activate_rules(senior, senior2)
    rules, no_rules = IntakeRules(), _NoRules()
    _bulk(client, "warm", 1, rng)
    none = with_rules = 0.0
    try:
        for b in range(batches):
            register_rule_engine(no_rules)
            none += _bulk(client, f"plain{b}", 1, rng)
            register_rule_engine(rules)
            with_rules += _bulk(client, f"ruled{b}", 1, rng)
    finally:
        register_rule_engine(rules)
    reports = batches * 500
    return {
        "reports": reports,
        "no_rules_per_s": round(reports / none),
        "fifty_rules_per_s": round(reports / with_rules),
        "ratio": round(none / with_rules, 3),
        "target": ">= 0.8",
    }


def measure_backtest(reports: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from bench.load import load_cases
    from detection.backtest import backtest_run
    from detection.models import Backtest
    from detection.services.backtests import backtest_request
    from detection.services.rules import rule_create
    from tests.conftest import make_member
    from tsops import roles

    _log(f"loading {reports:,} reports over 30 days…")
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cases_case")
        start = cursor.fetchone()[0] + 1
    load_cases(start, start + reports)
    with connection.cursor() as cursor:
        # Spread over the last 30 days, a tenth of them with a detector score.
        cursor.execute(
            "UPDATE cases_report SET received_at = now() - (id %% 43200) * interval '1 minute', "
            "score = CASE WHEN source = 'automated_flag' THEN (id %% 100) / 100.0 END "
            "WHERE external_id LIKE 'bench-%%'",
            [],
        )
        cursor.execute("ANALYZE cases_report")
    senior = make_member("bench_backtester", roles.SENIOR)
    rule = rule_create(
        actor=senior,
        name="bench backtest",
        expression='report.reason == "spam" && report.score >= 0.7',
        effects=[{"type": "tag", "tag": "bench"}],
    )
    now = timezone.now()
    backtest = backtest_request(
        actor=senior,
        rule_id=rule.pk,
        version=1,
        period_from=now - timezone.timedelta(days=30),
        period_to=now,
    )
    began = time.perf_counter()
    backtest_run(backtest.pk)
    seconds = time.perf_counter() - began
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.DONE, backtest.error
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "reports": backtest.results["evaluated"],
        "matches": backtest.results["sides"]["candidate"]["matches"],
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_mib),
        "target": "<= 600 s",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__)
    parser.add_argument("--reports", type=int, default=1_000_000, help="backtest history size")
    parser.add_argument("--batches", type=int, default=20, help="intake batches of 500 each way")
    parser.add_argument("--database", default="tsops_bench_rules")
    parser.add_argument("--only", default="evaluation,intake,backtest")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = _scratch_database(args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    os.environ.setdefault("API_THROTTLE_USER", "100000000/min")
    import django

    django.setup()
    from django.core.management import call_command

    _log("migrating the scratch database…")
    call_command("migrate", verbosity=0)
    parts = [p for p in args.only.split(",") if p]
    figures: dict = {}
    if "evaluation" in parts:
        _log("evaluation…")
        figures["evaluation"] = measure_evaluation()
    if "intake" in parts:
        _log("intake…")
        figures["intake"] = measure_intake(args.batches)
    if "backtest" in parts:
        figures["backtest"] = measure_backtest(args.reports)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rules.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
