"""DSA statements of reasons: built for every action and source, validated by the Transparency
Database's rules, served per action and exported per period, with no personal data."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from cases.models import ReportReason
from cases.services import case_claim_next
from cases.taxonomy import REASONS
from cases.visibility import visible_cases
from enforcement import services
from enforcement.catalogue import ACTIONS
from enforcement.models import EnforcementAction
from enforcement.selectors import policy_sections_for_reason
from enforcement.statements import (
    EU_EEA_COUNTRIES,
    statement_for,
    statement_get_for,
    statements_export,
    validate_statement,
)
from tests.factories import make_case
from tsops.errors import ConflictError
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

SOURCES = ("user_report", "automated_flag", "support", "internal")
EXPECTED_SOURCE_TYPE = {
    "user_report": "SOURCE_ARTICLE_16",
    "automated_flag": "SOURCE_VOLUNTARY",
    "support": "SOURCE_TYPE_OTHER_NOTIFICATION",
    "internal": "SOURCE_VOLUNTARY",
}
END_DATE_FIELD = {
    "decision_visibility": "end_date_visibility_restriction",
    "decision_monetary": "end_date_monetary_restriction",
    "decision_provision": "end_date_service_restriction",
    "decision_account": "end_date_account_restriction",
}


def action_payload(code: str) -> dict:
    """A valid request for action ``code``, with a duration and feature where it needs them."""
    spec = ACTIONS[code]
    payload: dict = {"type": code}
    if spec.needs_duration:
        payload["duration_hours"] = 72
    if spec.needs_feature:
        payload["feature"] = "messaging"
    return payload


def report(source: str = "user_report", **payload) -> dict:
    """Intake fields for ``source``: automated flags name their detector and carry no reporter."""
    if source == "automated_flag":
        payload = {"detector": "spamnet-v3", "score": 0.93, "reporter_id": "", **payload}
    return {"source": source, **payload}


def decide(
    platform_account,
    decider,
    *,
    source="user_report",
    reason="spam",
    section="SPAM-1.1",
    actions=("remove_content",),
    **kwargs,
):
    """A case opened through intake and decided by ``decider`` (a senior: no claim needed)."""
    extra = {k: kwargs.pop(k) for k in ("subject", "identifiers", "description") if k in kwargs}
    case = make_case(platform_account, reason=reason, **report(source, **extra))
    return services.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section=section,
        rationale="Internal rationale: matches the known spam wave.",
        actions=[action_payload(a) if isinstance(a, str) else a for a in actions],
        **kwargs,
    )


# --- Building: every action type, every source -------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("code", list(ACTIONS))
def test_every_action_type_from_every_source_builds_a_valid_statement(
    platform_account, senior, code, source
):
    decision = decide(platform_account, senior, source=source, actions=[code])
    action = decision.actions.get()
    assert action.status == "active"

    statement = statement_for(action)

    assert validate_statement(statement) == {}
    spec = ACTIONS[code]
    expected = [spec.dsa_value] if spec.dsa_field == "decision_visibility" else spec.dsa_value
    assert statement[spec.dsa_field] == expected
    others = {"decision_visibility", "decision_monetary", "decision_provision", "decision_account"}
    assert not others - {spec.dsa_field} & set(statement)
    assert statement["source_type"] == EXPECTED_SOURCE_TYPE[source]
    assert statement["automated_detection"] == ("Yes" if source == "automated_flag" else "No")
    assert statement["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert statement["puid"] == f"tsops-action-{action.pk}"
    assert statement["application_date"] == action.starts_at.date().isoformat()
    assert statement["territorial_scope"] == list(EU_EEA_COUNTRIES)
    assert statement["decision_facts"] == decision.statement_of_reasons
    end_field = END_DATE_FIELD[spec.dsa_field]
    if spec.temporary:
        assert statement[end_field] == action.expires_at.date().isoformat()
    else:
        assert end_field not in statement


def test_the_other_values_carry_their_required_texts(platform_account, senior):
    decision = decide(platform_account, senior, actions=["warn", "hold_transaction"])
    by_type = {a.action_type: statement_for(a) for a in decision.actions.all()}
    assert by_type["warn"]["decision_visibility"] == ["DECISION_VISIBILITY_OTHER"]
    assert by_type["warn"]["decision_visibility_other"]
    assert by_type["hold_transaction"]["decision_monetary"] == "DECISION_MONETARY_OTHER"
    assert by_type["hold_transaction"]["decision_monetary_other"]


def test_a_notice_outranks_a_detector_but_the_detection_is_still_declared(platform_account, senior):
    subject = {"kind": "content", "external_id": "post-mixed", "owner_id": "acct-mixed"}
    make_case(platform_account, **report("automated_flag", subject=subject))
    decision = decide(platform_account, senior, source="user_report", subject=subject)
    assert decision.case.report_count == 2
    statement = statement_for(decision.actions.get())
    assert statement["source_type"] == "SOURCE_ARTICLE_16"
    assert statement["automated_detection"] == "Yes"
    assert validate_statement(statement) == {}


def test_a_section_with_a_legal_ground_is_illegal_content_else_incompatible(
    platform_account, senior
):
    illegal = statement_for(
        decide(platform_account, senior, reason="scam_fraud", section="FRAUD-2.1").actions.get()
    )
    assert illegal["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert illegal["illegal_content_legal_ground"].startswith("Directive (EU) 2019/713")
    assert illegal["illegal_content_explanation"]
    assert "incompatible_content_ground" not in illegal
    assert illegal["category"] == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"

    incompatible = statement_for(decide(platform_account, senior).actions.get())
    assert incompatible["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert incompatible["incompatible_content_ground"] == "SPAM-1.1 Commercial spam"
    assert incompatible["incompatible_content_explanation"]
    assert "illegal_content_legal_ground" not in incompatible
    assert incompatible["category"] == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    assert validate_statement(illegal) == validate_statement(incompatible) == {}


def test_the_category_follows_the_reasons_configured_dsa_category(platform_account, senior):
    ReportReason.objects.filter(code="spam").update(
        dsa_category="STATEMENT_CATEGORY_CONSUMER_INFORMATION"
    )
    statement = statement_for(decide(platform_account, senior).actions.get())
    assert statement["category"] == "STATEMENT_CATEGORY_CONSUMER_INFORMATION"


@pytest.mark.parametrize(
    ("subject", "action", "content_type", "other"),
    [
        ({"kind": "content", "text": "buy now"}, "remove_content", ["CONTENT_TYPE_TEXT"], None),
        (
            {"kind": "content", "text": "look", "media": ["https://cdn.example/m/1.JPG?s=2"]},
            "remove_content",
            ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_TEXT"],
            None,
        ),
        (
            {"kind": "message", "text": "", "media": ["video/mp4:clip-77"]},
            "remove_content",
            ["CONTENT_TYPE_VIDEO"],
            None,
        ),
        ({"kind": "message", "text": "hi"}, "remove_content", ["CONTENT_TYPE_TEXT"], None),
        ({"kind": "listing", "text": "pills"}, "remove_content", ["CONTENT_TYPE_PRODUCT"], None),
        ({"kind": "profile", "text": "bio"}, "label", ["CONTENT_TYPE_OTHER"], "User profile"),
        ({"kind": "account"}, "suspend", ["CONTENT_TYPE_OTHER"], "User account"),
    ],
)
def test_the_content_type_follows_the_subject(
    platform_account, senior, subject, action, content_type, other
):
    subject = {"external_id": f"{subject['kind']}-ct", **subject}
    if subject["kind"] != "account":
        subject["owner_id"] = "acct-ct"
    statement = statement_for(
        decide(platform_account, senior, subject=subject, actions=[action]).actions.get()
    )
    assert statement["content_type"] == content_type
    assert statement.get("content_type_other") == other
    assert validate_statement(statement) == {}


def test_dates_come_from_the_content_and_the_application(platform_account, senior):
    created = datetime(2024, 11, 3, 22, 15, tzinfo=UTC)
    subject = {
        "kind": "content",
        "external_id": "post-dated",
        "owner_id": "acct-dated",
        "created_at": created.isoformat(),
    }
    with time_machine.travel(datetime(2025, 2, 10, 9, 0, tzinfo=UTC), tick=False):
        decision = decide(
            platform_account,
            senior,
            subject=subject,
            actions=[{"type": "suspend", "duration_hours": 24 * 30}],
        )
    statement = statement_for(decision.actions.get())
    assert statement["content_date"] == "2024-11-03"
    assert statement["application_date"] == "2025-02-10"
    assert statement["end_date_account_restriction"] == "2025-03-12"


def test_an_automated_decision_says_so(platform_account, senior):
    decision = decide(platform_account, senior, source="automated_flag", automated=True)
    statement = statement_for(decision.actions.get())
    assert statement["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert statement["source_type"] == "SOURCE_VOLUNTARY"
    assert statement["automated_detection"] == "Yes"


def test_the_territorial_scope_is_configurable(platform_account, senior, settings):
    settings.TSOPS_DSA_TERRITORIAL_SCOPE = ["DE", "AT"]
    statement = statement_for(decide(platform_account, senior).actions.get())
    assert statement["territorial_scope"] == ["DE", "AT"]
    assert validate_statement(statement) == {}


# --- No personal data ------------------------------------------------------------------------


@pytest.fixture
def personal(platform_account, analyst):
    """A decided case full of personal data: reporter, owner email, ids, staff names."""
    subject = {
        "kind": "content",
        "external_id": "post-secret-4711",
        "owner_id": "acct-secret-owner",
        "text": "DM me at owner@example.com",
        "url": "https://platform.example/p/post-secret-4711",
    }
    case = make_case(
        platform_account,
        reason="scam_fraud",
        reporter_id="reporter-secret-99",
        description="I am Jane Reporter and I lost money",
        subject=subject,
        identifiers=[{"kind": "email", "value": "owner@example.com"}],
    )
    case_claim_next(actor=analyst, queue=case.queue)
    case.refresh_from_db()
    return services.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="FRAUD-2.1",
        rationale="INTERNAL-ONLY: ring run by acct-secret-owner",
        statement_of_reasons=(
            "Your post post-secret-4711 asked people to pay by gift card; account "
            "acct-secret-owner (owner@example.com) is suspended."
        ),
        actions=[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 168}],
    )


def assert_no_personal_data(text: str, *users) -> None:
    for secret in (
        "reporter-secret-99",
        "Jane Reporter",
        "owner@example.com",
        "acct-secret-owner",
        "post-secret-4711",
        "INTERNAL-ONLY",
        "@",
        *(user.username for user in users),
    ):
        assert secret not in text, secret


def test_statements_carry_no_personal_data(personal, analyst, platform_account, senior):
    for action in personal.actions.all():
        statement = statement_for(action)
        assert validate_statement(statement) == {}
        assert_no_personal_data(json.dumps(statement), analyst, platform_account)
        assert "gift card" in statement["decision_facts"]
    rows = list(
        statements_export(
            actor=senior, start=personal.created_at.date(), end=personal.created_at.date()
        )
    )
    assert len(rows) == 2
    assert_no_personal_data(json.dumps(rows), analyst, platform_account, senior)


# --- The validator ---------------------------------------------------------------------------

VALID = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_account": "DECISION_ACCOUNT_SUSPENDED",
    "end_date_account_restriction": "2025-03-10",
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "incompatible_content_ground": "SPAM-1.1 Commercial spam",
    "incompatible_content_explanation": "We don't allow repetitive commercial content.",
    "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "content_type": ["CONTENT_TYPE_TEXT"],
    "source_type": "SOURCE_ARTICLE_16",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
    "content_date": "2025-03-01",
    "application_date": "2025-03-03",
    "decision_facts": "We removed your post for spam.",
    "territorial_scope": ["DE", "FR", "NO"],
    "puid": "tsops-action-17",
}


def test_a_complete_statement_is_valid():
    assert validate_statement(copy.deepcopy(VALID)) == {}
    illegal = {
        **VALID,
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "Directive (EU) 2019/713",
        "illegal_content_explanation": "Fraud.",
        "content_language": "EN",
        "account_type": "ACCOUNT_TYPE_PRIVATE",
        "content_id": {"EAN-13": "4006381333931"},
    }
    del illegal["incompatible_content_ground"], illegal["incompatible_content_explanation"]
    assert validate_statement(illegal) == {}


DROP = object()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"decision_ground": DROP}, "decision_ground"),
        ({"decision_ground": "DECISION_GROUND_BAD_VIBES"}, "decision_ground"),
        ({"incompatible_content_explanation": DROP}, "incompatible_content_explanation"),
        ({"incompatible_content_ground": "x" * 501}, "incompatible_content_ground"),
        ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"}, "illegal_content_legal_ground"),
        ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"}, "illegal_content_explanation"),
        (
            {"decision_visibility": ["DECISION_VISIBILITY_OTHER"]},
            "decision_visibility_other",
        ),
        ({"decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED"}, "decision_visibility"),
        ({"decision_visibility": ["DECISION_VISIBILITY_GONE"]}, "decision_visibility"),
        ({"decision_monetary": "DECISION_MONETARY_OTHER"}, "decision_monetary_other"),
        (
            {"decision_monetary": "DECISION_MONETARY_OTHER", "decision_monetary_other": "x" * 501},
            "decision_monetary_other",
        ),
        ({"decision_account": "DECISION_ACCOUNT_BANNED"}, "decision_account"),
        ({"decision_provision": "DECISION_PROVISION_SOME"}, "decision_provision"),
        ({"decision_visibility": DROP, "decision_account": DROP}, "decision_visibility"),
        ({"decision_visibility": DROP, "decision_account": DROP}, "decision_account"),
        ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other"),
        ({"content_type": []}, "content_type"),
        ({"content_type": ["CONTENT_TYPE_HOLOGRAM"]}, "content_type"),
        ({"category": "STATEMENT_CATEGORY_SPAM"}, "category"),
        ({"category": DROP}, "category"),
        ({"source_type": "SOURCE_USER"}, "source_type"),
        ({"automated_detection": "yes"}, "automated_detection"),
        ({"automated_decision": "AUTOMATED_DECISION_MOSTLY"}, "automated_decision"),
        ({"puid": "tsops action 17"}, "puid"),
        ({"puid": "tsops-action-17\n"}, "puid"),
        ({"puid": "a" * 501}, "puid"),
        ({"puid": DROP}, "puid"),
        ({"content_date": "2025-02-30"}, "content_date"),
        ({"content_date": "03/01/2025"}, "content_date"),
        ({"content_date": "1999-12-31"}, "content_date"),
        ({"application_date": "2019-12-31"}, "application_date"),
        ({"application_date": "2025-3-3"}, "application_date"),
        ({"application_date": DROP}, "application_date"),
        ({"end_date_account_restriction": "2025-03-02"}, "end_date_account_restriction"),
        ({"end_date_account_restriction": "soon"}, "end_date_account_restriction"),
        ({"decision_facts": "x" * 5001}, "decision_facts"),
        ({"decision_facts": DROP}, "decision_facts"),
        ({"territorial_scope": ["DE", "US"]}, "territorial_scope"),
        ({"territorial_scope": []}, "territorial_scope"),
        ({"content_language": "en"}, "content_language"),
        ({"incompatible_content_illegal": "Maybe"}, "incompatible_content_illegal"),
        ({"decision_visiblity": ["DECISION_VISIBILITY_CONTENT_REMOVED"]}, "decision_visiblity"),
    ],
)
def test_the_validator_rejects_statements_the_database_would_refuse(changes, field):
    statement = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is DROP:
            statement.pop(key, None)
        else:
            statement[key] = value
    errors = validate_statement(statement)
    assert field in errors, errors
    assert all(isinstance(m, str) and m for m in errors[field])


def test_the_facts_may_be_exactly_5000_characters():
    assert validate_statement({**VALID, "decision_facts": "x" * 5000}) == {}


# --- The API ---------------------------------------------------------------------------------


def test_the_statement_endpoint_returns_the_actions_statement(
    platform_account, senior, analyst, api_client_for
):
    action = decide(platform_account, senior).actions.get()
    client = api_client_for(analyst, ["enforcement:read"])
    response = client.get(f"/api/v1/actions/{action.pk}/statement-of-reasons")
    assert response.status_code == 200, response.json()
    assert response.json() == statement_for(action)
    assert validate_statement(response.json()) == {}


def test_the_statement_endpoint_needs_the_scope_and_visibility(
    platform_account, senior, associate, outsider, threats_specialist, api_client_for
):
    fraud = decide(platform_account, senior, reason="scam_fraud", section="FRAUD-2.1").actions.get()
    url = f"/api/v1/actions/{fraud.pk}/statement-of-reasons"
    assert api_client_for(senior, ["cases:read"]).get(url).status_code == 403
    assert api_client_for(outsider, ["enforcement:read"]).get(url).status_code == 403
    # The fraud queue is for analysts: an associate or another team cannot see its actions.
    assert api_client_for(associate, ["enforcement:read"]).get(url).status_code == 404
    assert api_client_for(threats_specialist, ["enforcement:read"]).get(url).status_code == 404
    missing = "/api/v1/actions/999999/statement-of-reasons"
    assert api_client_for(senior, ["enforcement:read"]).get(missing).status_code == 404
    assert api_client_for(senior, ["enforcement:read"]).get(url).status_code == 200


def test_an_action_never_applied_has_no_statement(
    platform_account, associate, senior, api_client_for
):
    case = make_case(platform_account, reason="spam")
    case_claim_next(actor=associate, queue=case.queue)
    case.refresh_from_db()
    decision = services.decision_make(
        actor=associate,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="spam wave",
        actions=[{"type": "ban"}],
    )
    action = decision.actions.get()
    assert action.status == "pending_approval"
    client = api_client_for(senior, ["enforcement:read"])
    response = client.get(f"/api/v1/actions/{action.pk}/statement-of-reasons")
    assert response.status_code == 409


def at(day: str):
    return time_machine.travel(datetime.fromisoformat(day).replace(tzinfo=UTC), tick=False)


@pytest.fixture
def march(platform_account, senior, associate):
    """Actions applied before, in, on the edges of and after 5–31 March 2025, plus pending and
    rejected ones inside it. Returns the puids expected in that period's export."""
    expected = set()
    with at("2025-03-04T23:59:00"):
        decide(platform_account, senior)
    for day in ("2025-03-05T00:00:00", "2025-03-18T12:00:00", "2025-03-31T23:59:00"):
        with at(day):
            decision = decide(platform_account, senior, actions=["remove_content", "suspend"])
        expected |= {f"tsops-action-{a.pk}" for a in decision.actions.all()}
    with at("2025-04-01T00:00:00"):
        decide(platform_account, senior)
    with at("2025-03-10T10:00:00"):
        for _ in range(2):
            case = make_case(platform_account, reason="spam")
            case_claim_next(actor=associate, queue=case.queue)
            case.refresh_from_db()
            services.decision_make(
                actor=associate,
                case_id=case.pk,
                version=case.version,
                outcome="violation",
                policy_section="SPAM-1.1",
                rationale="spam wave",
                actions=[{"type": "suspend", "duration_hours": 720}],
            )
        pending = EnforcementAction.objects.filter(status="pending_approval").order_by("pk")
        services.action_reject(actor=senior, action_id=pending[0].pk, reason="Too harsh.")
    assert EnforcementAction.objects.filter(status="pending_approval").count() == 1
    return expected


def export(client, **params):
    return client.get("/api/v1/statements-of-reasons", params)


def lines(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def test_the_export_streams_one_line_per_action_applied_in_the_period(
    march, senior, api_client_for
):
    client = api_client_for(senior, ["enforcement:read"])
    response = export(client, **{"from": "2025-03-05", "to": "2025-03-31"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    rows = lines(response)
    assert len(rows) == len(march) == 6
    assert {row["puid"] for row in rows} == march
    assert all(validate_statement(row) == {} for row in rows)
    assert all("2025-03-05" <= row["application_date"] <= "2025-03-31" for row in rows)
    log = AccessLog.objects.get(action="exported", actor=senior)
    assert log.detail == {"from": "2025-03-05", "to": "2025-03-31"}


def test_an_export_of_a_quiet_period_is_empty(march, senior, api_client_for):
    client = api_client_for(senior, ["enforcement:read"])
    response = export(client, **{"from": "2025-02-01", "to": "2025-02-28"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b""


def test_the_platform_may_export_and_accept_json_lines(march, platform_account, api_client_for):
    client = api_client_for(platform_account, ["enforcement:read"])
    response = client.get(
        "/api/v1/statements-of-reasons",
        {"from": "2025-03-18", "to": "2025-03-18"},
        HTTP_ACCEPT="application/x-ndjson",
    )
    assert response.status_code == 200
    assert len(lines(response)) == 2


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, {"from", "to"}),
        ({"from": "2025-03-01"}, {"to"}),
        ({"from": "1 March", "to": "2025-03-31"}, {"from"}),
        ({"from": "2025-03-01", "to": "2025-02-30"}, {"to"}),
    ],
)
def test_bad_dates_are_400_naming_the_parameter(senior, api_client_for, params, fields):
    response = export(api_client_for(senior, ["enforcement:read"]), **params)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == fields
    assert not AccessLog.objects.filter(action="exported").exists()


def test_a_period_ending_before_it_starts_is_no_such_period(senior, api_client_for):
    """The schema cannot relate ``from`` and ``to``: such a period is 404, as documented."""
    client = api_client_for(senior, ["enforcement:read"])
    response = export(client, **{"from": "2025-03-31", "to": "2025-03-01"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Must be on or after from."
    assert not AccessLog.objects.filter(action="exported").exists()


def test_only_exporters_with_the_scope_may_export(senior, analyst, support_agent, api_client_for):
    params = {"from": "2025-03-01", "to": "2025-03-31"}
    assert export(api_client_for(senior, ["cases:read"]), **params).status_code == 403
    assert export(api_client_for(analyst, ["enforcement:read"]), **params).status_code == 403
    assert export(api_client_for(support_agent, ["enforcement:read"]), **params).status_code == 403
    assert not AccessLog.objects.filter(action="exported").exists()


# --- A realistic mix, like the demo data -----------------------------------------------------

KINDS = ("content", "message", "listing", "profile", "account")


def _actions_for(kind: str, n: int) -> list[dict]:
    """A plausible set of actions for the subject kind, varied by ``n``."""
    if kind == "account":
        options = [["suspend"], ["ban"], ["require_verification"], ["demonetize", "warn"]]
    elif kind == "listing":
        options = [["remove_content", "hold_transaction"], ["remove_content", "suspend"]]
    else:
        options = [
            ["remove_content"],
            ["label"],
            ["reduce_distribution", "warn"],
            ["age_restrict"],
            ["remove_content", "restrict_feature"],
            ["remove_content", "suspend"],
        ]
    return [action_payload(code) for code in options[n % len(options)]]


def test_a_varied_set_of_decisions_all_produce_valid_statements(
    platform_account, senior, specialist, api_client_for
):
    """Every reason under its own sections, every subject kind and source, and a restricted
    case decided by its team; every applied action's statement must pass the validator."""
    n = 0
    per_kind = dict.fromkeys(KINDS, 0)
    for reason in REASONS:
        for section in policy_sections_for_reason(reason):
            n += 1
            kind = KINDS[n % len(KINDS)]
            per_kind[kind] += 1
            subject = {"kind": kind, "external_id": f"{kind}-mix-{n}", "text": f"item {n}"}
            if kind != "account":
                subject["owner_id"] = f"acct-mix-{n}"
            if n % 3 == 0 and kind in ("content", "message"):
                subject["media"] = [f"https://cdn.example/{n}.png"]
            source = SOURCES[n % len(SOURCES)]
            case = make_case(platform_account, reason=reason, **report(source, subject=subject))
            decider = senior
            if case.restricted:
                decider = specialist
                case = case_claim_next(actor=specialist, queue=case.queue)
            services.decision_make(
                actor=decider,
                case_id=case.pk,
                version=case.version,
                outcome="violation",
                policy_section=section.code,
                rationale=f"Mix {n}",
                actions=_actions_for(kind, per_kind[kind]),
                automated=n % 7 == 0,
            )
    applied = EnforcementAction.objects.filter(status__in=["active"]).select_related(
        "decision__policy_section", "case__subject", "subject"
    )
    assert applied.count() >= len(REASONS)
    seen = {"types": set(), "grounds": set(), "sources": set(), "content": set()}
    for action in applied:
        statement = statement_for(action)
        assert validate_statement(statement) == {}, (action.action_type, statement)
        seen["types"].add(action.action_type)
        seen["grounds"].add(statement["decision_ground"])
        seen["sources"].add(statement["source_type"])
        seen["content"].update(statement["content_type"])
    assert seen["types"] == set(ACTIONS)
    assert len(seen["grounds"]) == 2 and len(seen["sources"]) == 3
    assert {"CONTENT_TYPE_TEXT", "CONTENT_TYPE_PRODUCT", "CONTENT_TYPE_OTHER"} <= seen["content"]

    today = applied.first().starts_at.date().isoformat()
    # The platform's account submits every statement, restricted cases' included.
    client = api_client_for(platform_account, ["enforcement:read"])
    rows = lines(export(client, **{"from": today, "to": today}))
    assert len(rows) == applied.count()


def test_every_demo_decision_produces_a_valid_statement():
    """Runs ``seed_demo`` (which decides most demo cases through the real services) and puts
    every applied demo action's statement through the validator."""
    call_command("seed_demo", scale=0.1, stdout=io.StringIO())
    applied = EnforcementAction.objects.filter(status__in=["active", "expired", "reversed"])
    assert applied.count() > 50
    assert applied.values("action_type").distinct().count() >= 6
    exporter = get_user_model().objects.get(username="senior")
    rows = list(statements_export(actor=exporter, start=date(2020, 1, 1), end=timezone.localdate()))
    # The demo lead is an admin but on no specialist team: restricted cases stay out.
    visible = applied.filter(case__in=visible_cases(exporter))
    assert applied.exclude(pk__in=visible).exists()
    assert {row["puid"] for row in rows} == {
        f"tsops-action-{pk}" for pk in visible.values_list("pk", flat=True)
    }
    invalid = {row["puid"]: errors for row in rows if (errors := validate_statement(row))}
    assert invalid == {}
    sample = visible.order_by("?").first()
    assert statement_for(sample) in rows
    for never_applied in EnforcementAction.objects.exclude(pk__in=applied)[:5]:
        with pytest.raises(ConflictError):
            statement_get_for(actor=exporter, action_id=never_applied.pk)


def test_restricted_cases_statements_go_only_to_the_platform_and_the_team(
    platform_account, specialist, senior
):
    from cases.models import Queue
    from cases.services import case_claim_next
    from tests.conftest import make_member

    case = make_case(platform_account, reason="child_safety")
    claimed = case_claim_next(actor=specialist, queue=Queue.objects.get(slug="child-safety"))
    assert claimed.pk == case.pk
    action = services.decision_make(
        actor=specialist,
        case_id=case.pk,
        version=claimed.version,
        outcome="violation",
        policy_section="CHILD-5.1",
        rationale="Hash match confirmed",
        actions=[{"type": "remove_content"}],
    ).actions.get()
    puid = f"tsops-action-{action.pk}"
    today = timezone.localdate()

    def exported(user):
        return {row["puid"] for row in statements_export(actor=user, start=today, end=today)}

    assert puid not in exported(senior)
    assert puid in exported(platform_account)
    team_lead = make_member("cs_lead", "senior", ("child-safety",))
    assert puid in exported(team_lead)
