"""What the intake engine does to stay cheap must not change its answers: the rule set's index
on a guarded input, the inputs it skips when no rule reads them, and the hits it writes."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from detection.engine import Entry, RuleSet
from detection.expressions import compile_expression, default_inputs
from detection.inputs import build_inputs
from detection.models import RuleHit
from tests.detection.test_rules_intake import (  # noqa: F401 (fixtures)
    T0,
    _facts,
    decided_account,
    live,
    senior2,
    submit,
)
from tests.factories import SubjectPayloadFactory

pytestmark = pytest.mark.django_db

REASONS = ("spam", "scam_fraud", "harassment", "other")

SOURCES = [
    'report.reason == "spam" && report.score >= 0.5',
    'report.reason in ["spam", "harassment"] && report.text_length > 10',
    "report.score >= 0.9",  # no guard: tried for every report
    'report.source == "automated_flag" && report.reason == "scam_fraud"',
    'report.reason == "other" || report.reason == "spam"',  # no top-level guard
    'report.reason == "harassment"',
    'report.source == "user_report"',
]


class _Rule:
    def __init__(self, pk: int) -> None:
        self.pk = pk


def _ruleset() -> RuleSet:
    return RuleSet(
        [
            Entry(_Rule(i), None, True, compile_expression(source, cost_limit=10**6))
            for i, source in enumerate(SOURCES)
        ]
    )


def _inputs(rng: random.Random) -> dict:
    values = default_inputs()
    values.update(
        {
            "report.reason": rng.choice(REASONS + ("hate_speech",)),
            "report.source": rng.choice(("automated_flag", "user_report")),
            "report.score": rng.random(),
            "report.text_length": rng.randrange(0, 30),
        }
    )
    return values


def test_the_guard_index_answers_as_trying_every_rule_in_order():
    ruleset = _ruleset()
    # The index is on the input most rules guard (the reason), and some rules have no guard.
    assert ruleset._path == "report.reason"
    rng = random.Random(3)
    for _ in range(2000):
        values = _inputs(rng)
        brute = [e for e in ruleset.entries if e.compiled.evaluate(values)]
        assert ruleset.evaluate(values) == brute
    # A reason no rule guards on is still tried against the unguarded rules.
    values = default_inputs() | {"report.reason": "hate_speech", "report.score": 0.95}
    assert [e.rule.pk for e in ruleset.evaluate(values)] == [2]


def test_snoozed_rules_stay_silent_through_the_index():
    ruleset = _ruleset()
    values = default_inputs() | {"report.reason": "harassment", "report.source": "user_report"}
    assert [e.rule.pk for e in ruleset.evaluate(values)] == [5, 6]
    assert [e.rule.pk for e in ruleset.evaluate(values, frozenset({5}))] == [6]


def test_standing_and_reputation_are_read_only_when_a_rule_reads_them(decided_account):  # noqa: F811
    facts = [_facts(decided_account, T0 + timedelta(days=3))]
    with CaptureQueriesContext(connection) as everything:
        (full,) = build_inputs(facts)
    with CaptureQueriesContext(connection) as report_only:
        (lean,) = build_inputs(facts, fields=frozenset({"report.reason", "account.known"}))
    assert len(report_only) == 0 < len(everything)
    assert full["account.strikes"] > 0 and lean["account.strikes"] == 0
    assert lean["account.known"] is True and lean["report.reason"] == full["report.reason"]
    with CaptureQueriesContext(connection) as standing_only:
        (account,) = build_inputs(facts, fields=frozenset({"account.strikes"}))
    assert len(standing_only) > 0
    assert account["account.strikes"] == full["account.strikes"]


def test_hits_carry_their_versions_effects(platform_account, live):  # noqa: F811
    rule = live('report.reason == "spam"', [{"type": "tag", "tag": "spammy"}])
    case = submit(platform_account, reason="spam", subject=SubjectPayloadFactory())
    (hit,) = RuleHit.objects.filter(case_id=case.pk)
    assert (hit.rule_id, hit.version_id, hit.mode) == (rule.pk, rule.active_version_id, "live")
    assert hit.effects == [{"type": "tag", "tag": "spammy"}]
    assert hit.report_id == case.reports.get().pk
