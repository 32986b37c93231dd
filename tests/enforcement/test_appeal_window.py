"""Appeal eligibility has one home (enforcement.appeal_window), read from APPEAL_WINDOW_DAYS:
filing, the support lookup (page and API) and the statement of reasons change together."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from appeals.models import Appeal
from appeals.services import AppealConflict, appeal_file
from cases.services import case_claim_next
from enforcement import services
from enforcement.appeal_window import OPEN_APPEAL_STATUSES, appeal_eligibility
from enforcement.models import EnforcementAction
from tests.factories import make_case

pytestmark = pytest.mark.django_db

ENFORCEMENT = Path(__file__).resolve().parents[2] / "enforcement"


def decide(platform_account, analyst, key: str, actions: list[dict]) -> EnforcementAction:
    case = make_case(
        platform_account,
        reason="spam",
        subject={
            "kind": "content",
            "external_id": f"post-window-{key}",
            "owner_id": f"acct-window-{key}",
            "text": "buy followers",
        },
    )
    case_claim_next(actor=analyst, queue=case.queue)
    case.refresh_from_db()
    decision = services.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Spam link farm",
        actions=actions,
    )
    return decision.actions.get()


def day_text(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.day} {local:%B %Y}"


def lookup_row(client, action: EnforcementAction) -> dict:
    response = client.get(f"/api/v1/subjects/content/{action.subject.external_id}/enforcement")
    assert response.status_code == 200
    return next(row for row in response.json()["actions"] if row["action_id"] == action.pk)


def lookup_page(client, action: EnforcementAction) -> str:
    response = client.get(reverse("enforcement:lookup"), {"q": action.subject.external_id})
    assert response.status_code == 200
    return response.content.decode()


def test_changing_the_window_moves_filing_the_lookup_the_api_and_the_statement_together(
    settings, platform_account, analyst, support_agent, api_client_for, client
):
    settings.APPEAL_WINDOW_DAYS = 30
    action = decide(platform_account, analyst, "a", [{"type": "remove_content"}])
    start = action.starts_at
    # The statement of reasons the user reads names the same window and its last day.
    statement = action.decision.statement_of_reasons
    assert f"within 30 days, until {day_text(start + timedelta(days=30))}." in statement
    assert "6 months" not in statement

    api = api_client_for(support_agent, ["enforcement:read"])
    with time_machine.travel(start + timedelta(days=31), tick=False):
        client.force_login(support_agent)
        row = lookup_row(api, action)
        assert row["appeal"]["eligible"] is False
        assert row["appeal"]["deadline"] == (start + timedelta(days=30)).isoformat()
        assert "not open to appeal" in lookup_page(client, action)
        with pytest.raises(ValidationError, match="appeal window of 30 days has passed"):
            appeal_file(actor=support_agent, action_id=action.pk, statement="x", external_id="w-1")

        settings.APPEAL_WINDOW_DAYS = 60
        deadline = start + timedelta(days=60)
        row = lookup_row(api, action)
        assert row["appeal"]["eligible"] is True
        assert row["appeal"]["deadline"] == deadline.isoformat()
        assert f"can be appealed until {timezone.localtime(deadline):%Y-%m-%d}" in lookup_page(
            client, action
        )
        appeal, created = appeal_file(
            actor=support_agent, action_id=action.pk, statement="x", external_id="w-2"
        )
        assert created and appeal.status == Appeal.Status.NEW


def test_an_open_appeal_closes_eligibility_until_it_is_decided(
    platform_account, analyst, support_agent
):
    action = decide(platform_account, analyst, "b", [{"type": "remove_content"}])
    assert appeal_eligibility(action).eligible
    appeal, _ = appeal_file(
        actor=support_agent, action_id=action.pk, statement="x", external_id="o-1"
    )
    answer = appeal_eligibility(EnforcementAction.objects.get(pk=action.pk))
    assert (answer.eligible, answer.reason) == (False, "open_appeal")
    with pytest.raises(AppealConflict, match="open appeal"):
        appeal_file(actor=support_agent, action_id=action.pk, statement="y", external_id="o-2")
    Appeal.objects.filter(pk=appeal.pk).update(status=Appeal.Status.UPHELD)
    # A decided appeal leaves the action appealable again within the window.
    assert appeal_eligibility(EnforcementAction.objects.get(pk=action.pk)).eligible


def test_only_applied_actions_are_appealable(platform_account, associate, support_agent):
    # A 30-day suspension is above an associate's ceiling: it waits for a senior's approval.
    action = decide(platform_account, associate, "c", [{"type": "suspend", "duration_hours": 720}])
    assert action.status == EnforcementAction.Status.PENDING_APPROVAL
    answer = appeal_eligibility(action)
    assert (answer.eligible, answer.reason) == (False, "status")
    assert answer.problem == "A pending approval action cannot be appealed."
    with pytest.raises(ValidationError, match="cannot be appealed"):
        appeal_file(actor=support_agent, action_id=action.pk, statement="x", external_id="p-1")


def test_the_open_statuses_are_the_appeal_models():
    assert set(OPEN_APPEAL_STATUSES) == set(Appeal.OPEN)


def test_enforcement_never_imports_the_appeals_app():
    # Appeals builds on enforcement; enforcement reaches appeals only by the reverse relation.
    offenders = []
    for path in sorted(ENFORCEMENT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}:{node.lineno}" for n in names if n.split(".")[0] == "appeals"
            ]
    assert offenders == []
