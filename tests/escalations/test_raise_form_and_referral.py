"""Raising without a default team, the escalation's severity carried to the case, and the
structured referral (kind, agency, reference number, date) on resolving."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import Case, CaseEvent
from cases.routing import deadlines_for
from cases.timeline import EventKind
from escalations import services
from escalations.models import Escalation

pytestmark = pytest.mark.django_db

ESCALATE = {
    "severity": "P1",
    "summary": "Names the station and a time.",
    "criteria": "Credible threat: target, place, time.",
    "next_steps": "Assess.",
}


# --- No default team --------------------------------------------------------------------------


def test_the_team_select_starts_on_choose_a_team(analyst, threat_case, client):
    client.force_login(analyst)
    page = client.get(f"/cases/{threat_case.pk}/").content.decode()
    select = re.search(r'<select name="team"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None and "required" in select.group(0)
    options = re.findall(r"<option[^>]*>[^<]*</option>", select.group(1))
    assert options[0] == '<option value="" selected>Choose a team…</option>'
    assert not any("selected" in option for option in options[1:])


def test_the_severity_starts_as_the_cases_own(analyst, threat_case, client):
    client.force_login(analyst)
    page = client.get(f"/cases/{threat_case.pk}/").content.decode()
    select = re.search(r'<select name="severity"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert f'<option value="{threat_case.severity_code}" selected>' in select


def test_a_submit_without_a_team_is_refused_with_a_400_and_the_case_stays_in_sight(
    analyst, threat_case, client
):
    client.force_login(analyst)
    response = client.post(f"/cases/{threat_case.pk}/escalate/", ESCALATE)
    assert response.status_code == 400
    assert "Team: This field is required." in response.content.decode()
    assert not Escalation.objects.filter(case=threat_case).exists()
    threat_case.refresh_from_db()
    assert threat_case.status == Case.Status.NEW and not threat_case.restricted
    assert client.get(f"/cases/{threat_case.pk}/").status_code == 200


# --- Severity carried to the case -------------------------------------------------------------


def test_a_p0_escalation_makes_the_case_p0_with_fresh_deadlines(analyst, threat_case):
    assert threat_case.severity != 0
    later = timezone.now() + timedelta(minutes=30)
    with time_machine.travel(later, tick=False):
        escalation = services.escalation_raise(
            actor=analyst,
            case_id=threat_case.pk,
            team="fraud-security",
            **{**ESCALATE, "severity": "P0"},
        )
    case = Case.objects.get(pk=threat_case.pk)
    assert escalation.severity == 0 and case.severity == 0
    assert case.status == Case.Status.ESCALATED
    assert (case.first_action_due, case.resolve_due) == deadlines_for(case.queue, 0, later)
    changed = CaseEvent.objects.get(case=case, kind=EventKind.CASE_SEVERITY_CHANGED)
    assert changed.data["after"] == "P0" and changed.actor == analyst


def test_the_same_severity_changes_nothing_on_the_case(analyst, threat_case):
    services.escalation_raise(
        actor=analyst,
        case_id=threat_case.pk,
        team="fraud-security",
        **{**ESCALATE, "severity": threat_case.severity_code},
    )
    case = Case.objects.get(pk=threat_case.pk)
    assert case.first_action_due == threat_case.first_action_due
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.CASE_SEVERITY_CHANGED).exists()


def test_a_refused_escalation_leaves_the_severity(associate, threat_case):
    with pytest.raises(Exception):  # noqa: B017, PT011 - PermissionDenied, before any write
        services.escalation_raise(
            actor=associate,
            case_id=threat_case.pk,
            team="threats",
            **{**ESCALATE, "severity": "P0"},
        )
    assert Case.objects.get(pk=threat_case.pk).severity == threat_case.severity


# --- Structured referral ----------------------------------------------------------------------


def _resolve(actor, escalation, **referral):
    return services.escalation_resolve(
        actor=actor, escalation_id=escalation.pk, outcome="Referred.", **referral
    )


def test_a_referral_is_recorded_by_kind_agency_reference_and_date(threats_specialist, raise_threat):
    escalation = raise_threat()
    day = timezone.localdate()
    resolved = _resolve(
        threats_specialist,
        escalation,
        referral_kind="law_enforcement",
        referral_agency=" City police ",
        referral_reference="CR-2026-118",
        referral_date=day,
    )
    row = Escalation.objects.get(pk=resolved.pk)
    assert (row.referral_kind, row.referral_agency, row.referral_reference, row.referral_date) == (
        "law_enforcement",
        "City police",
        "CR-2026-118",
        day,
    )
    assert row.referral == ""


def test_an_ncmec_referral_names_ncmec_unless_told_otherwise(threats_specialist, raise_threat):
    escalation = raise_threat()
    _resolve(
        threats_specialist,
        escalation,
        referral_kind="ncmec",
        referral_reference="CT-99",
        referral_date=timezone.localdate(),
    )
    assert Escalation.objects.get(pk=escalation.pk).referral_agency == "NCMEC"


@pytest.mark.parametrize(
    ("referral", "field"),
    [
        ({"referral_kind": "law_enforcement", "referral_date": "today"}, "referral_agency"),
        ({"referral_kind": "other", "referral_agency": "Bank"}, "referral_date"),
        ({"referral_agency": "City police"}, "referral_kind"),
        ({"referral_kind": "interpol", "referral_agency": "x"}, "referral_kind"),
        (
            {"referral_kind": "other", "referral_agency": "Bank", "referral_date": "tomorrow"},
            "referral_date",
        ),
    ],
)
def test_an_incomplete_or_impossible_referral_is_refused_by_field(
    threats_specialist, raise_threat, referral, field
):
    escalation = raise_threat()
    days = {"today": timezone.localdate(), "tomorrow": timezone.localdate() + timedelta(days=1)}
    if "referral_date" in referral:
        referral = {**referral, "referral_date": days[referral["referral_date"]]}
    with pytest.raises(ValidationError) as caught:
        _resolve(threats_specialist, escalation, **referral)
    assert field in caught.value.message_dict
    assert Escalation.objects.get(pk=escalation.pk).status == Escalation.Status.OPEN


def test_the_database_refuses_a_referral_without_its_agency_and_date(
    threats_specialist, raise_threat
):
    escalation = raise_threat()
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.filter(pk=escalation.pk).update(referral_kind="ncmec")


def test_the_resolve_form_takes_the_referral_and_the_page_shows_it_in_words(
    threats_specialist, raise_threat, client
):
    escalation = raise_threat()
    client.force_login(threats_specialist)
    bad = client.post(
        f"/escalations/{escalation.pk}/resolve/",
        {"outcome": "Done.", "referral_kind": "law_enforcement", "referral_agency": "Police"},
    )
    assert bad.status_code == 400 and "Give the date of the referral." in bad.content.decode()
    response = client.post(
        f"/escalations/{escalation.pk}/resolve/",
        {
            "outcome": "Done.",
            "referral_kind": "law_enforcement",
            "referral_agency": "City <police>",
            "referral_reference": "CR-7",
            "referral_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    page = client.get(f"/escalations/{escalation.pk}/").content.decode()
    referral = re.search(r'data-testid="referral">(.*?)</dl>', page, re.S).group(1)
    assert "Law enforcement · City &lt;police&gt;" in referral and "CR-7" in referral
    assert "law_enforcement" not in referral


def test_the_api_takes_the_structured_referral_and_still_the_old_note(
    threats_specialist, raise_threat, api_client_for
):
    escalation = raise_threat()
    api = api_client_for(threats_specialist)
    answer = api.post(
        f"/api/v1/escalations/{escalation.pk}/resolve",
        {
            "outcome": "Done.",
            "referral_kind": "ncmec",
            "referral_reference": "CT-1",
            "referral_date": timezone.localdate().isoformat(),
            "referral": "Old clients still send a note.",
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["referral_kind"], body["referral_agency"], body["referral_reference"]) == (
        "ncmec",
        "NCMEC",
        "CT-1",
    )
    assert body["referral"] == "Old clients still send a note."


def test_a_legacy_free_text_referral_is_shown_read_only(threats_specialist, raise_threat, client):
    escalation = raise_threat()
    _resolve(threats_specialist, escalation)
    Escalation.objects.filter(pk=escalation.pk).update(referral="Reported to police, ref 123")
    client.force_login(threats_specialist)
    page = client.get(f"/escalations/{escalation.pk}/").content.decode()
    assert 'data-testid="referral-note"' in page and "Reported to police, ref 123" in page
