"""Backtests replay a version over stored reports as they were then, scored by humans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, Report
from cases.services import case_claim
from detection.backtest import backtest_run
from detection.models import Backtest
from detection.selectors.rules import backtest_describe
from detection.services.backtests import backtest_request
from detection.services.rules import rule_create, rule_version_add
from enforcement import services as enforcement
from qa.stats import wilson_interval
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles

pytestmark = pytest.mark.django_db


def report(platform_account, key: str, *, reason="spam", kind="content", days_ago=5):
    subject = (
        {
            "kind": "content",
            "external_id": f"post-bt-{key}",
            "owner_id": f"acct-bt-{key}",
            "text": "cheap followers here",
        }
        if kind == "content"
        else {"kind": "account", "external_id": f"acct-bt-{key}"}
    )
    received = (timezone.now() - timedelta(days=days_ago)).isoformat()
    return make_case(
        platform_account,
        reason=reason,
        subject=subject,
        external_id=f"bt-{key}",
        received_at=received,
    )


def decide(analyst, case: Case, outcome: str) -> None:
    claimed = case_claim(actor=analyst, case_id=case.pk)
    enforcement.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=claimed.version,
        outcome=outcome,
        policy_section="SPAM-1.1" if outcome == "violation" else "",
        rationale="Checked against policy.",
        actions=[{"type": "remove_content"}]
        if outcome == "violation" and case.subject.kind == "content"
        else ([{"type": "warn"}] if outcome == "violation" else None),
    )


@pytest.fixture
def history(platform_account, analyst):
    """Six reports over the last ten days, five of them decided by a human."""
    cases = {
        "r1": report(platform_account, "1"),
        "r2": report(platform_account, "2"),
        "r3": report(platform_account, "3", days_ago=4),
        "r4": report(platform_account, "4", reason="scam_fraud", days_ago=3),
        "r5": report(platform_account, "5", days_ago=2),
        "r6": report(platform_account, "6", kind="account", days_ago=2),
    }
    decide(analyst, cases["r1"], "violation")
    decide(analyst, cases["r2"], "no_violation")
    decide(analyst, cases["r4"], "violation")
    decide(analyst, cases["r5"], "violation")
    decide(analyst, cases["r6"], "violation")
    return cases


def run(senior, rule, *, version=None, compare=None) -> dict:
    now = timezone.now()
    backtest = backtest_request(
        actor=senior,
        rule_id=rule.pk,
        version=version,
        compare_version=compare,
        period_from=now - timedelta(days=10),
        period_to=now,
    )
    backtest_run(backtest.pk)
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.DONE, backtest.error
    return backtest_describe(actor=senior, backtest=backtest)


def test_a_backtest_counts_matches_precision_with_its_interval_and_recall(senior, history):
    rule = rule_create(
        actor=senior,
        name="spam on content",
        expression='report.reason == "spam" && subject.kind == "content"',
        effects=[{"type": "tag", "tag": "spam-content"}],
    )
    described = run(senior, rule)
    side = described["results"]["sides"]["candidate"]
    # r1, r2, r3 and r5 match; r1 and r5 were violations, r2 not, r3 is undecided.
    assert side["matches"] == 4
    assert side["decided"] == 3 and side["confirmed"] == 2
    assert side["precision"] == round(2 / 3, 4)
    low, high = wilson_interval(2, 3)
    assert side["precision_interval"] == [round(low, 4), round(high, 4)]
    # Confirmed spam: r1, r5 and the account report r6, which the rule misses.
    assert side["family_confirmed"] == 3 and side["recall"] == round(2 / 3, 4)
    assert [s["case_id"] for s in side["samples_missed"]] == [history["r6"].pk]
    assert side["effects"] == {"tag: spam-content": 4}
    assert described["results"]["evaluated"] == 6


def test_accounts_are_read_as_they_were_at_report_time_so_later_changes_change_nothing(
    senior, analyst, platform_account, history
):
    rule = rule_create(
        actor=senior,
        name="first offenders",
        expression='report.reason == "spam" && account.strikes == 0 && account.prior_actions == 0',
        effects=[],
    )
    first = run(senior, rule)["results"]["sides"]["candidate"]
    # Every decision came after its report: at report time nobody had a strike.
    assert first["matches"] == 5
    # The account of r1 is punished again today: the replay of the past does not change.
    later = make_case(
        platform_account,
        reason="spam",
        subject={"kind": "content", "external_id": "post-bt-1b", "owner_id": "acct-bt-1"},
    )
    decide(analyst, later, "violation")
    Report.objects.filter(case=later).update(received_at=timezone.now() + timedelta(days=1))
    again = run(senior, rule)["results"]["sides"]["candidate"]
    assert (again["matches"], again["decided"], again["confirmed"]) == (
        first["matches"],
        first["decided"],
        first["confirmed"],
    )


def test_two_versions_side_by_side_show_new_and_lost_matches(senior, history):
    rule = rule_create(
        actor=senior,
        name="spam anywhere",
        expression='report.reason == "spam"',
        effects=[],
    )
    rule_version_add(
        actor=senior,
        rule_id=rule.pk,
        expression='report.reason == "spam" && subject.kind == "account"',
        effects=[],
        note="Accounts only",
    )
    described = run(senior, rule, version=2, compare=1)
    sides = described["results"]["sides"]
    assert sides["candidate"]["matches"] == 1 and sides["compare"]["matches"] == 5
    assert described["results"]["overlap"] == {
        "only_candidate": 0,
        "only_compare": 4,
        "both": 1,
        "also_active": 0,
    }


def test_restricted_cases_never_reach_a_backtest_of_someone_outside_the_team(
    senior, platform_account, history
):
    restricted = report(platform_account, "cs", reason="child_safety", days_ago=1)
    assert restricted.restricted
    rule = rule_create(actor=senior, name="everything", expression="true", effects=[])
    described = run(senior, rule)
    side = described["results"]["sides"]["candidate"]
    assert described["results"]["evaluated"] == 6 and side["matches"] == 6
    assert restricted.pk not in {s["case_id"] for s in side["samples_matched"]}


def test_results_are_withheld_from_a_reader_who_sees_less_than_the_requester(senior, history):
    rule = rule_create(actor=senior, name="spam", expression='report.reason == "spam"', effects=[])
    now = timezone.now()
    backtest = backtest_request(
        actor=senior,
        rule_id=rule.pk,
        version=1,
        period_from=now - timedelta(days=10),
        period_to=now,
    )
    backtest_run(backtest.pk)
    backtest.refresh_from_db()
    lead = make_member("cs_lead", roles.SENIOR, ("child-safety",))
    # The team lead sees more than the requester: the figures are shown.
    assert backtest_describe(actor=lead, backtest=backtest)["results"] is not None
    backtest.requested_by = lead
    backtest.save()
    withheld = backtest_describe(actor=senior, backtest=backtest)
    assert withheld["results"] is None and withheld["results_withheld"]


def test_a_resumed_backtest_continues_from_its_last_chunk(senior, history, monkeypatch):
    import detection.backtest as module

    monkeypatch.setattr(module, "CHUNK", 2)
    rule = rule_create(
        actor=senior, name="spam resumed", expression='report.reason == "spam"', effects=[]
    )
    now = timezone.now()
    backtest = backtest_request(
        actor=senior,
        rule_id=rule.pk,
        version=1,
        period_from=now - timedelta(days=10),
        period_to=now,
    )
    calls = {"n": 0}
    real = module._score_chunk

    def dies_after_first_chunk(*args, **kwargs):
        if calls["n"] == 1:
            raise KeyboardInterrupt("worker killed")
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "_score_chunk", dies_after_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        backtest_run(backtest.pk)
    backtest.job.refresh_from_db()
    assert backtest.job.done == 2
    # The next worker finds the job stale and resumes it from the recorded position.
    from tsops.models import Job

    Job.objects.filter(pk=backtest.job_id).update(heartbeat_at=now - timedelta(hours=1))
    monkeypatch.setattr(module, "_score_chunk", real)
    backtest_run(backtest.pk)
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.DONE
    assert backtest.results["evaluated"] == 6
    assert backtest.results["sides"]["candidate"]["matches"] == 5
