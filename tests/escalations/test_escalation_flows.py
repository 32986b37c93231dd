"""Acknowledgement deadlines, on-call alerts sent once, and the return and resolve flows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.http import Http404
from django.utils import timezone

from cases.models import Case, CaseEvent
from enforcement.models import EnforcementAction, OutboxEvent
from escalations import alerts, services
from escalations.models import Escalation, EscalationAlert, Team
from tsops.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_call(threats_specialist):
    threats_specialist.email = "tomas@example.org"
    threats_specialist.save()
    Team.objects.filter(slug="threats").update(on_call=threats_specialist)
    return threats_specialist


def _alert_events(escalation: Escalation) -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(
            event_type="escalation.alert", payload__escalation_id=escalation.pk
        )
    )


def test_the_acknowledgement_deadline_follows_the_teams_minutes(raise_threat):
    Team.objects.filter(slug="threats").update(ack_minutes_p1=30)
    escalation = raise_threat(severity="P1")
    assert escalation.ack_due == escalation.raised_at + timedelta(minutes=30)
    # The default P2 deadline is 8 hours.
    assert Team(slug="x").ack_due(2, escalation.raised_at) == escalation.raised_at + timedelta(
        hours=8
    )


def test_a_new_p1_pages_the_on_call_member_once_without_case_content(
    on_call, raise_threat, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation = raise_threat(severity="P1")
    assert Notification.objects.filter(user=on_call, kind="escalation_new").count() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["tomas@example.org"]
    (event,) = _alert_events(escalation)
    assert set(event.payload) - {"emitted_at"} == {
        "escalation_id",
        "kind",
        "team",
        "severity",
        "link",
    }
    assert event.payload["team"] == "threats" and event.payload["severity"] == "P1"
    everything = json.dumps(event.payload) + mail.outbox[0].body + mail.outbox[0].subject
    for content in ("zebra", "station", "post-threat", "acct-threat", "Credible"):
        assert content not in everything


def test_a_new_p2_pages_nobody(on_call, raise_threat):
    escalation = raise_threat(severity="P2")
    assert not _alert_events(escalation)
    assert not Notification.objects.filter(user=on_call).exists()


def test_overdue_alerts_go_out_once_even_when_run_twice(
    on_call, raise_threat, django_capture_on_commit_callbacks
):
    escalation = raise_threat(severity="P2")
    assert alerts.alerts_send_overdue(now=escalation.ack_due - timedelta(minutes=1)) == 0
    later = escalation.ack_due + timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.alerts_send_overdue(now=later) == 1
        assert alerts.alerts_send_overdue(now=later) == 0
    assert EscalationAlert.objects.filter(escalation=escalation, kind="overdue").count() == 1
    assert len(_alert_events(escalation)) == 1
    assert Notification.objects.filter(user=on_call, kind="escalation_overdue").count() == 1
    assert len(mail.outbox) == 1
    assert "zebra" not in json.dumps(_alert_events(escalation)[0].payload)


def test_an_acknowledged_escalation_is_never_overdue(on_call, raise_threat):
    escalation = raise_threat(severity="P2")
    services.escalation_acknowledge(actor=on_call, escalation_id=escalation.pk)
    escalation.refresh_from_db()
    assert escalation.acknowledged_by == on_call and escalation.acknowledged_at
    assert alerts.alerts_send_overdue(now=escalation.ack_due + timedelta(hours=1)) == 0


def test_the_overdue_task_runs_the_service(on_call, raise_threat):
    from escalations.tasks import alerts_send_overdue

    escalation = raise_threat(severity="P3")
    with time_machine.travel(escalation.ack_due + timedelta(minutes=5)):
        assert alerts_send_overdue() == 1


def test_only_the_team_may_work_the_escalation(
    analyst, senior, specialist, threats_specialist, raise_threat
):
    escalation = raise_threat()
    for actor in (analyst, senior, specialist):
        with pytest.raises(Http404):
            services.escalation_acknowledge(actor=actor, escalation_id=escalation.pk)
    assert Escalation.objects.get(pk=escalation.pk).status == "open"


def test_return_sends_the_case_back_to_its_queue_still_restricted(
    analyst, threats_specialist, raise_threat
):
    escalation = raise_threat()
    services.escalation_return(
        actor=threats_specialist, escalation_id=escalation.pk, note="Not credible: song lyrics."
    )
    case = Case.objects.get(pk=escalation.case_id)
    assert case.status == "new" and case.restricted and case.team == "threats"
    assert Escalation.objects.get(pk=escalation.pk).returned_note == "Not credible: song lyrics."
    assert CaseEvent.objects.filter(case=case, kind="ESCALATION_RETURNED").exists()


def test_return_unrestricts_only_when_the_team_says_so(
    analyst, threats_specialist, raise_threat, api_client_for
):
    escalation = raise_threat()
    api = api_client_for(threats_specialist, ["cases:write"])
    response = api.post(
        f"/api/v1/escalations/{escalation.pk}/return",
        {"note": "Not credible.", "unrestrict": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    case = Case.objects.get(pk=escalation.case_id)
    assert case.status == "new" and not case.restricted and case.team == ""
    reader = api_client_for(analyst, ["cases:read"])
    assert reader.get(f"/api/v1/cases/{case.pk}").status_code == 200


def test_resolve_with_a_ban_decision_over_rest(
    analyst, threats_specialist, raise_threat, api_client_for
):
    escalation = raise_threat()
    api = api_client_for(threats_specialist, ["cases:write"])
    assert api.post(f"/api/v1/escalations/{escalation.pk}/acknowledge").status_code == 200
    response = api.post(
        f"/api/v1/escalations/{escalation.pk}/resolve",
        {
            "outcome": "Credible threat; account banned.",
            "referral": "Reported to police, ref 123",
            "decision": {
                "outcome": "violation",
                "policy_section": "VIOL-4.1",
                "rationale": "Specific target, place and time.",
                "actions": [{"type": "ban"}],
            },
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    escalation.refresh_from_db()
    assert escalation.status == "resolved" and escalation.resolved_by == threats_specialist
    assert escalation.decision.decided_by == threats_specialist
    action = EnforcementAction.objects.get(case_id=escalation.case_id)
    assert action.action_type == "ban"
    # A ban is above an analyst's ceiling: it waits for a senior's approval.
    assert action.status == "pending_approval"
    assert Case.objects.get(pk=escalation.case_id).status == "pending_approval"
    # The analyst who escalated can no longer open the case.
    assert (
        api_client_for(analyst, ["cases:read"]).get(f"/api/v1/cases/{escalation.case_id}")
    ).status_code == 404


def test_resolve_with_a_referral_resolves_the_case(threats_specialist, senior, raise_threat):
    escalation = raise_threat()
    with pytest.raises(Http404):
        services.escalation_resolve(actor=senior, escalation_id=escalation.pk, outcome="x")
    services.escalation_resolve(
        actor=threats_specialist,
        escalation_id=escalation.pk,
        outcome="Handed over.",
        referral="Handed to legal.",
    )
    case = Case.objects.get(pk=escalation.case_id)
    assert case.status == "resolved" and case.resolved_at
    assert Escalation.objects.get(pk=escalation.pk).referral == "Handed to legal."
    assert timezone.now() >= case.resolved_at
