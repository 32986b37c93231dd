"""Raising escalations: the frozen packet, leaving the queue, restriction and who is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from cases.models import Case, CaseEvent, CaseGroupObjectPermission
from cases.services import evidence_add, note_add
from enforcement.models import OutboxEvent
from escalations import services
from escalations.models import Escalation, Team
from tsops.models import Notification

pytestmark = pytest.mark.django_db


def test_the_four_teams_are_installed_with_their_restriction():
    teams = dict(Team.objects.values_list("slug", "restricted"))
    assert teams == {
        "child-safety": True,
        "threats": True,
        "fraud-security": False,
        "legal": False,
    }


def test_raising_freezes_the_packet_and_takes_the_case_out_of_its_queue(
    analyst, threat_case, raise_threat
):
    evidence_add(
        actor=analyst, case_id=threat_case.pk, kind="excerpt", excerpt="at the station at 9"
    )
    escalation = raise_threat(severity="P2")
    assert escalation.status == "open"
    packet = escalation.packet
    assert packet["subject"]["text"] == "meet me at the station tomorrow zebra"
    assert len(packet["reports"]) == 1
    assert packet["evidence"][0]["sha256"] and packet["evidence"][0]["excerpt"]
    assert any(e["kind"] == "CASE_CREATED" for e in packet["timeline"])
    for key in ("prior_enforcement", "linked_accounts"):
        assert key in packet
    case = Case.objects.get(pk=threat_case.pk)
    assert case.status == "escalated" and case.claimed_by is None
    assert CaseEvent.objects.filter(case=case, kind="ESCALATION_RAISED").exists()
    assert OutboxEvent.objects.filter(
        event_type="escalation.raised", payload__escalation_id=escalation.pk
    ).exists()


def test_later_edits_do_not_change_the_packet(analyst, threats_specialist, raise_threat):
    escalation = raise_threat(team="fraud-security")  # unrestricted: the analyst still sees it
    frozen = Escalation.objects.get(pk=escalation.pk).packet
    note_add(actor=analyst, case_id=escalation.case_id, body="Added after escalating")
    evidence_add(actor=analyst, case_id=escalation.case_id, kind="url", url="https://x.example/1")
    assert Escalation.objects.get(pk=escalation.pk).packet == frozen
    assert frozen["evidence"] == []


def test_do_not_open_evidence_enters_the_packet_as_hash_only(analyst, threat_case, raise_threat):
    item = evidence_add(
        actor=analyst, case_id=threat_case.pk, kind="media", url="https://cdn.example/secret.jpg"
    )
    item.do_not_open = True
    item.save()
    packet = raise_threat().packet
    (entry,) = packet["evidence"]
    assert entry["sha256"] == item.sha256 and entry["do_not_open"] is True
    assert "url" not in entry and "excerpt" not in entry
    assert "secret.jpg" not in str(packet)


def test_escalating_to_a_restricted_team_restricts_the_case_to_that_team(
    analyst, threats_specialist, threat_case, raise_threat
):
    raise_threat()
    case = Case.objects.get(pk=threat_case.pk)
    assert case.restricted and case.team == "threats"
    granted = set(
        CaseGroupObjectPermission.objects.filter(content_object=case).values_list(
            "group__name", flat=True
        )
    )
    assert granted == {"threats"}
    assert CaseEvent.objects.filter(case=case, kind="CASE_RESTRICTED").exists()
    # Nobody is notified of their own action: the raiser gets no notification of raising.
    assert not Notification.objects.filter(user=analyst).exists()


def test_a_restricted_case_moves_only_to_another_teams_restriction(
    platform_account, specialist, analyst
):
    from tests.factories import make_case

    case = make_case(
        platform_account, reason="child_safety", subject={"kind": "content", "external_id": "cs-9"}
    )
    services.escalation_raise(
        actor=specialist,
        case_id=case.pk,
        team="legal",
        severity="P2",
        summary="Needs a legal hold.",
        criteria="Preservation request.",
    )
    case.refresh_from_db()
    assert case.restricted and case.team == "legal"


def test_who_may_not_raise_is_refused(
    associate, support_agent, outsider, specialist, threat_case, analyst
):
    for actor in (support_agent, outsider, specialist):
        with pytest.raises(Http404):
            services.escalation_raise(
                actor=actor,
                case_id=threat_case.pk,
                team="threats",
                severity="P1",
                summary="s",
                criteria="c",
            )
    with pytest.raises(PermissionDenied):
        services.escalation_raise(
            actor=associate,
            case_id=threat_case.pk,
            team="threats",
            severity="P1",
            summary="s",
            criteria="c",
        )
    assert not Escalation.objects.exists()


def test_a_case_is_escalated_once_at_a_time(raise_threat):
    raise_threat(team="legal")
    from tsops.errors import ConflictError

    with pytest.raises(ConflictError):
        raise_threat(team="legal")


def test_raising_over_rest_answers_id_and_status(analyst, threat_case, api_client_for):
    client = api_client_for(analyst, ["cases:write"])
    response = client.post(
        f"/api/v1/cases/{threat_case.pk}/escalations",
        {
            "team": "threats",
            "severity": "P1",
            "summary": "s",
            "criteria": "c",
            "next_steps": "n",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    escalation = Escalation.objects.get()
    assert response.json() == {"id": escalation.pk, "status": "open"}
    read_only = api_client_for(analyst, ["cases:read"])
    assert (
        read_only.post(f"/api/v1/cases/{threat_case.pk}/escalations", {}, format="json").status_code
        == 403
    )
