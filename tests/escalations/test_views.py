"""The escalation pages: the team inbox, the packet page and its forms, and "Escalate" on the
case page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from cases.models import Case, CaseEvent
from cases.services import evidence_add
from cases.timeline import EventKind
from enforcement.models import EnforcementAction
from escalations import services
from escalations.models import Escalation
from tests.factories import make_case
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

ESCALATE = {
    "team": "threats",
    "severity": "P1",
    "summary": "Names the station and a time.",
    "criteria": "Credible threat: target, place, time.",
    "next_steps": "Assess.",
}


def _case(platform_account, name: str, reason: str = "harassment") -> Case:
    return make_case(
        platform_account,
        reason=reason,
        subject={
            "kind": "content",
            "external_id": f"post-{name}",
            "owner_id": f"acct-{name}",
            "text": f"text of {name}",
        },
    )


def _raise(actor, case, **overrides) -> Escalation:
    return services.escalation_raise(actor=actor, case_id=case.pk, **{**ESCALATE, **overrides})


def _inbox_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-escalation-id="(\d+)"', response.content.decode())]


# --- The team inbox --------------------------------------------------------------------------


def test_the_inbox_lists_the_teams_escalations_and_not_other_teams(
    analyst, threats_specialist, specialist, platform_account, raise_threat, client
):
    threat = raise_threat()
    fraud = _raise(analyst, _case(platform_account, "ring"), team="fraud-security")
    client.force_login(threats_specialist)
    assert _inbox_ids(client.get("/escalations/")) == [threat.pk]
    client.force_login(specialist)
    response = client.get("/escalations/")
    assert response.status_code == 200
    assert threat.pk not in _inbox_ids(response) and fraud.pk not in _inbox_ids(response)


@pytest.mark.parametrize("who", ("analyst", "senior", "support_agent"))
def test_the_inbox_is_refused_to_those_outside_every_team(who, request, raise_threat, client):
    raise_threat()
    client.force_login(request.getfixturevalue(who))
    assert client.get("/escalations/").status_code == 403


def test_the_inbox_orders_by_severity_then_deadline_and_marks_the_overdue(
    analyst, threats_specialist, platform_account, client, django_assert_max_num_queries
):
    p2 = _raise(analyst, _case(platform_account, "a"), severity="P2")
    p0 = _raise(analyst, _case(platform_account, "b"), severity="P0")
    p1 = _raise(analyst, _case(platform_account, "c"), severity="P1")
    client.force_login(threats_specialist)
    with django_assert_max_num_queries(12):
        response = client.get("/escalations/")
    assert _inbox_ids(response) == [p0.pk, p1.pk, p2.pk]
    assert 'data-testid="overdue"' not in response.content.decode()

    # The P0 and P1 deadlines pass (sessions don't survive a jump in time, so the rows move).
    Escalation.objects.filter(pk__in=[p0.pk, p1.pk]).update(
        ack_due=timezone.now() - timedelta(minutes=1)
    )
    html = client.get("/escalations/").content.decode()
    assert html.count('data-testid="overdue"') == 2
    assert 'data-testid="inbox-overdue">2 overdue' in html

    services.escalation_acknowledge(actor=threats_specialist, escalation_id=p0.pk)
    assert _inbox_ids(client.get("/escalations/")) == [p1.pk, p2.pk]
    assert _inbox_ids(client.get("/escalations/?status=acknowledged")) == [p0.pk]
    assert _inbox_ids(client.get("/escalations/?status=closed")) == []


# --- The packet page -------------------------------------------------------------------------


def test_every_view_of_the_packet_page_writes_the_access_log(
    threats_specialist, raise_threat, client
):
    escalation = raise_threat()
    client.force_login(threats_specialist)
    for _ in range(2):
        response = client.get(f"/escalations/{escalation.pk}/")
        assert response.status_code == 200
        assert "meet me at the station tomorrow zebra" in response.content.decode()
    rows = AccessLog.objects.filter(
        actor=threats_specialist,
        action="viewed",
        object_type="escalations.escalation",
        object_id=str(escalation.pk),
    )
    assert rows.count() == 2


@pytest.mark.parametrize("who", ("analyst", "senior", "specialist"))
def test_the_packet_page_of_a_restricted_case_is_404_outside_the_team(
    who, request, raise_threat, client
):
    escalation = raise_threat()
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = client.get(f"/escalations/{escalation.pk}/")
    assert response.status_code == 404
    assert "zebra" not in response.content.decode()
    assert not (
        AccessLog.objects.filter(actor=user, object_type="escalations.escalation")
        .exclude(action=AccessLog.Action.DENIED)
        .exists()
    )


def test_do_not_open_evidence_shows_only_kind_hash_and_time_on_the_packet_page(
    analyst, threats_specialist, threat_case, raise_threat, client
):
    item = evidence_add(
        actor=analyst,
        case_id=threat_case.pk,
        kind="excerpt",
        excerpt="forbidden-excerpt-text",
        url="https://media.example/forbidden-url",
        sensitive=True,
    )
    item.do_not_open = True
    item.save()
    escalation = raise_threat()
    # Even a packet that carried the content (an older format, a bug) must not show it.
    packet = escalation.packet
    packet["evidence"][0].update(
        excerpt="forbidden-excerpt-text", url="https://media.example/forbidden-url"
    )
    Escalation.objects.filter(pk=escalation.pk).update(packet=packet)
    client.force_login(threats_specialist)
    html = client.get(f"/escalations/{escalation.pk}/").content.decode()
    assert item.sha256 in html
    assert "do not open" in html
    assert "forbidden-excerpt-text" not in html
    assert "forbidden-url" not in html


# --- Working it through the forms -------------------------------------------------------------


def test_a_team_member_acknowledges_through_the_form_and_an_analyst_is_refused(
    analyst, threats_specialist, raise_threat, client
):
    escalation = raise_threat()
    client.force_login(analyst)
    assert client.post(f"/escalations/{escalation.pk}/acknowledge/").status_code == 404
    client.force_login(threats_specialist)
    page = client.get(f"/escalations/{escalation.pk}/").content.decode()
    assert "Acknowledge</button>" in page
    response = client.post(f"/escalations/{escalation.pk}/acknowledge/")
    assert response.status_code == 302
    escalation.refresh_from_db()
    assert escalation.status == "acknowledged"
    assert escalation.acknowledged_by == threats_specialist
    # Twice is a conflict, shown as a message, not an error page.
    again = client.post(f"/escalations/{escalation.pk}/acknowledge/", follow=True)
    assert "cannot become acknowledged" in again.content.decode()


def test_resolving_with_a_ban_decides_the_case_and_the_ban_waits_for_a_senior(
    threats_specialist, raise_threat, client
):
    escalation = raise_threat()
    services.escalation_acknowledge(actor=threats_specialist, escalation_id=escalation.pk)
    client.force_login(threats_specialist)
    response = client.post(
        f"/escalations/{escalation.pk}/resolve/",
        {
            "outcome": "Credible threat; account banned.",
            "referral_kind": "law_enforcement",
            "referral_agency": "City police",
            "referral_reference": "42",
            "referral_date": "2026-01-05",
            "decision_outcome": "violation",
            "policy_section": "VIOL-4.1",
            "action_type": "ban",
            "action_unit": "days",
        },
    )
    assert response.status_code == 302
    escalation.refresh_from_db()
    assert escalation.status == "resolved"
    assert (escalation.referral_kind, escalation.referral_agency) == (
        "law_enforcement",
        "City police",
    )
    assert escalation.referral_reference == "42" and str(escalation.referral_date) == "2026-01-05"
    assert escalation.decision.policy_section.code == "VIOL-4.1"
    (action,) = EnforcementAction.objects.filter(decision=escalation.decision)
    assert action.action_type == "ban"
    assert action.status == EnforcementAction.Status.PENDING_APPROVAL
    assert escalation.case.status == Case.Status.PENDING_APPROVAL
    assert CaseEvent.objects.filter(
        case=escalation.case, kind=EventKind.ESCALATION_RESOLVED
    ).exists()
    page = client.get(f"/escalations/{escalation.pk}/").content.decode()
    assert 'data-testid="decision-action-status">Pending approval<' in page


def test_an_invalid_resolution_is_shown_on_the_form_and_changes_nothing(
    threats_specialist, raise_threat, client
):
    escalation = raise_threat()
    client.force_login(threats_specialist)
    missing = client.post(f"/escalations/{escalation.pk}/resolve/", {"outcome": ""})
    assert missing.status_code == 400
    no_action = client.post(
        f"/escalations/{escalation.pk}/resolve/",
        {"outcome": "Done.", "decision_outcome": "violation", "policy_section": "VIOL-4.1"},
    )
    assert no_action.status_code == 400
    assert "at least one action" in no_action.content.decode()
    escalation.refresh_from_db()
    assert escalation.status == "open" and escalation.decision is None


def test_resolving_without_a_decision_resolves_the_case(threats_specialist, raise_threat, client):
    escalation = raise_threat()
    client.force_login(threats_specialist)
    response = client.post(
        f"/escalations/{escalation.pk}/resolve/",
        {"outcome": "Not credible after review."},
    )
    assert response.status_code == 302
    escalation.refresh_from_db()
    assert escalation.status == "resolved" and escalation.referral_kind == ""
    assert escalation.case.status == Case.Status.RESOLVED


def test_returning_with_unrestrict_gives_the_case_back_to_its_queue(
    analyst, threats_specialist, raise_threat, client
):
    escalation = raise_threat()
    client.force_login(threats_specialist)
    response = client.post(
        f"/escalations/{escalation.pk}/return/", {"note": "Song lyrics.", "unrestrict": "on"}
    )
    assert response.status_code == 302
    escalation.refresh_from_db()
    case = escalation.case
    assert escalation.status == "returned" and escalation.returned_note == "Song lyrics."
    assert case.status == Case.Status.NEW and not case.restricted
    client.force_login(analyst)
    assert client.get(f"/cases/{case.pk}/").status_code == 200


def test_returning_without_a_note_is_refused_on_the_form(threats_specialist, raise_threat, client):
    escalation = raise_threat()
    client.force_login(threats_specialist)
    assert client.post(f"/escalations/{escalation.pk}/return/", {"note": ""}).status_code == 400
    escalation.refresh_from_db()
    assert escalation.status == "open"


# --- Escalating from the case page -----------------------------------------------------------


def test_an_analyst_escalating_to_a_restricted_team_goes_home_and_then_gets_404(
    analyst, threat_case, client
):
    client.force_login(analyst)
    page = client.get(f"/cases/{threat_case.pk}/").content.decode()
    assert 'data-testid="escalate-form"' in page
    response = client.post(f"/cases/{threat_case.pk}/escalate/", ESCALATE)
    assert response.status_code == 302 and response.url == "/"
    escalation = Escalation.objects.get(case=threat_case)
    at = timezone.localtime(escalation.raised_at)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Escalated to threats at {at:%H:%M}"
    ]
    assert escalation.raised_by == analyst and escalation.severity == 1
    assert client.get(f"/cases/{threat_case.pk}/").status_code == 404


def test_escalating_to_an_open_team_comes_back_to_the_case(analyst, threat_case, client):
    client.force_login(analyst)
    response = client.post(
        f"/cases/{threat_case.pk}/escalate/", {**ESCALATE, "team": "fraud-security"}
    )
    assert response.url == f"/cases/{threat_case.pk}/"
    page = client.get(response.url).content.decode()
    assert 'data-testid="case-escalation"' in page
    # Already escalated: the form is gone.
    assert 'data-testid="escalate-form"' not in page


def test_an_incomplete_escalation_is_refused_with_a_message(analyst, threat_case, client):
    client.force_login(analyst)
    response = client.post(
        f"/cases/{threat_case.pk}/escalate/", {**ESCALATE, "criteria": ""}, follow=True
    )
    assert "Not escalated." in response.content.decode()
    assert not Escalation.objects.filter(case=threat_case).exists()


@pytest.mark.parametrize("who", ("associate", "support_agent"))
def test_those_who_may_not_escalate_are_refused(who, request, threat_case, client):
    user = request.getfixturevalue(who)
    client.force_login(user)
    if who == "associate":
        page = client.get(f"/cases/{threat_case.pk}/").content.decode()
        assert 'data-testid="escalate-form"' not in page
    assert client.post(f"/cases/{threat_case.pk}/escalate/", ESCALATE).status_code == 403
    assert not Escalation.objects.filter(case=threat_case).exists()


# --- The admin -------------------------------------------------------------------------------


def test_the_admin_lists_escalations_read_only_without_restricted_ones_outside_the_team(
    senior, analyst, platform_account, raise_threat, client
):
    restricted = raise_threat()
    open_team = _raise(analyst, _case(platform_account, "ring"), team="fraud-security")
    client.force_login(senior)
    html = client.get("/admin/escalations/escalation/").content.decode()
    assert f"/admin/escalations/escalation/{open_team.pk}/change/" in html
    assert f"/admin/escalations/escalation/{restricted.pk}/change/" not in html
    assert client.get(f"/admin/escalations/escalation/{restricted.pk}/change/").status_code in (
        302,
        404,
    )
    assert client.get("/admin/escalations/escalation/add/").status_code == 403
    assert client.get("/admin/escalations/team/").status_code == 200
    client.force_login(analyst)
    assert client.get("/admin/escalations/team/").status_code in (302, 403)


def test_a_team_added_by_a_senior_works_like_the_built_in_ones(senior, client):
    from django.contrib.auth.models import Group

    from tests.conftest import make_member
    from tsops.permissions import has_capability, teams_of

    client.force_login(senior)
    response = client.post(
        "/admin/escalations/team/add/",
        {
            "slug": "cyber",
            "name": "Cyber response",
            "restricted": "on",
            "ack_minutes_p0": 15,
            "ack_minutes_p1": 60,
            "ack_minutes_p2": 480,
            "ack_minutes_p3": 1440,
            "alert_webhook_url": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Group.objects.filter(name="cyber").exists()
    member = make_member("cyra", None, ("cyber",))
    assert teams_of(member) == ["cyber"]
    assert has_capability(member, "work_team_cases")
    client.force_login(member)
    assert "Cyber response" in client.get("/").content.decode()
