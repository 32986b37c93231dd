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


def test_the_live_rule_set_is_reused_until_a_rule_row_changes(live):  # noqa: F811
    from detection.models import Rule

    rule = live('report.reason == "spam"', [{"type": "tag", "tag": "spammy"}])
    first = RuleSet.live()
    assert RuleSet.live() is first
    assert [e.rule.pk for e in first.entries] == [rule.pk]
    # Any change to the rule's row, even one the engine does not read, loads the set again.
    Rule.objects.filter(pk=rule.pk).update(description="Commercial spam")
    second = RuleSet.live()
    assert second is not first and second.entries[0].rule.description == "Commercial spam"
    Rule.objects.filter(pk=rule.pk).update(state=Rule.State.PAUSED)
    assert RuleSet.live().entries == []


def test_intake_hands_the_engine_first_sightings_it_would_otherwise_read(
    platform_account,
    live,  # noqa: F811
):
    live("account.age_days >= 0 && subject.age_days >= 0", [{"type": "tag", "tag": "aged"}])
    with CaptureQueriesContext(connection) as queries:
        case = submit(platform_account, subject=SubjectPayloadFactory(owner_id="acct-fresh"))
    assert case.tags == ["aged"]
    assert not [q for q in queries if "SELECT id, created_at FROM cases_subject" in q["sql"]]
