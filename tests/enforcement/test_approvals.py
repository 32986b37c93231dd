"""The approvals page: each card shows what was reported and the account's standing, the list
runs from the most severe to the least and then oldest first, and a permanent ban is approved
only when the senior confirms it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse, reverse_lazy
from django.utils import timezone

from cases import services as case_services
from enforcement import services
from enforcement.models import EnforcementAction, Strike
from tests.factories import make_case

pytestmark = pytest.mark.django_db

URL = reverse_lazy("enforcement:approval-list")


def _decide(platform_account, actor, actions, **payload):
    case = make_case(platform_account, **payload)
    case = case_services.case_claim(actor=actor, case_id=case.pk)
    return services.decision_make(
        actor=actor,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section={"spam": "SPAM-1.1", "scam_fraud": "FRAUD-2.1"}[payload["reason"]],
        rationale="internal rationale",
        actions=actions,
    )


def propose_ban(platform_account, analyst, owner="acct-ban", **payload):
    """An analyst's ban (above every analyst's ceiling) on a scam: pending a senior."""
    payload.setdefault("reason", "scam_fraud")
    decision = _decide(
        platform_account, analyst, [{"type": "ban"}], subject__owner_id=owner, **payload
    )
    return decision.actions.get(action_type="ban")


def propose_suspension(platform_account, associate, owner="acct-susp", **payload):
    payload.setdefault("reason", "spam")
    decision = _decide(
        platform_account,
        associate,
        [{"type": "suspend", "duration_hours": 30 * 24}],
        subject__owner_id=owner,
        **payload,
    )
    return decision.actions.get()


def card(html: str, action: EnforcementAction) -> str:
    match = re.search(rf'data-testid="approval-{action.pk}"(.*?)</li>', html, re.S)
    assert match, f"no card for action {action.pk}"
    return match.group(1)


# --- What a card shows -------------------------------------------------------------------------


def test_a_card_shows_the_reported_content_escaped_and_truncated(
    platform_account, analyst, senior, client
):
    long_text = "<b>BUY NOW</b> " + "x" * 900
    action = propose_ban(
        platform_account,
        analyst,
        subject__text=long_text,
        subject__media=["https://cdn.example/secret-image.jpg"],
        description="Reporter says: <script>alert(1)</script> they took my money",
    )
    client.force_login(senior)
    html = card(client.get(URL).content.decode(), action)
    snapshot = re.search(r'data-testid="approval-snapshot">(.*?)</div>', html, re.S).group(1)
    assert snapshot.startswith("&lt;b&gt;BUY NOW&lt;/b&gt;") and len(snapshot) < 500
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Scam or fraud" in html  # the report's reason in words, not its code
    # Media is never shown on the approvals page: a placeholder links to the case.
    assert "secret-image" not in html and 'data-testid="approval-media"' in html
    assert "1 media item hidden here" in html


def test_a_card_shows_the_accounts_true_standing(
    platform_account, analyst, associate, senior, client
):
    # The account's history: an active suspension and a strike (a decided spam case), an
    # expired strike, and another case still open.
    earlier = propose_suspension(platform_account, associate, owner="acct-standing")
    services.action_approve(actor=senior, action_id=earlier.pk)
    Strike.objects.create(
        account=earlier.subject,
        decision=earlier.decision,
        points=3,
        expires_at=timezone.now() - timedelta(days=1),
    )
    make_case(platform_account, reason="spam", subject__owner_id="acct-standing")
    action = propose_ban(platform_account, analyst, owner="acct-standing")
    client.force_login(senior)
    html = card(client.get(URL).content.decode(), action)
    assert "acct-standing" in html
    assert re.search(r'data-testid="standing-restrictions">1<', html)
    # Strikes in force: the spam decision's and the scam decision's own; not the expired one.
    assert re.search(r'data-testid="standing-strikes">2 ', html)
    assert re.search(r'data-testid="standing-prior-cases">2<', html)


def test_prior_cases_count_only_what_the_senior_may_see(platform_account, analyst, senior, client):
    make_case(platform_account, reason="child_safety", subject__owner_id="acct-hidden")
    action = propose_ban(platform_account, analyst, owner="acct-hidden")
    client.force_login(senior)
    html = card(client.get(URL).content.decode(), action)
    assert re.search(r'data-testid="standing-prior-cases">0<', html)


def test_the_page_reads_the_same_number_of_queries_for_one_card_or_many(
    platform_account, analyst, associate, senior, client, django_assert_max_num_queries
):
    propose_ban(platform_account, analyst, owner="acct-q0")
    client.force_login(senior)
    client.get(URL)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for n in range(1, 4):
        propose_ban(platform_account, analyst, owner=f"acct-q{n}")
        propose_suspension(platform_account, associate, owner=f"acct-s{n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(URL)
    assert page.content.decode().count('data-testid="approval-standing"') == 7


# --- Order ---------------------------------------------------------------------------------------


def test_the_most_severe_come_first_then_the_oldest(
    platform_account, analyst, associate, senior, client
):
    start = timezone.now() - timedelta(hours=5)
    with time_machine.travel(start, tick=False):
        old_p3 = propose_suspension(platform_account, associate, owner="acct-o3")
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        new_p1 = propose_ban(platform_account, analyst, owner="acct-n1")
    with time_machine.travel(start + timedelta(minutes=30), tick=False):
        old_p1 = propose_ban(platform_account, analyst, owner="acct-o1")
    client.force_login(senior)
    html = client.get(URL).content.decode()
    order = [int(pk) for pk in re.findall(r'data-action-id="(\d+)"', html)]
    assert old_p3.case.severity > new_p1.case.severity
    assert order == [old_p1.pk, new_p1.pk, old_p3.pk]


# --- A permanent ban is confirmed ---------------------------------------------------------------


def test_a_permanent_ban_asks_for_a_required_confirmation(
    platform_account, analyst, associate, senior, client
):
    ban = propose_ban(platform_account, analyst)
    suspension = propose_suspension(platform_account, associate)
    client.force_login(senior)
    html = client.get(URL).content.decode()
    assert 'name="confirm_permanent" value="yes" required' in card(html, ban)
    assert "confirm_permanent" not in card(html, suspension)


def test_approving_a_ban_without_the_confirmation_is_refused_with_a_400(
    platform_account, analyst, senior, client
):
    ban = propose_ban(platform_account, analyst)
    client.force_login(senior)
    url = reverse("enforcement:action-approve", args=[ban.pk])
    refused = client.post(url, {"next": "approvals"})
    assert refused.status_code == 400
    assert 'data-testid="confirm-error"' in card(refused.content.decode(), ban)
    ban.refresh_from_db()
    assert ban.status == EnforcementAction.Status.PENDING_APPROVAL
    # From the case page: a page that asks for the confirmation, still nothing approved.
    from_case = client.post(url, {"next": "case"})
    assert from_case.status_code == 400 and 'data-testid="approve-confirm"' in (
        from_case.content.decode()
    )
    ban.refresh_from_db()
    assert ban.status == EnforcementAction.Status.PENDING_APPROVAL

    approved = client.post(url, {"next": "approvals", "confirm_permanent": "yes"})
    assert approved.status_code == 302
    ban.refresh_from_db()
    assert ban.status == EnforcementAction.Status.ACTIVE and ban.approved_by == senior


def test_a_non_senior_is_refused_before_the_confirmation_is_asked(
    platform_account, analyst, analyst2, client
):
    ban = propose_ban(platform_account, analyst)
    client.force_login(analyst2)
    assert client.post(reverse("enforcement:action-approve", args=[ban.pk])).status_code == 403


def test_a_suspension_needs_no_confirmation(platform_account, associate, senior, client):
    suspension = propose_suspension(platform_account, associate)
    client.force_login(senior)
    response = client.post(
        reverse("enforcement:action-approve", args=[suspension.pk]), {"next": "approvals"}
    )
    assert response.status_code == 302
    suspension.refresh_from_db()
    assert suspension.status == EnforcementAction.Status.ACTIVE


# --- Restricted cases ---------------------------------------------------------------------------


def test_a_restricted_cases_approval_is_not_on_a_seniors_page_outside_its_team(
    platform_account, specialist, senior, client
):
    case = make_case(platform_account, reason="child_safety", subject__owner_id="acct-cs")
    assert case.restricted
    # Team members decide their restricted cases as analysts: a ban waits for a senior.
    decision = services.decision_make(
        actor=specialist,
        case_id=case_services.case_claim(actor=specialist, case_id=case.pk).pk,
        outcome="violation",
        policy_section="CHILD-5.1",
        rationale="hash match",
        actions=[{"type": "ban"}],
    )
    ban = decision.actions.get()
    assert ban.status == EnforcementAction.Status.PENDING_APPROVAL
    client.force_login(senior)
    html = client.get(URL).content.decode()
    assert f'data-action-id="{ban.pk}"' not in html and "acct-cs" not in html
