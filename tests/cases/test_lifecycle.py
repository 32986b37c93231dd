"""The case lifecycle (cases.lifecycle): one transition function for every ORM status write,
the set-based SQL writers checked against the same table, and reopening as rework."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from appeals import services as appeals
from cases import lifecycle
from cases.intake import report_submit
from cases.lifecycle import (
    SQL_WRITERS,
    InvalidTransition,
    ReopenTrigger,
    case_lock,
    case_reopen,
    case_reopen_with_evidence,
    case_transition,
)
from cases.models import Case, CaseEvent, CaseLink
from cases.services import case_claim, case_claim_next, case_expire_leases, evidence_add
from cases.timeline import EventKind
from enforcement import services as enforcement
from escalations import services as escalations
from tests.factories import ReportPayloadFactory, make_case

pytestmark = pytest.mark.django_db

Status = Case.Status
# Sorted: parallel test workers must collect the same parameters in the same order.
ALL_MOVES = sorted(
    (source, target) for source, targets in Case.TRANSITIONS.items() for target in targets
)


def history_rows(case: Case) -> int:
    return case.history.count()


def spam_case(platform_account, external_id: str = "post-life", **subject) -> Case:
    return make_case(
        platform_account,
        reason="spam",
        subject={"kind": "content", "external_id": external_id, "owner_id": "acct-life", **subject},
    )


def decide(actor, case: Case, outcome: str = "violation") -> Case:
    claimed = case_claim(actor=actor, case_id=case.pk)
    enforcement.decision_make(
        actor=actor,
        case_id=case.pk,
        version=claimed.version,
        outcome=outcome,
        policy_section="SPAM-1.1" if outcome == "violation" else "",
        rationale="Checked against policy.",
        actions=[{"type": "remove_content"}] if outcome == "violation" else None,
    )
    return Case.objects.get(pk=case.pk)


# --- the transition function ------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), ALL_MOVES)
def test_every_allowed_move_stamps_saves_and_records(platform_account, senior, source, target):
    case = spam_case(platform_account, external_id=f"post-{source}-{target}")
    Case.objects.filter(pk=case.pk).update(
        status=source,
        claimed_by=senior if source == Status.IN_REVIEW else None,
        resolved_at=timezone.now() - timedelta(hours=1) if source == Status.RESOLVED else None,
    )
    case = case_lock(case.pk, senior)
    before = (case.version, history_rows(case), case.reopen_count)

    case_transition(
        case, target, actor=senior, reason="test move", event=EventKind.CASE_ASSIGNED, data={"n": 1}
    )

    case.refresh_from_db()
    assert case.status == target
    assert case.version == before[0] + 1
    latest = case.history.first()
    assert history_rows(case) == before[1] + 1
    assert latest.history_user == senior and latest.history_change_reason == "test move"
    assert case.events.filter(kind=EventKind.CASE_ASSIGNED, data__n=1, actor=senior).exists()
    # The claim is held only in review, by the claimant.
    assert (case.claimed_by_id is not None) == (target == Status.IN_REVIEW)
    assert (case.lease_expires_at is not None) == (target == Status.IN_REVIEW)
    if target in lifecycle.FIRST_ACTION_TARGETS:
        assert case.first_action_at is not None
    assert (case.resolved_at is not None) == (target == Status.RESOLVED)
    assert case.reopen_count == before[2] + (1 if source == Status.RESOLVED else 0)


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in Status.values for t in Status.values if t not in Case.TRANSITIONS[s]],
)
def test_a_move_the_table_refuses_is_a_conflict_and_writes_nothing(
    platform_account, senior, source, target
):
    case = spam_case(platform_account, external_id=f"post-no-{source}-{target}")
    Case.objects.filter(pk=case.pk).update(status=source)
    case = case_lock(case.pk, senior)
    version, rows = case.version, history_rows(case)
    with pytest.raises(InvalidTransition):
        case_transition(case, target, actor=senior, reason="refused", event=None)
    case.refresh_from_db()
    assert (case.status, case.version, history_rows(case)) == (source, version, rows)


# --- the set-based SQL writers, checked against the same table ----------------------------------


def test_every_sql_writer_declares_only_moves_the_table_allows():
    for writer in SQL_WRITERS:
        for source, target in writer.moves:
            assert target in Case.TRANSITIONS[source], writer.name
    # The claim and expiry statements take their statuses from the declared moves.
    assert lifecycle.CLAIM.moves == ((Status.NEW, Status.IN_REVIEW),)
    assert lifecycle.LEASE_EXPIRY.moves == ((Status.IN_REVIEW, Status.NEW),)


def test_the_claim_statement_makes_its_move_with_event_and_history(platform_account, analyst):
    case = spam_case(platform_account)
    rows = history_rows(case)
    claimed = case_claim_next(actor=analyst, queue=case.queue)
    assert claimed.pk == case.pk
    assert (Status.NEW, claimed.status) in lifecycle.CLAIM.moves
    assert claimed.claimed_by == analyst and claimed.first_claimed_at is not None
    assert history_rows(claimed) == rows + 1
    assert claimed.history.first().history_user == analyst
    assert claimed.events.filter(kind=EventKind.CASE_CLAIMED).count() == 1


def test_the_lease_expiry_statement_makes_its_move_with_event_and_history(
    platform_account, analyst
):
    case = spam_case(platform_account)
    claimed = case_claim_next(actor=analyst, queue=case.queue)
    rows, version = history_rows(claimed), claimed.version
    with time_machine.travel(timezone.now() + lifecycle.LEASE + timedelta(minutes=1)):
        assert case_expire_leases() == 1
    claimed.refresh_from_db()
    assert (Status.IN_REVIEW, claimed.status) in lifecycle.LEASE_EXPIRY.moves
    assert claimed.claimed_by is None and claimed.version == version + 1
    assert history_rows(claimed) == rows + 1
    assert claimed.history.first().history_change_reason == "claim lease expired"
    assert claimed.events.filter(kind=EventKind.CASE_LEASE_EXPIRED, data__user_id=analyst.pk)


def test_intake_restricting_a_claimed_case_makes_its_declared_move(platform_account, analyst):
    case = spam_case(platform_account, external_id="post-turns-cs")
    claimed = case_claim(actor=analyst, case_id=case.pk)
    rows = history_rows(claimed)
    result = report_submit(
        actor=platform_account,
        data=ReportPayloadFactory(
            reason="child_safety",
            subject={"kind": "content", "external_id": "post-turns-cs", "owner_id": "acct-life"},
        ),
    )
    assert result.case_id == case.pk
    after = Case.objects.get(pk=case.pk)
    assert (claimed.status, after.status) in lifecycle.INTAKE_RESTRICT.moves
    assert after.restricted and after.claimed_by is None
    assert history_rows(after) == rows + 1
    assert after.events.filter(kind=EventKind.CASE_RESTRICTED).exists()


# --- drift the one function fixed --------------------------------------------------------------


def test_an_escalation_resolved_without_a_decision_records_the_resolution(
    platform_account, analyst, threats_specialist
):
    case = spam_case(platform_account, external_id="post-threat-life")
    escalation = escalations.escalation_raise(
        actor=analyst,
        case_id=case.pk,
        team="threats",
        severity="P1",
        summary="Named place and time.",
        criteria="Credible threat.",
    )
    escalations.escalation_resolve(
        actor=threats_specialist, escalation_id=escalation.pk, outcome="Referred to police."
    )
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and case.resolved_at is not None
    resolved = case.events.get(kind=EventKind.CASE_RESOLVED)
    assert resolved.actor == threats_specialist
    assert resolved.data["escalation_id"] == escalation.pk
    assert case.history.first().history_user == threats_specialist


def test_a_rule_escalation_stamps_first_action_and_names_the_submitter_in_history(
    platform_account,
):
    case = spam_case(platform_account, external_id="post-rule-life")
    from tests.factories import routing_rule

    rule = routing_rule(name="threat words", queue=case.queue, escalate_team="threats")
    escalation = escalations.escalation_raise_by_rule(
        case_id=case.pk, team="threats", severity=1, rule=rule, submitted_by=platform_account
    )
    assert escalation is not None
    case.refresh_from_db()
    assert case.status == Status.ESCALATED
    assert case.first_action_at is not None
    assert case.history.first().history_user == platform_account


# --- reopening ---------------------------------------------------------------------------------


def test_an_overturned_appeal_reopens_the_case_into_its_queue(
    platform_account, analyst, analyst2, support_agent
):
    case = decide(analyst, spam_case(platform_account))
    first_due = case.resolve_due
    action = case.actions.get()
    appeal, _ = appeals.appeal_file(
        actor=support_agent, action_id=action.pk, statement="Not spam", external_id="life-1"
    )
    appeals.appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome="overturned",
        rationale="A product review, not spam.",
        response_to_user="We restored your post.",
    )
    case.refresh_from_db()
    assert case.status == Status.NEW and case.resolved_at is None
    assert case.reopen_count == 1
    assert case.resolve_due > first_due  # fresh deadlines from the reopen
    reopened = case.events.get(kind=EventKind.CASE_REOPENED)
    assert reopened.data["trigger"] == ReopenTrigger.APPEAL_OVERTURNED
    assert reopened.data["appeal_id"] == appeal.pk and reopened.actor == analyst2
    # Worked again like any case: claimed from its queue and decided; the new decision is the
    # case's decision of record.
    assert case_claim_next(actor=analyst, queue=case.queue).pk == case.pk
    decided = decide(analyst, Case.objects.get(pk=case.pk), outcome="no_violation")
    assert decided.status == Status.RESOLVED
    assert decided.decisions.order_by("-pk").first().outcome == "no_violation"


def test_reopened_work_joins_the_subjects_open_case(
    platform_account, analyst, analyst2, support_agent
):
    case = decide(analyst, spam_case(platform_account, external_id="post-twice"))
    newer = spam_case(platform_account, external_id="post-twice")
    assert newer.pk != case.pk and newer.is_open
    joined = case_reopen(
        actor=analyst2,
        case_id=case.pk,
        trigger=ReopenTrigger.NEW_EVIDENCE,
        reason="A screenshot shows it was a reply, not spam.",
        checked=True,
    )
    case.refresh_from_db()
    assert joined.pk == newer.pk
    assert case.status == Status.RESOLVED and case.reopen_count == 1
    assert case.events.get(kind=EventKind.CASE_REOPENED).data["joined_case_id"] == newer.pk
    assert CaseLink.objects.filter(from_case=newer, to_case=case).exists()


def test_new_evidence_reopens_a_resolved_case(platform_account, analyst, analyst2):
    case = decide(analyst, spam_case(platform_account))
    with pytest.raises(ValidationError):
        case_reopen_with_evidence(actor=analyst2, case_id=case.pk, reason="New screenshot")
    evidence = evidence_add(
        actor=analyst2, case_id=case.pk, kind="excerpt", excerpt="The link was a receipt."
    )
    reopened = case_reopen_with_evidence(
        actor=analyst2, case_id=case.pk, reason="The link was a receipt."
    )
    assert reopened.status == Status.NEW and reopened.reopen_count == 1
    event = reopened.events.get(kind=EventKind.CASE_REOPENED)
    assert event.data["trigger"] == ReopenTrigger.NEW_EVIDENCE
    assert event.data["evidence_id"] == evidence.pk


def test_only_entitled_people_reopen_and_never_an_open_case(
    platform_account, analyst, analyst2, associate, outsider
):
    case = decide(analyst, spam_case(platform_account))
    evidence_add(actor=analyst2, case_id=case.pk, kind="excerpt", excerpt="new")
    with pytest.raises(PermissionDenied):
        case_reopen_with_evidence(actor=associate, case_id=case.pk, reason="I think so")
    with pytest.raises(Http404):
        case_reopen_with_evidence(actor=outsider, case_id=case.pk, reason="I think so")
    assert Case.objects.get(pk=case.pk).status == Status.RESOLVED
    case_reopen_with_evidence(actor=analyst2, case_id=case.pk, reason="Receipt, not spam")
    with pytest.raises(InvalidTransition):
        case_reopen(
            actor=analyst2, case_id=case.pk, trigger=ReopenTrigger.NEW_EVIDENCE, reason="again"
        )
    assert CaseEvent.objects.filter(case=case, kind=EventKind.CASE_REOPENED).count() == 1


def test_the_case_page_offers_reopening_to_analysts_only(
    platform_account, analyst, analyst2, associate, client
):
    case = decide(analyst, spam_case(platform_account))
    url = reverse("cases:case-detail", args=[case.pk])
    client.force_login(associate)
    assert b'data-testid="reopen"' not in client.get(url).content
    response = client.post(reverse("cases:case-reopen", args=[case.pk]), {"reason": "x"})
    assert response.status_code == 403
    client.force_login(analyst2)
    assert b'data-testid="reopen"' in client.get(url).content
    evidence_add(actor=analyst2, case_id=case.pk, kind="excerpt", excerpt="receipt")
    response = client.post(reverse("cases:case-reopen", args=[case.pk]), {"reason": "receipt"})
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).status == Status.NEW


def test_a_second_overturned_appeal_on_a_reopened_case_lands_in_the_open_case(
    platform_account, analyst, analyst2, support_agent
):
    case = spam_case(platform_account, external_id="post-two-actions")
    claimed = case_claim(actor=analyst, case_id=case.pk)
    enforcement.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=claimed.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Spam and a spammer.",
        actions=[{"type": "remove_content"}, {"type": "warn"}],
    )
    for number, action in enumerate(Case.objects.get(pk=case.pk).actions.order_by("pk")):
        appeal, _ = appeals.appeal_file(
            actor=support_agent,
            action_id=action.pk,
            statement="Not spam",
            external_id=f"two-{number}",
        )
        appeals.appeal_decide(
            actor=analyst2,
            appeal_id=appeal.pk,
            outcome="overturned",
            rationale="A product review.",
            response_to_user="Restored.",
        )
    case.refresh_from_db()
    assert case.status == Status.NEW and case.reopen_count == 1
    assert case.events.filter(kind=EventKind.CASE_REOPENED).count() == 1
