"""Automated actions against the real database from several threads at once: each applied
once, and never over an analyst's claim that won the race."""

from __future__ import annotations

import threading

import pytest

from cases.models import Case
from detection.models import AutomatedDecision, RuleAction
from detection.services.rule_actions import rule_actions_apply_due
from enforcement.models import Decision
from tests.detection.test_rules_intake import REMOVE_NOW, live, senior2, submit  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(count: int, work) -> tuple[list, list[BaseException]]:
    barrier = threading.Barrier(count)
    results: list = []
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            results.append(work(index))
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_concurrent_runs_apply_each_due_action_once(platform_account, live):  # noqa: F811
    live('report.reason == "spam"', REMOVE_NOW)
    cases = [submit(platform_account, reason="spam") for _ in range(8)]
    assert RuleAction.objects.filter(status=RuleAction.Status.SCHEDULED).count() == 8

    results, errors = run_together(4, lambda _i: rule_actions_apply_due(limit=3))
    assert not errors, errors
    handled = sum(results) + rule_actions_apply_due()
    assert handled == 8
    for case in cases:
        assert Decision.objects.filter(case=case).count() == 1
    assert AutomatedDecision.objects.count() == 8
    assert set(RuleAction.objects.values_list("status", flat=True)) == {RuleAction.Status.APPLIED}
    assert set(Case.objects.values_list("status", flat=True)) == {Case.Status.RESOLVED}


def test_a_claim_racing_the_action_wins_or_loses_cleanly(platform_account, analyst, live):  # noqa: F811
    from cases.services import case_claim

    live('report.reason == "spam"', REMOVE_NOW)
    case = submit(platform_account, reason="spam")

    def work(index: int):
        if index == 0:
            return rule_actions_apply_due()
        try:
            return case_claim(actor=analyst, case_id=case.pk)
        except Exception as exc:  # the case was resolved first: the claim is refused
            return exc

    _results, errors = run_together(2, work)
    assert not errors, errors
    action = RuleAction.objects.get(case=case)
    case.refresh_from_db()
    decisions = Decision.objects.filter(case=case).count()
    if action.status == RuleAction.Status.APPLIED:
        assert decisions == 1 and case.status == Case.Status.RESOLVED
    else:
        assert action.status == RuleAction.Status.CANCELLED and "claimed" in action.note
        assert decisions == 0 and case.claimed_by == analyst
