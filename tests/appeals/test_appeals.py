"""Appeals: eligibility, idempotent intake, independence, outcomes, SLA, and the lookup."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from appeals import services
from appeals.models import Appeal
from cases.models import Case, Queue
from cases.services import case_claim_next
from enforcement import services as enforcement
from enforcement.models import OutboxEvent, Strike
from tests.factories import make_case
from tsops.models import Notification

pytestmark = pytest.mark.django_db


def enforce(platform_account, decider, actions=None, approver=None):
    case = make_case(
        platform_account,
        reason="spam",
        subject={
            "kind": "content",
            "external_id": f"post-a-{decider.pk}-{Appeal.objects.count()}",
            "owner_id": "acct-appellant",
            "text": "buy followers",
        },
    )
    case_claim_next(actor=decider, queue=case.queue)
    case.refresh_from_db()
    decision = enforcement.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Spam link farm",
        actions=actions or [{"type": "suspend", "duration_hours": 72}],
    )
    action = decision.actions.get()
    if approver is not None:
        enforcement.action_approve(actor=approver, action_id=action.pk)
        action.refresh_from_db()
    return action


def file(client, action, key="ap-1", statement="I was hacked, it wasn't me"):
    return client.post(
        "/api/v1/appeals",
        {
            "action_id": action.pk,
            "statement": statement,
            "appellant_id": "user-77",
            "external_id": key,
        },
        format="json",
    )


@pytest.fixture
def support_client(support_agent, api_client_for):
    return api_client_for(support_agent, ["appeals:write", "enforcement:read"])


def test_filing_is_idempotent_on_external_id(platform_account, analyst, support_client):
    action = enforce(platform_account, analyst)
    first = file(support_client, action)
    assert first.status_code == 201, first.json()
    again = file(support_client, action)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Appeal.objects.count() == 1
    appeal = Appeal.objects.get()
    assert appeal.status == "new" and appeal.queue.slug == "appeals"
    assert appeal.due_at - appeal.filed_at == timedelta(hours=72)
    assert appeal.appellant_hash and "user-77" not in appeal.appellant_hash


def test_eligibility_is_checked_and_explained(platform_account, analyst, support_client):
    action = enforce(platform_account, analyst)
    assert file(support_client, action, key="a").status_code == 201
    duplicate = file(support_client, action, key="b")
    assert duplicate.status_code == 409
    assert "open appeal" in duplicate.json()["error"]["message"]
    unknown = support_client.post(
        "/api/v1/appeals",
        {"action_id": 999999, "statement": "x", "external_id": "c"},
        format="json",
    )
    assert unknown.status_code == 404 and "No such action" in unknown.json()["error"]["message"]
    old = enforce(platform_account, analyst, actions=[{"type": "remove_content"}])
    with time_machine.travel(timezone.now() + timedelta(days=200)):
        late = file(support_client, old, key="d")
    assert late.status_code == 409
    assert "window" in late.json()["error"]["message"]
    missing = support_client.post("/api/v1/appeals", {"action_id": old.pk}, format="json")
    assert missing.status_code == 400
    assert {"statement", "external_id"} <= set(missing.json()["error"]["fields"])


def test_the_decider_and_approver_never_review_and_never_get_it_from_next(
    platform_account, associate, analyst, analyst2, senior, support_agent, api_client_for
):
    action = enforce(
        platform_account,
        associate,
        actions=[{"type": "suspend", "duration_hours": 720}],
        approver=senior,
    )
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="unfair", external_id="k1"
    )
    queue = Queue.objects.get(slug="appeals")
    assert services.appeal_claim_next(actor=senior, queue=queue) is None
    with pytest.raises(PermissionDenied):
        services.appeal_decide(
            actor=senior,
            appeal_id=appeal.pk,
            outcome="upheld",
            rationale="fine",
            response_to_user="It stands",
        )
    client = api_client_for(senior, ["cases:write"])
    response = client.post(
        f"/api/v1/appeals/{appeal.pk}/decision",
        {"outcome": "upheld", "rationale": "x", "response_to_user": "y"},
        format="json",
    )
    assert response.status_code == 403
    claimed = api_client_for(analyst2, ["cases:write"]).post("/api/v1/queues/appeals/claim")
    assert claimed.status_code == 200 and claimed.json()["id"] == appeal.pk
    assert claimed.json()["action"]["decision"]["rationale"] == "Spam link farm"


def test_ban_appeals_need_a_senior(platform_account, analyst, analyst2, senior, support_agent):
    from tests.conftest import make_member

    other_senior = make_member("other_senior", "senior")
    action = enforce(platform_account, analyst, actions=[{"type": "ban"}], approver=senior)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="please", external_id="ban-1"
    )
    assert appeal.needs_senior
    queue = Queue.objects.get(slug="appeals")
    assert services.appeal_claim_next(actor=analyst2, queue=queue) is None
    with pytest.raises(PermissionDenied):
        services.appeal_claim(actor=analyst2, appeal_id=appeal.pk)
    assert services.appeal_claim_next(actor=other_senior, queue=queue).pk == appeal.pk


def test_overturned_reverses_removes_strikes_counts_rework_and_tells_the_decider(
    platform_account, analyst, analyst2, support_agent
):
    action = enforce(platform_account, analyst)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="hacked", external_id="o1"
    )
    services.appeal_claim(actor=analyst2, appeal_id=appeal.pk)
    services.appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome="overturned",
        rationale="Login from a known botnet; the owner was a victim.",
        response_to_user="We reversed the suspension. Sorry.",
    )
    action.refresh_from_db()
    assert action.status == "reversed"
    assert not Strike.objects.filter(decision=action.decision, voided_at__isnull=True).exists()
    types = list(OutboxEvent.objects.values_list("event_type", flat=True))
    assert "action.reversed" in types and "appeal.decided" in types
    action.case.refresh_from_db()
    assert action.case.reopen_count == 1
    assert action.case.events.filter(kind="CASE_REOPENED").exists()
    note = Notification.objects.get(user=analyst)
    assert "botnet" in note.body


def test_modified_replaces_the_action_with_a_lighter_one(
    platform_account, analyst, analyst2, support_agent
):
    action = enforce(platform_account, analyst)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="too harsh", external_id="m1"
    )
    decided = services.appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome="modified",
        rationale="First offence",
        response_to_user="We replaced the suspension with a warning.",
        replacement_action={"type": "warn"},
    )
    action.refresh_from_db()
    assert action.status == "reversed"
    replacement = decided.replacement_action
    assert replacement.action_type == "warn" and replacement.status == "active"
    assert replacement.decision_id == action.decision_id
    with pytest.raises(Exception):  # noqa: B017 - the validation names replacement_action
        services.appeal_decide(
            actor=analyst2,
            appeal_id=appeal.pk,
            outcome="modified",
            rationale="x",
            response_to_user="y",
        )


def test_upheld_emits_the_event_and_the_lookup_shows_the_response(
    platform_account, analyst, analyst2, support_agent, support_client
):
    action = enforce(platform_account, analyst)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="no", external_id="u1"
    )
    before = support_client.get("/api/v1/subjects/account/acct-appellant/enforcement").json()
    row = next(r for r in before["actions"] if r["action_id"] == action.pk)
    assert row["appeal"]["status"] == "new" and row["appeal"]["eligible"] is False
    services.appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome="upheld",
        rationale="Clear spam",
        response_to_user="The suspension stands.",
    )
    assert OutboxEvent.objects.filter(event_type="appeal.decided").exists()
    after = support_client.get("/api/v1/subjects/account/acct-appellant/enforcement").json()
    row = next(r for r in after["actions"] if r["action_id"] == action.pk)
    assert row["appeal"]["status"] == "upheld"
    assert row["appeal"]["response_to_user"] == "The suspension stands."
    status = support_client.get(f"/api/v1/appeals/{appeal.pk}").json()
    assert status["outcome"] == "upheld" and "rationale" not in status


def test_appeal_deadlines_are_answerable_by_the_database(platform_account, analyst, support_agent):
    action = enforce(platform_account, analyst)
    with time_machine.travel("2026-05-01 09:00:00Z", tick=False):
        appeal, _ = services.appeal_file(
            actor=support_agent, action_id=action.pk, statement="s", external_id="sla"
        )
    assert appeal.due_at.isoformat() == "2026-05-04T09:00:00+00:00"
    with time_machine.travel("2026-05-04 09:01:00Z", tick=False):
        assert Appeal.objects.filter(status__in=Appeal.OPEN, due_at__lt=timezone.now()).exists()


def test_the_reviewer_renews_the_claim_while_the_page_is_open(
    platform_account, analyst, analyst2, support_agent, client
):
    action = enforce(platform_account, analyst)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="s", external_id="lease"
    )
    services.appeal_claim(actor=analyst2, appeal_id=appeal.pk)
    client.force_login(analyst2)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert client.post(f"/appeals/{appeal.pk}/lease/").status_code == 204
        appeal.refresh_from_db()
        assert appeal.lease_expires_at > timezone.now() + timedelta(minutes=14)
    services.appeal_release(actor=analyst2, appeal_id=appeal.pk)
    assert client.post(f"/appeals/{appeal.pk}/lease/").status_code == 409


def test_an_expired_appeal_claim_goes_back_like_a_case_claim(
    platform_account, analyst, analyst2, senior, support_agent
):
    """One lease behaviour for cases, appeals and QA reviews: version bumped, a history row
    naming the reason, and the case's timeline told."""
    action = enforce(platform_account, analyst)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="hacked", external_id="lease-1"
    )
    claimed = services.appeal_claim_next(actor=analyst2, queue=appeal.queue)
    assert claimed.pk == appeal.pk and claimed.claimed_by == analyst2
    version, rows = claimed.version, claimed.history.count()
    with time_machine.travel(timezone.now() + services.LEASE + timedelta(minutes=1)):
        again = services.appeal_claim_next(actor=senior, queue=appeal.queue)
    assert again.pk == appeal.pk and again.claimed_by == senior
    reasons = list(again.history.values_list("history_change_reason", flat=True)[:2])
    assert reasons == ["claimed", "claim lease expired"]
    assert again.history.count() == rows + 2 and again.version == version + 2
    expired = again.case.events.get(kind="APPEAL_LEASE_EXPIRED")
    assert expired.data == {"appeal_id": appeal.pk, "user_id": analyst2.pk}


def test_an_appeal_whose_case_became_restricted_is_claimed_only_by_its_team(
    platform_account, analyst, analyst2, support_agent
):
    action = enforce(platform_account, analyst)
    appeal, _ = services.appeal_file(
        actor=support_agent, action_id=action.pk, statement="hacked", external_id="restr-1"
    )
    # The case is restricted after the appeal was filed (the appeal row keeps its old copy).
    Case.objects.filter(pk=appeal.case_id).update(restricted=True, team="child-safety")
    assert services.appeal_claim_next(actor=analyst2, queue=appeal.queue) is None
