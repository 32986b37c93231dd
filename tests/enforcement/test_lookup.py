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
