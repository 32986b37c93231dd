"""What one decision writes, and what it costs: the set-based writer (``enforcement.bulk``)
behind ``POST /api/v1/cases/{id}/decision``."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.lifecycle import case_lock_with_subject
from cases.models import Case, Report
from cases.services import case_claim_next
from enforcement.bulk import decision_write
from enforcement.models import Decision, EnforcementAction, OutboxEvent, Strike
from enforcement.serializers import DecisionSerializer
from enforcement.services import ActionRequest, current_rules
from tests.factories import make_case
from tsops.errors import ConflictError

pytestmark = pytest.mark.django_db

# The decision of a content violation by a known account, through the API: the key with its
# user (1), the case locked as the actor may see it, with the guards that may close it to them
# (1), the section with the strike policy and the user-message template (1), the account's
# strikes (1), the ids of the decision and its actions (1), then one round trip for every
# write — the decision, the actions with their history, the strike, the timeline, the outbox
# with every report's outcome, and the case's move with its history and event (1) — and the
# savepoint of the test's transaction around them (2).
MAX_QUERIES = 8


def claimed_with_reports(platform_account, analyst, name: str, reports: int) -> Case:
    subject = {"kind": "content", "external_id": f"post-{name}", "owner_id": f"acct-{name}"}
    for _ in range(reports):
        make_case(platform_account, reason="spam", subject=subject)
    case = Case.objects.get(subject__external_id=f"post-{name}")
    assert case.reports.count() == reports
    claimed = case_claim_next(actor=analyst, queue=case.queue)
    assert claimed.pk == case.pk
    return claimed


def post_decision(client, case: Case, actions=None):
    return client.post(
        f"/api/v1/cases/{case.pk}/decision",
        {
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "rationale": "Same link posted 40 times in an hour.",
            "version": case.version,
            "actions": actions or [{"type": "remove_content"}],
        },
        format="json",
    )


def test_a_decision_takes_the_same_few_queries_however_many_reports_its_case_has(
    platform_account, analyst, api_client_for
):
    # The clock stands still: a key records its use at most once a minute, and a slow machine
    # must not let that write fall into one of the counted requests.
    with time_machine.travel(timezone.now(), tick=False):
        _decisions_counted(platform_account, analyst, api_client_for)


def _decisions_counted(platform_account, analyst, api_client_for):
    client = api_client_for(analyst, ["cases:write"])
    # The key's first use records when it was used; later requests do not.
    warm = claimed_with_reports(platform_account, analyst, "warm", 1)
    assert post_decision(client, warm).status_code == 201
    counts = {}
    for reports in (1, 25):
        case = claimed_with_reports(platform_account, analyst, f"q{reports}", reports)
        with CaptureQueriesContext(connection) as queries:
            response = post_decision(client, case)
        assert response.status_code == 201, response.json()
        counts[reports] = len(queries.captured_queries)
        outcomes = OutboxEvent.objects.filter(event_type="report.outcome", payload__case_id=case.pk)
        assert outcomes.count() == reports
    assert counts[1] == counts[25] <= MAX_QUERIES, counts
    # More actions are still one statement.
    case = claimed_with_reports(platform_account, analyst, "two-actions", 1)
    with CaptureQueriesContext(connection) as queries:
        response = post_decision(
            client,
            case,
            [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 24}],
        )
    assert response.status_code == 201, response.json()
    assert len(queries.captured_queries) == counts[1]


def test_the_answer_is_the_decision_as_read_back(platform_account, analyst, api_client_for):
    case = claimed_with_reports(platform_account, analyst, "answer", 2)
    response = post_decision(
        api_client_for(analyst, ["cases:write"]),
        case,
        [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 72}],
    )
    assert response.status_code == 201, response.json()
    decision = Decision.objects.select_related("case", "policy_section", "decided_by").get()
    assert response.json() == DecisionSerializer(decision).data
    assert response.json()["case_status"] == "resolved"
    assert [a["type"] for a in response.json()["actions"]] == ["remove_content", "suspend"]


def test_a_decision_writes_every_row_with_history_events_and_outbox_in_order(
    platform_account, analyst, api_client_for
):
    case = claimed_with_reports(platform_account, analyst, "rows", 3)
    response = post_decision(
        api_client_for(analyst, ["cases:write"]),
        case,
        [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 24}],
    )
    assert response.status_code == 201, response.json()
    decision = Decision.objects.get()
    actions = list(decision.actions.order_by("pk"))
    case.refresh_from_db()
    # The case moved with the claim cleared, stamps set, the version bumped and a history row.
    assert case.status == "resolved" and case.claimed_by_id is None
    assert case.resolved_at == decision.created_at == case.first_action_at
    last = case.history.order_by("-history_id").first()
    assert (last.status, last.history_user_id, last.history_change_reason) == (
        "resolved",
        analyst.pk,
        "decided: violation",
    )
    assert last.version == case.version
    # Each action has its creation history row naming the actor.
    for action in actions:
        row = action.history.get()
        assert (row.history_type, row.history_user_id, row.status) == ("+", analyst.pk, "active")
    suspend = actions[1]
    assert suspend.subject == case.subject.owner and suspend.expires_at and suspend.starts_at
    # One strike for the known account.
    assert Strike.objects.filter(decision=decision, account=case.subject.owner).count() == 1
    # The timeline: the decision, each action, then the resolution, at one moment.
    events = list(case.events.filter(at=decision.created_at).order_by("pk"))
    assert [e.kind for e in events] == [
        "DECISION_MADE",
        "ACTION_APPLIED",
        "ACTION_APPLIED",
        "CASE_RESOLVED",
    ]
    assert events[0].actor_id == analyst.pk
    assert events[0].data == {
        "decision_id": decision.pk,
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "recommended": decision.recommended_action,
        "followed": decision.followed_recommendation,
    }
    assert events[2].data == {"action_id": suspend.pk, "type": "suspend", "hours": 24}
    assert events[3].data == {"decision_id": decision.pk}
    # The outbox, in the order written: actions, the decision, one outcome per report.
    outbox = list(OutboxEvent.objects.order_by("created_at"))
    assert [e.event_type for e in outbox] == [
        "action.applied",
        "action.applied",
        "decision.made",
        "report.outcome",
        "report.outcome",
        "report.outcome",
    ]
    assert outbox[1].payload["action_id"] == suspend.pk
    assert outbox[2].payload["actions"] == [
        {"action_id": a.pk, "type": a.action_type, "status": "active"} for a in actions
    ]
    reports = Report.objects.filter(case=case).order_by("pk")
    assert [e.payload for e in outbox[3:]] == [
        {
            "report_id": report.pk,
            "source": report.source,
            "external_id": report.external_id,
            "case_id": case.pk,
            "decision_id": decision.pk,
            "outcome": "violation",
            "action_taken": True,
            "emitted_at": outbox[3].payload["emitted_at"],
        }
        for report in reports
    ]


def test_a_decision_awaiting_approval_moves_the_case_to_pending_without_outcomes(
    platform_account, associate, api_client_for
):
    case = claimed_with_reports(platform_account, associate, "pending", 2)
    response = post_decision(
        api_client_for(associate, ["cases:write"]),
        case,
        [{"type": "remove_content"}, {"type": "suspend", "duration_hours": 720}],
    )
    assert response.status_code == 201, response.json()
    assert response.json()["case_status"] == "pending_approval"
    statuses = dict(EnforcementAction.objects.values_list("action_type", "status"))
    assert statuses == {"remove_content": "active", "suspend": "pending_approval"}
    case.refresh_from_db()
    assert case.status == "pending_approval" and case.resolved_at is None
    assert case.first_action_at is not None and case.claimed_by_id is None
    assert case.history.order_by("-history_id").first().status == "pending_approval"
    kinds = list(case.events.order_by("pk").values_list("kind", flat=True))
    assert kinds[-3:] == ["DECISION_MADE", "ACTION_APPLIED", "ACTION_PROPOSED"]
    assert "CASE_RESOLVED" not in kinds
    types = sorted(OutboxEvent.objects.values_list("event_type", flat=True))
    assert types == ["action.applied", "action.proposed", "decision.made"]


def test_a_no_violation_decision_tells_each_reporter_no_action_was_taken(
    platform_account, analyst, api_client_for
):
    case = claimed_with_reports(platform_account, analyst, "fine", 2)
    response = api_client_for(analyst, ["cases:write"]).post(
        f"/api/v1/cases/{case.pk}/decision",
        {"outcome": "no_violation", "rationale": "Satire.", "version": case.version},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["actions"] == [] and response.json()["policy_section"] is None
    assert not Strike.objects.exists()
    outcomes = OutboxEvent.objects.filter(event_type="report.outcome")
    assert outcomes.count() == 2
    assert {e.payload["action_taken"] for e in outcomes} == {False}
    decision_made = OutboxEvent.objects.get(event_type="decision.made")
    assert decision_made.payload["policy_section"] is None
    assert decision_made.payload["actions"] == []


def test_a_case_that_changed_under_the_writer_leaves_nothing_of_the_decision(
    platform_account, analyst
):
    """Every write goes in one round trip with the case's move last: when the move finds the
    case changed, the transaction is refused and takes the other writes with it."""
    case = claimed_with_reports(platform_account, analyst, "changed", 2)
    rules = current_rules("SPAM-1.1")
    with pytest.raises(ConflictError), transaction.atomic():
        locked = case_lock_with_subject(case.pk, analyst, guarded=True)
        Case.objects.filter(pk=case.pk).update(status="resolved")
        decision_write(
            actor=analyst,
            case=locked,
            outcome="violation",
            rules=rules,
            requests=[ActionRequest("remove_content")],
            rationale="Spam.",
            statement_of_reasons="",
            automated=False,
            now=timezone.now(),
        )
    assert not Decision.objects.exists() and not EnforcementAction.objects.exists()
    assert not OutboxEvent.objects.exists() and not Strike.objects.exists()
    assert not case.events.filter(kind__in=["DECISION_MADE", "ACTION_APPLIED"]).exists()
    assert Case.objects.get(pk=case.pk).status == "in_review"
