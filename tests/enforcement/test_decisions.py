"""Decisions: validation, immutability, ceilings and four-eyes, strikes, expiry, reversal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.http import Http404
from django.utils import timezone

from cases.models import Case
from cases.services import case_claim_next
from enforcement import services, strikes
from enforcement.models import Decision, OutboxEvent, Strike
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def claimed(platform_account, user, reason="spam", **payload):
    """A case in ``reason``'s queue, claimed by ``user``."""
    case = make_case(platform_account, reason=reason, **payload)
    got = case_claim_next(actor=user, queue=case.queue)
    assert got.pk == case.pk
    return got


def decide(user, case, **kwargs):
    defaults = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": "Same link posted 40 times in an hour.",
        "actions": [{"type": "remove_content"}],
    }
    defaults.update(kwargs)
    return services.decision_make(actor=user, case_id=case.pk, version=case.version, **defaults)


def test_a_violation_decision_applies_actions_resolves_the_case_and_emits_events(
    platform_account, analyst
):
    case = claimed(platform_account, analyst)
    decision = decide(
        analyst,
        case,
        actions=[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 72}],
    )
    case.refresh_from_db()
    assert case.status == "resolved" and case.resolved_at and case.first_action_at
    actions = {a.action_type: a for a in decision.actions.all()}
    assert actions["remove_content"].status == "active"
    suspend = actions["suspend"]
    assert suspend.subject == case.subject.owner
    assert suspend.expires_at - suspend.starts_at == timedelta(hours=72)
    types = list(OutboxEvent.objects.values_list("event_type", flat=True))
    assert types.count("action.applied") == 2
    assert "decision.made" in types and "report.outcome" in types
    assert decision.statement_of_reasons.startswith(
        "We reviewed your content under our policy SPAM-1.1"
    )
    kinds = list(case.events.values_list("kind", flat=True))
    assert "DECISION_MADE" in kinds and "ACTION_APPLIED" in kinds and "CASE_RESOLVED" in kinds


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"policy_section": ""}, "policy_section"),
        ({"rationale": " "}, "rationale"),
        ({"actions": []}, "actions"),
        ({"actions": [{"type": "vaporise"}]}, "actions[0].type"),
        ({"actions": [{"type": "suspend"}]}, "actions[0].duration_hours"),
        ({"actions": [{"type": "restrict_feature", "duration_hours": 5}]}, "actions[0].feature"),
        ({"outcome": "no_violation", "policy_section": ""}, "actions"),
    ],
)
def test_invalid_decisions_are_400_naming_the_field(
    platform_account, analyst, api_client_for, payload, field
):
    case = claimed(platform_account, analyst)
    body = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": "spam",
        "actions": [{"type": "remove_content"}],
        "version": case.version,
        **payload,
    }
    client = api_client_for(analyst, ["cases:write"])
    response = client.post(f"/api/v1/cases/{case.pk}/decision", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    assert Decision.objects.count() == 0
    assert Case.objects.get(pk=case.pk).status == "in_review"


def test_decisions_are_immutable_at_the_database(platform_account, analyst):
    case = claimed(platform_account, analyst)
    decision = decide(analyst, case)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE enforcement_decision SET outcome = 'no_violation' WHERE id = %s",
                [decision.pk],
            )
    decision.refresh_from_db()
    assert decision.outcome == "violation"


def test_only_the_claimant_or_a_senior_may_decide(platform_account, analyst, analyst2, senior):
    case = claimed(platform_account, analyst)
    with pytest.raises(PermissionDenied):
        decide(analyst2, case)
    decision = decide(senior, case)
    assert decision.decided_by == senior


def test_an_associates_30_day_suspension_waits_for_a_second_senior(
    platform_account, associate, senior, api_client_for
):
    case = claimed(platform_account, associate, reason="spam")
    decision = decide(associate, case, actions=[{"type": "suspend", "duration_hours": 720}])
    action = decision.actions.get()
    assert action.status == "pending_approval"
    case.refresh_from_db()
    assert case.status == "pending_approval"
    assert OutboxEvent.objects.filter(event_type="action.proposed").exists()
    assert not OutboxEvent.objects.filter(event_type="report.outcome").exists()
    # A senior who proposes cannot approve their own action.
    own = claimed(platform_account, senior, reason="spam")
    senior_decision = decide(senior, own, actions=[{"type": "ban"}])
    assert senior_decision.actions.get().status == "active"  # seniors may ban alone
    client = api_client_for(associate, ["cases:write"])
    assert client.post(f"/api/v1/actions/{action.pk}/approve").status_code == 403
    approver = api_client_for(senior, ["cases:write"])
    response = approver.post(f"/api/v1/actions/{action.pk}/approve")
    assert response.status_code == 200, response.json()
    action.refresh_from_db()
    assert action.status == "active" and action.approved_by == senior
    case.refresh_from_db()
    assert case.status == "resolved"
    assert OutboxEvent.objects.filter(event_type="report.outcome").exists()
    again = approver.post(f"/api/v1/actions/{action.pk}/approve")
    assert again.status_code == 409


def test_the_proposer_cannot_approve_their_own_action_whatever_their_role(
    platform_account, analyst, senior, api_client_for
):
    case = claimed(platform_account, analyst)
    decision = decide(analyst, case, actions=[{"type": "ban"}])
    action = decision.actions.get()
    assert action.status == "pending_approval"
    with pytest.raises(PermissionDenied):
        services.action_approve(actor=analyst, action_id=action.pk)
    # The senior reviewing can reject it; the case returns to its queue with the reason.
    services.action_reject(
        actor=senior, action_id=action.pk, reason="Not enough evidence for a ban"
    )
    case.refresh_from_db()
    assert case.status == "new"
    assert case.events.filter(kind="ACTION_REJECTED", data__reason__icontains="evidence").exists()
    assert not Strike.objects.filter(decision=decision, voided_at__isnull=True).exists()


def test_strikes_accumulate_expire_and_drive_the_recommendation(platform_account, analyst):
    subject = {"kind": "content", "owner_id": "acct-repeat"}
    for n in range(2):
        case = claimed(
            platform_account, analyst, subject={**subject, "external_id": f"post-rep-{n}"}
        )
        decide(analyst, case)
    account = Case.objects.first().subject.owner
    assert strikes.active_strikes(account) == 2
    recommendation = strikes.recommend(account, 3)
    assert (recommendation.action, recommendation.duration_hours) == ("suspend", 24)
    case = claimed(platform_account, analyst, subject={**subject, "external_id": "post-rep-9"})
    decision = decide(analyst, case, actions=[{"type": "remove_content"}])
    assert decision.recommended_action == "suspend 24h"
    assert decision.followed_recommendation is False
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        assert strikes.active_strikes(account) == 0


def test_expiry_by_the_task_is_idempotent_and_reads_see_it_before(platform_account, analyst):
    case = claimed(platform_account, analyst)
    decision = decide(analyst, case, actions=[{"type": "suspend", "duration_hours": 24}])
    action = decision.actions.get()
    later = timezone.now() + timedelta(hours=25)
    assert action.effective_status(later) == "expired"
    assert action.status == "active"
    assert services.actions_expire_due(now=later) == 1
    assert services.actions_expire_due(now=later) == 0
    action.refresh_from_db()
    assert action.status == "expired" and action.ended_at == action.expires_at
    assert OutboxEvent.objects.filter(event_type="action.expired").count() == 1


def test_reversal_needs_a_senior_and_a_reason(platform_account, analyst, senior):
    case = claimed(platform_account, analyst)
    action = decide(analyst, case).actions.get()
    with pytest.raises(PermissionDenied):
        services.action_reverse(actor=analyst, action_id=action.pk, reason="oops")
    services.action_reverse(actor=senior, action_id=action.pk, reason="Wrong account")
    action.refresh_from_db()
    assert action.status == "reversed" and action.reversed_by == senior
    assert OutboxEvent.objects.filter(event_type="action.reversed").exists()
    assert case.events.filter(kind="ACTION_REVERSED").exists()
    assert not Strike.objects.filter(decision=action.decision, voided_at__isnull=True).exists()


def test_a_stale_version_is_409_and_nothing_is_decided(platform_account, analyst, api_client_for):
    case = claimed(platform_account, analyst)
    client = api_client_for(analyst, ["cases:write"])
    response = client.post(
        f"/api/v1/cases/{case.pk}/decision",
        {"outcome": "no_violation", "rationale": "fine", "version": case.version - 1},
        format="json",
    )
    assert response.status_code == 409
    assert Decision.objects.count() == 0


VALID = {
    "outcome": "violation",
    "policy_section": "SPAM-1.1",
    "rationale": "Same link posted 40 times in an hour.",
    "actions": [{"type": "remove_content"}],
}
# Refused by the input serializer (the view) and by the service's own checks.
INVALID_BODIES = [{"rationale": ""}, {"actions": [{"type": "vaporise"}]}]


def post_decision(client, case_id: int, body: dict):
    return client.post(f"/api/v1/cases/{case_id}/decision", body, format="json")


def test_a_case_the_decider_may_not_see_is_404_whatever_the_body(
    platform_account, analyst, specialist, api_client_for
):
    hidden = make_case(platform_account, reason="child_safety")
    assert hidden.restricted
    client = api_client_for(analyst, ["cases:write"])
    valid = {**VALID, "version": hidden.version}
    for body in (valid, *({**valid, **change} for change in INVALID_BODIES)):
        assert post_decision(client, hidden.pk, body).status_code == 404, body
    assert post_decision(client, hidden.pk + 1000, {**valid, "rationale": ""}).status_code == 404
    # The service answers the same before it reads the input.
    with pytest.raises(Http404):
        decide(analyst, hidden, rationale="", actions=[{"type": "vaporise"}])
    assert not Decision.objects.exists()
    assert Case.objects.get(pk=hidden.pk).status == "new"


def test_someone_not_entitled_to_decide_is_403_whatever_the_body(
    platform_account, analyst, analyst2, api_client_for
):
    case = claimed(platform_account, analyst)
    client = api_client_for(analyst2, ["cases:write"])
    valid = {**VALID, "version": case.version}
    for body in (valid, *({**valid, **change} for change in INVALID_BODIES)):
        assert post_decision(client, case.pk, body).status_code == 403, body
    with pytest.raises(PermissionDenied):
        decide(analyst2, case, rationale="", actions=[{"type": "vaporise"}])
    assert not Decision.objects.exists()


def test_invalid_input_is_400_before_a_stale_version_is_409(
    platform_account, analyst, api_client_for
):
    case = claimed(platform_account, analyst)
    client = api_client_for(analyst, ["cases:write"])
    stale = {**VALID, "version": case.version - 1}
    for change in INVALID_BODIES:
        assert post_decision(client, case.pk, {**stale, **change}).status_code == 400, change
    assert post_decision(client, case.pk, stale).status_code == 409
    assert not Decision.objects.exists()


def test_policies_api_lists_current_sections(analyst, api_client_for):
    response = api_client_for(analyst, ["cases:read"]).get("/api/v1/policies")
    codes = {s["code"]: s for s in response.json()}
    assert codes["SPAM-1.1"]["severity"] == "P3"
    assert "public_summary" in codes["CHILD-5.1"] and "internal_guidance" not in codes["CHILD-5.1"]


def test_bulk_decisions_give_each_case_its_own_decision(platform_account, analyst, api_client_for):
    cases = [make_case(platform_account, reason="spam") for _ in range(3)]
    client = api_client_for(analyst, ["cases:write"])
    response = client.post(
        "/api/v1/decisions/bulk",
        {
            "case_ids": [c.pk for c in cases],
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "rationale": "Spam wave from one detector",
            "actions": [{"type": "remove_content"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert len(response.json()) == 3
    for case in cases:
        case.refresh_from_db()
        assert case.status == "resolved"
        assert case.decisions.get().actions.count() == 1
        assert case.events.filter(kind="DECISION_MADE").count() == 1


def test_bulk_decisions_are_all_or_nothing(platform_account, analyst, api_client_for):
    good = make_case(platform_account, reason="spam")
    account_case = make_case(
        platform_account, reason="spam", subject={"kind": "account", "external_id": "acct-only"}
    )
    client = api_client_for(analyst, ["cases:write"])
    response = client.post(
        "/api/v1/decisions/bulk",
        {
            "case_ids": [good.pk, account_case.pk],
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "rationale": "wave",
            "actions": [{"type": "remove_content"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert any(str(account_case.pk) in key for key in response.json()["error"]["fields"])
    assert Decision.objects.count() == 0
    good.refresh_from_db()
    assert good.status == "new"


def test_revising_a_section_keeps_the_old_version_on_its_decisions(
    platform_account, analyst, senior
):
    from enforcement.models import PolicySection

    case = claimed(platform_account, analyst)
    decision = decide(analyst, case)
    old = decision.policy_section
    revised = services.policy_section_revise(
        actor=senior, section=old, public_summary="A clearer summary."
    )
    assert revised.version == old.version + 1 and revised.is_current
    old.refresh_from_db()
    assert not old.is_current
    decision.refresh_from_db()
    assert decision.policy_section_id == old.pk
    assert PolicySection.objects.get(code="SPAM-1.1", superseded_at__isnull=True) == revised
    with pytest.raises(PermissionDenied):
        services.policy_section_revise(actor=analyst, section=revised, title="x")


def test_associates_may_not_decide_in_bulk(platform_account, associate, api_client_for):
    case = make_case(platform_account, reason="spam")
    response = api_client_for(associate, ["cases:write"]).post(
        "/api/v1/decisions/bulk",
        {
            "case_ids": [case.pk],
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "rationale": "wave",
            "actions": [{"type": "remove_content"}],
        },
        format="json",
    )
    assert response.status_code == 403
    assert Decision.objects.count() == 0
