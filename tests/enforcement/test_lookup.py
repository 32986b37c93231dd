"""The support lookup: public facts only, exactly these keys."""

from __future__ import annotations

import pytest

from cases.services import case_claim_next
from enforcement import services
from enforcement.selectors import LOOKUP_KEYS
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def enforced(platform_account, analyst):
    case = make_case(
        platform_account,
        reason="scam_fraud",
        description="reporter says: my name is Jane Reporter",
        subject={
            "kind": "content",
            "external_id": "post-l",
            "owner_id": "acct-l",
            "text": "send gift cards",
        },
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
        rationale="INTERNAL-ONLY rationale about the ring",
        actions=[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 168}],
    )


def test_support_sees_public_facts_with_exactly_these_keys(
    support_agent, enforced, api_client_for, analyst
):
    client = api_client_for(support_agent, ["enforcement:read"])
    response = client.get("/api/v1/subjects/account/acct-l/enforcement")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"subject", "actions"}
    assert len(body["actions"]) == 2
    for row in body["actions"]:
        assert tuple(row) == LOOKUP_KEYS
        assert set(row["policy_section"]) == {"code", "title", "public_summary"}
        assert set(row["appeal"]) == {"status", "response_to_user", "eligible", "deadline"}
        assert set(row["subject"]) == {"kind", "external_id"}
    text = response.content.decode()
    for secret in (
        "INTERNAL-ONLY",
        "Jane Reporter",
        "owner@example.com",
        analyst.username,
        "o***@e***",
    ):
        assert secret not in text
    suspend = next(r for r in body["actions"] if r["type"] == "suspend")
    assert suspend["status"] == "active" and suspend["ends_at"]
    assert suspend["appeal"]["eligible"] is True


def test_the_lookup_needs_the_scope_and_the_role(support_agent, analyst, enforced, api_client_for):
    assert (
        api_client_for(support_agent, ["cases:read"])
        .get("/api/v1/subjects/account/acct-l/enforcement")
        .status_code
        == 403
    )
    assert (
        api_client_for(analyst, ["enforcement:read"])
        .get("/api/v1/subjects/account/acct-l/enforcement")
        .status_code
        == 403
    )
    assert (
        api_client_for(support_agent, ["enforcement:read"])
        .get("/api/v1/subjects/account/nobody/enforcement")
        .status_code
        == 404
    )


def test_support_agents_see_nothing_of_cases(support_agent, enforced, api_client_for):
    client = api_client_for(support_agent, ["cases:read", "enforcement:read"])
    assert client.get(f"/api/v1/cases/{enforced.case_id}").status_code == 404
    assert client.get("/api/v1/cases").json()["results"] == []
    assert client.get("/api/v1/queues").json() == []


# --- The support page: standing first, actions paged and filtered, a friendly "nothing" -------


def _page(client, **params):
    from django.urls import reverse

    return client.get(reverse("enforcement:lookup"), params)


def _more_actions(decision, n: int, *, expired: bool) -> None:
    """``n`` more actions on the decision's account (a long history, written directly)."""
    from datetime import timedelta

    from django.utils import timezone

    from enforcement.models import EnforcementAction

    template = decision.actions.get(action_type="suspend")
    now = timezone.now()
    EnforcementAction.objects.bulk_create(
        EnforcementAction(
            decision=decision,
            case=template.case,
            subject=template.subject,
            action_type="warn",
            status=EnforcementAction.Status.ACTIVE,
            proposed_by=template.proposed_by,
            starts_at=now - timedelta(days=30, minutes=i),
            expires_at=(now - timedelta(days=1)) if expired else None,
            created_at=now - timedelta(days=30, minutes=i),
        )
        for i in range(n)
    )


def test_the_page_shows_the_standing_before_the_actions(
    client, support_agent, enforced, platform_account
):
    from appeals.services import appeal_file

    suspension = enforced.actions.get(action_type="suspend")
    appeal_file(
        actor=support_agent,
        action_id=suspension.pk,
        statement="It was not me.",
        external_id="appeal-lookup-1",
    )
    client.force_login(support_agent)
    html = _page(client, q="acct-l").content.decode()
    standing = html.index('data-testid="lookup-standing"')
    assert standing < html.index('data-testid="lookup-result"')
    assert '<li data-testid="standing-restrictions"><strong>1</strong>' in html
    assert '<li data-testid="standing-strikes"><strong>1</strong>' in html
    assert '<li data-testid="standing-appeals"><strong>1</strong> open appeal' in html
    # An item's page shows the standing of the account behind it.
    item = _page(client, kind="content", external_id="post-l").content.decode()
    assert "Standing of the account behind it" in item and "acct-l" in item


def test_actions_come_25_a_page(client, support_agent, enforced):
    _more_actions(enforced, 28, expired=False)
    client.force_login(support_agent)
    first = _page(client, q="acct-l")
    html = first.content.decode()
    assert html.count('data-testid="lookup-row"') == 25
    assert "30 actions" in html and "page 1 of 2" in html
    assert "q=acct-l&amp;page=2" in html
    second = _page(client, q="acct-l", page="2").content.decode()
    assert second.count('data-testid="lookup-row"') == 5
    # A page out of range shows the last one rather than an error.
    assert _page(client, q="acct-l", page="99").status_code == 200
    assert _page(client, q="acct-l", page="x").status_code == 200


def test_active_only_leaves_out_what_has_ended(client, support_agent, enforced):
    _more_actions(enforced, 3, expired=True)
    client.force_login(support_agent)
    everything = _page(client, q="acct-l").content.decode()
    assert everything.count('data-testid="lookup-row"') == 5
    active = _page(client, q="acct-l", active="1").content.decode()
    # The removal and the suspension are in force; the three expired warnings are not.
    assert active.count('data-testid="lookup-row"') == 2
    assert "2 actions in force now" in active
    assert 'name="active" value="1" checked' in active


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_actions(
    client, support_agent, enforced, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(support_agent)
    _page(client, q="acct-l")
    with CaptureQueriesContext(connection) as few:
        _page(client, q="acct-l")
    _more_actions(enforced, 20, expired=False)
    with django_assert_max_num_queries(len(few.captured_queries)):
        _page(client, q="acct-l")


def test_an_unknown_id_is_a_friendly_page_not_an_error(client, support_agent, platform_account):
    client.force_login(support_agent)
    missing = _page(client, q="acct-nobody")
    assert missing.status_code == 200
    assert "No enforcement on record for" in missing.content.decode()
    assert "acct-nobody" in missing.content.decode()
    # Known, with no action on it: the standing (all zero) and the same sentence.
    make_case(platform_account, reason="spam", subject__owner_id="acct-clean")
    clean = _page(client, q="acct-clean")
    html = clean.content.decode()
    assert clean.status_code == 200 and "No enforcement on record for" in html
    assert '<li data-testid="standing-restrictions"><strong>0</strong>' in html
    # An id that is not one (too long) is a form error.
    assert _page(client, kind="account", external_id="x" * 201).status_code == 400
