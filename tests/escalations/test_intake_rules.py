"""Routing rules that escalate at intake: a confident violent-threat flag goes to threats."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from cases.intake import report_submit, report_submit_batch
from cases.lifecycle import case_lock
from cases.models import Case, CaseEvent, Queue
from cases.visibility import can_view_case, visible_cases
from detection.models import RuleVersion
from escalations.models import Escalation, Team
from tests.factories import ReportPayloadFactory, SubjectPayloadFactory, routing_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def threat_rule(db):
    return routing_rule(
        position=1,
        name="confident violent threat",
        match_source="automated_flag",
        match_reason="violent_threat",
        match_detector="threatnet",
        min_score=0.8,
        queue=Queue.objects.get(slug="threats-triage"),
        severity=1,
        escalate_team="threats",
    )


def flag(score: float, **overrides) -> dict:
    values = {
        "source": "automated_flag",
        "reason": "violent_threat",
        "detector": "threatnet",
        "score": score,
    }
    values.update(overrides)
    return ReportPayloadFactory(**values)


def test_a_confident_flag_goes_straight_to_an_open_escalation_to_threats(
    platform_account, analyst, threats_specialist, threat_rule
):
    result = report_submit(actor=platform_account, data=flag(0.93))
    assert result.status == 201 and result.created_case
    assert result.case_status == "escalated"
    case = Case.objects.get(pk=result.case_id)
    escalation = Escalation.objects.get(case=case)
    assert escalation.status == "open" and escalation.team.slug == "threats"
    assert escalation.severity == 1 and escalation.raised_by is None
    assert f"#{threat_rule.pk}" in escalation.summary and threat_rule.name in escalation.summary
    assert "threatnet" in escalation.criteria and "0.8" in escalation.criteria
    assert escalation.packet["reports"][0]["score"] == 0.93
    assert case.status == "escalated" and case.claimed_by is None
    assert Team.objects.get(slug="threats").restricted
    assert case.restricted and case.team == "threats"
    assert CaseEvent.objects.filter(
        case=case, kind="ESCALATION_RAISED", data__rule_id=threat_rule.pk
    ).exists()
    # Only the team sees it: absent for the analyst who works threats-triage.
    assert can_view_case(threats_specialist, case)
    assert not can_view_case(analyst, case)
    assert not visible_cases(analyst).filter(pk=case.pk).exists()
    with pytest.raises(Http404):
        case_lock(case.pk, analyst)


def test_below_the_threshold_the_flag_stays_in_the_triage_queue(
    platform_account, analyst, threat_rule
):
    result = report_submit(actor=platform_account, data=flag(0.5))
    assert result.case_status == "new"
    case = Case.objects.get(pk=result.case_id)
    assert case.queue.slug == "threats-triage" and case.status == "new"
    assert not case.restricted
    assert not Escalation.objects.filter(case=case).exists()
    assert can_view_case(analyst, case)


def test_a_second_report_on_the_same_subject_makes_no_second_escalation(
    platform_account, threat_rule
):
    subject = SubjectPayloadFactory()
    first = report_submit(actor=platform_account, data=flag(0.9, subject=subject))
    second = report_submit(actor=platform_account, data=flag(0.99, subject=subject))
    assert second.status == 201 and second.case_id == first.case_id
    assert second.case_status == "escalated"
    assert Escalation.objects.filter(case_id=first.case_id).count() == 1
    case = Case.objects.get(pk=first.case_id)
    assert case.status == "escalated" and case.report_count == 2


def test_two_matching_reports_in_one_batch_make_one_escalation(platform_account, threat_rule):
    subject = SubjectPayloadFactory()
    results = report_submit_batch(
        actor=platform_account,
        items=[flag(0.9, subject=subject), flag(0.95, subject=subject), flag(0.2)],
    )
    assert [r.status for r in results] == [201, 201, 201]
    assert results[0].case_id == results[1].case_id != results[2].case_id
    assert [r.case_status for r in results] == ["escalated", "escalated", "new"]
    assert Escalation.objects.filter(case_id=results[0].case_id).count() == 1
    assert not Escalation.objects.filter(case_id=results[2].case_id).exists()


def test_a_rule_without_escalate_team_adds_no_queries(platform_account, threat_rule):
    payloads = [flag(0.9) for _ in range(3)]
    with CaptureQueriesContext(connection) as plain:
        report_submit_batch(actor=platform_account, items=[flag(0.1) for _ in range(3)])
    assert not any("escalations_escalation" in q["sql"] for q in plain.captured_queries)
    # A new live version of the rule without the escalation.
    live = threat_rule.active_version
    threat_rule.active_version = RuleVersion.objects.create(
        rule=threat_rule,
        number=2,
        expression=live.expression,
        effects=[e for e in live.effects if e["type"] != "escalate"],
        note="Routes without escalating.",
    )
    threat_rule.save()
    with CaptureQueriesContext(connection) as matched:
        report_submit_batch(actor=platform_account, items=payloads)
    assert not any("escalations_escalation" in q["sql"] for q in matched.captured_queries)
    assert not Escalation.objects.exists()
