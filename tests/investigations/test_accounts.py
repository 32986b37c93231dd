"""The account page and its API: everything about an account as each named actor may see it,
masked identifiers and logged reveals, restricted cases kept out of every list and count, bad
page numbers named, unknown accounts 404, and a bounded number of queries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Identifier, Subject
from enforcement import services as enforcement_services
from escalations.services import escalation_raise
from investigations.models import Cluster, ClusterMember
from tests.factories import make_case
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

ACCOUNT = "acct-ring-1"


def _post(platform, owner: str, n: int, reason: str = "spam", **extra):
    return make_case(
        platform,
        reason=reason,
        subject={
            "kind": "content",
            "external_id": f"post-{owner}-{n}",
            "owner_id": owner,
            "text": f"cheap followers {n}",
        },
        **extra,
    )


def _identifiers(*pairs):
    return [{"kind": kind, "value": value} for kind, value in pairs]


@pytest.fixture
def ring(platform_account, senior):
    """An account with two posts' cases, a device and an email it shares with a second
    account, a report it made itself, and an active suspension from a decided case."""
    shared = _identifiers(("device", "dev-ABCDEF-1"), ("email", "ring@example.com"))
    first = _post(platform_account, ACCOUNT, 1, identifiers=shared)
    second = _post(platform_account, ACCOUNT, 2)
    _post(platform_account, "acct-ring-2", 1, identifiers=shared[:1])
    # The account reported someone else's post (as a reporter).
    _post(platform_account, "acct-victim", 1, reporter_id=ACCOUNT, reason="harassment")
    decided = enforcement_services.decision_make(
        actor=senior,
        case_id=second.pk,
        version=second.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Same link posted 40 times in an hour.",
        actions=[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 72}],
    )
    return {"first": first, "second": second, "decision": decided}


def _page(client, user, external_id=ACCOUNT, **params):
    client.force_login(user)
    return client.get(reverse("investigations:account", args=[external_id]), params)


def _api(api_client_for, user, external_id=ACCOUNT, **params):
    return api_client_for(user).get(f"/api/v1/accounts/{external_id}", params)


# --- The page -----------------------------------------------------------------------------


def test_an_analyst_sees_standing_cases_content_identifiers_links_and_timeline(
    client, analyst, ring
):
    response = _page(client, analyst)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="case-count">2<' in html
    assert 'data-testid="content-count">2<' in html
    assert f'href="/cases/{ring["first"].pk}/"' in html
    # An active suspension with its expiry, and the strikes the decision gave.
    assert "Suspend" in html and "until " in html
    assert re.search(r'data-testid="standing-strikes">[1-9]', html)
    # Analysts see fingerprints, and the visible account sharing the device, as a link.
    device = Identifier.objects.get(account__external_id=ACCOUNT, kind="device")
    assert device.value_hash in html
    assert 'href="/accounts/acct-ring-2/"' in html
    # One timeline across both cases: their creation and their reports.
    assert html.count('data-kind="CASE_CREATED"') == 2
    assert html.count('data-kind="REPORT_ADDED"') == 2
    assert "Network" in html and "/accounts/acct-ring-1/network/" in html


def test_every_view_of_the_page_is_in_the_access_log(client, senior, ring):
    account = Subject.objects.get(kind="account", external_id=ACCOUNT)
    assert _page(client, senior).status_code == 200
    entry = AccessLog.objects.filter(action="viewed", object_type="cases.subject").first()
    assert entry is not None and entry.object_id == str(account.pk)
    assert entry.actor == senior


def test_an_associate_sees_identifiers_masked_and_reveals_one_with_a_reason(
    client, associate, ring
):
    device = Identifier.objects.get(account__external_id=ACCOUNT, kind="device")
    html = _page(client, associate).content.decode()
    assert device.value_hash not in html
    assert device.masked in html
    assert "Why do you need it?" in html

    url = reverse("investigations:account-identifier-reveal", args=[ACCOUNT, device.pk])
    refused = client.post(url, {"reason": "no"})
    assert refused.status_code == 302
    assert not AccessLog.objects.filter(action="revealed_pii").exists()

    revealed = client.post(url, {"reason": "Checking a shared device in a spam ring"})
    assert revealed.status_code == 200
    assert device.value_hash in revealed.content.decode()
    entry = AccessLog.objects.get(action="revealed_pii")
    assert entry.actor == associate and entry.reason == "Checking a shared device in a spam ring"
    assert entry.object_type == "cases.identifier" and entry.object_id == str(device.pk)
    assert entry.detail == {"account": ACCOUNT, "kind": "device"}


def test_the_reveal_is_refused_to_those_who_may_not_open_accounts(
    client, support_agent, outsider, ring
):
    device = Identifier.objects.get(account__external_id=ACCOUNT, kind="device")
    url = reverse("investigations:account-identifier-reveal", args=[ACCOUNT, device.pk])
    for user in (support_agent, outsider):
        client.force_login(user)
        assert client.post(url, {"reason": "Looking for a friend"}).status_code == 403
    assert not AccessLog.objects.filter(action="revealed_pii").exists()


def test_support_agents_and_outsiders_are_refused_the_page(client, support_agent, outsider, ring):
    for user in (support_agent, outsider):
        assert _page(client, user).status_code == 403
        client.force_login(user)
        assert (
            client.get(reverse("investigations:account-search"), {"q": "acct"}).status_code == 403
        )


def test_the_reports_it_made_are_counted_by_reason_and_outcome(client, senior, ring):
    html = _page(client, senior).content.decode()
    assert 'data-testid="reports-made-count">1<' in html
    block = html.split('data-testid="reports-by-reason"')[1].split("</table>")[0]
    assert "Harassment" in block and ">1<" in block
    outcomes = html.split('data-testid="reports-by-outcome"')[1].split("</table>")[0]
    assert "Pending" in outcomes
    # The reporter's own id is the account; other reporters are never named.
    assert "reporter-" not in html


def test_a_bad_page_number_is_a_400_naming_the_parameter(client, analyst, ring):
    response = _page(client, analyst, cases_page="two")
    assert response.status_code == 400
    assert "cases_page" in response.content.decode()
    assert _page(client, analyst, timeline_page="0").status_code == 400


def test_an_unknown_account_is_a_404(client, analyst, ring):
    assert _page(client, analyst, external_id="acct-nobody").status_code == 404


def test_cases_page_through_with_true_counts(client, platform_account, analyst):
    for n in range(23):
        _post(platform_account, "acct-busy", n)
    first = _page(client, analyst, external_id="acct-busy").content.decode()
    assert 'data-testid="case-count">23<' in first
    assert first.count('data-testid="account-case"') == 20
    assert "cases_page=2" in first
    second = _page(client, analyst, external_id="acct-busy", cases_page=2).content.decode()
    assert second.count('data-testid="account-case"') == 3
    assert 'data-testid="cases_page-of">Page 2 of 2<' in second


def test_the_page_takes_a_bounded_number_of_queries(
    client, platform_account, analyst, django_assert_max_num_queries
):
    shared = _identifiers(("device", "dev-many"))
    for n in range(12):
        _post(platform_account, "acct-busy", n, identifiers=shared)
        _post(platform_account, f"acct-peer-{n}", 0, identifiers=shared)
    client.force_login(analyst)
    url = reverse("investigations:account", args=["acct-busy"])
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for n in range(12, 30):
        _post(platform_account, "acct-busy", n, identifiers=shared)
    with django_assert_max_num_queries(len(small) + 2):
        assert client.get(url).status_code == 200


# --- Restricted cases ---------------------------------------------------------------------


def _restrict(analyst, case):
    return escalation_raise(
        actor=analyst,
        case_id=case.pk,
        team="child-safety",
        severity="P1",
        summary="Possible grooming.",
        criteria="Contact with a minor.",
    )


def test_an_account_whose_only_case_is_restricted_is_not_there_for_an_analyst(
    client, platform_account, analyst, senior, specialist, api_client_for
):
    case = _post(platform_account, "acct-hidden", 1)
    _restrict(analyst, case)
    for user in (analyst, senior):
        assert _page(client, user, external_id="acct-hidden").status_code == 404
        assert _api(api_client_for, user, "acct-hidden").status_code == 404
        client.force_login(user)
        search = client.get(reverse("investigations:account-search"), {"q": "acct-hid"})
        assert "acct-hidden" not in search.content.decode().split("<h2>")[-1]
    assert AccessLog.objects.filter(action="denied", object_type="cases.subject").exists()
    response = _page(client, specialist, external_id="acct-hidden")
    assert response.status_code == 200
    assert f"/cases/{case.pk}/" in response.content.decode()
    assert _api(api_client_for, specialist, "acct-hidden").json()["cases"]["count"] == 1


def test_a_mixed_account_shows_and_counts_only_the_visible_cases(
    client, platform_account, analyst, specialist, api_client_for
):
    shown = _post(platform_account, "acct-mixed", 1, identifiers=_identifiers(("device", "d-m")))
    hidden = _post(platform_account, "acct-mixed", 2, reporter_id="acct-mixed")
    _restrict(analyst, hidden)
    html = _page(client, analyst, external_id="acct-mixed").content.decode()
    assert 'data-testid="case-count">1<' in html
    assert 'data-testid="content-count">1<' in html
    assert f"/cases/{shown.pk}/" in html and f"/cases/{hidden.pk}/" not in html
    assert f"#{hidden.pk}" not in html
    assert "post-acct-mixed-2" not in html
    # Its report on the restricted case is not counted either.
    assert 'data-testid="reports-made-count">0<' in html
    body = _api(api_client_for, analyst, "acct-mixed").json()
    assert body["cases"]["count"] == 1 and body["content"]["count"] == 1
    assert {e["case_id"] for e in body["timeline"]["results"]} == {shown.pk}
    assert body["reports_made"]["total"] == 0
    team_view = _api(api_client_for, specialist, "acct-mixed").json()
    assert team_view["cases"]["count"] == 1
    assert {c["id"] for c in team_view["cases"]["results"]} == {hidden.pk}


def test_linked_accounts_whose_cases_are_all_restricted_are_left_out(
    client, platform_account, analyst
):
    shared = _identifiers(("payment", "4111111111111111"))
    _post(platform_account, "acct-open", 1, identifiers=shared)
    hidden = _post(platform_account, "acct-secret", 1, identifiers=shared)
    _restrict(analyst, hidden)
    html = _page(client, analyst, external_id="acct-open").content.decode()
    assert "acct-secret" not in html
    body = _page(client, analyst, external_id="acct-open")
    assert body.status_code == 200


def test_a_hub_identifier_is_marked_and_links_nobody(
    client, platform_account, analyst, api_client_for, settings
):
    settings.TSOPS_NETWORK_HUB_LIMIT = 3
    office = _identifiers(("ip", "203.0.113.7"))
    _post(platform_account, "acct-hub-0", 0, identifiers=[*office, *_identifiers(("device", "d1"))])
    _post(platform_account, "acct-device-peer", 0, identifiers=_identifiers(("device", "d1")))
    for n in range(1, 5):
        _post(platform_account, f"acct-hub-{n}", 0, identifiers=office)
    body = _api(api_client_for, analyst, "acct-hub-0").json()
    assert [la["external_id"] for la in body["linked_accounts"]] == ["acct-device-peer"]
    assert {i["kind"]: i["hub"] for i in body["identifiers"]} == {"ip": True, "device": False}
    html = _page(client, analyst, external_id="acct-hub-0").content.decode()
    assert 'data-testid="hub"' in html and "acct-hub-3" not in html


def test_clusters_are_listed_when_visible(client, platform_account, analyst, ring):
    account = Subject.objects.get(kind="account", external_id=ACCOUNT)
    open_ring = Cluster.objects.create(name="Follower ring", origin=Cluster.Origin.MANUAL)
    team_ring = Cluster.objects.create(
        name="Team ring", origin=Cluster.Origin.MANUAL, team="child-safety"
    )
    for cluster in (open_ring, team_ring):
        ClusterMember.objects.create(cluster=cluster, subject=account, role="account")
    html = _page(client, analyst).content.decode()
    assert "Follower ring" in html and "Team ring" not in html


# --- The API ------------------------------------------------------------------------------


def test_the_api_answers_the_account_for_an_analyst(api_client_for, analyst, ring):
    response = _api(api_client_for, analyst)
    assert response.status_code == 200
    body = response.json()
    assert body["external_id"] == ACCOUNT
    assert body["cases"]["count"] == 2 and len(body["cases"]["results"]) == 2
    assert body["content"]["count"] == 2
    assert {r["type"] for r in body["standing"]["restrictions"]} == {"suspend", "remove_content"}
    assert body["standing"]["strikes"] >= 1
    device = next(i for i in body["identifiers"] if i["kind"] == "device")
    assert device["fingerprint"] and device["masked"]
    assert body["linked_accounts"] == [
        {"external_id": "acct-ring-2", "shared": ["device"], "cases": 1}
    ]
    assert body["reports_made"] == {
        "total": 1,
        "by_reason": {"harassment": 1},
        "by_outcome": {"pending": 1},
    }
    assert body["timeline"]["count"] >= 4
    assert body["timeline"]["results"][0]["label"]
    ats = [e["at"] for e in body["timeline"]["results"]]
    assert ats == sorted(ats, reverse=True)
    assert AccessLog.objects.filter(action="viewed", object_type="cases.subject").exists()


def test_the_api_masks_identifiers_for_associates(api_client_for, associate, senior, ring):
    body = _api(api_client_for, associate).json()
    assert body["identifiers"] and all(i["fingerprint"] is None for i in body["identifiers"])
    assert all(i["masked"] for i in body["identifiers"])
    assert all(i["fingerprint"] for i in _api(api_client_for, senior).json()["identifiers"])


def test_the_api_refuses_support_agents_the_platform_and_outsiders(
    api_client_for, support_agent, platform_account, outsider, ring
):
    for user in (support_agent, platform_account, outsider):
        assert _api(api_client_for, user).status_code == 403


def test_the_api_needs_the_cases_read_scope(api_client_for, analyst, ring):
    client = api_client_for(analyst, scopes=("cases:write",))
    assert client.get(f"/api/v1/accounts/{ACCOUNT}").status_code == 403


def test_the_api_answers_unknown_accounts_404_and_bad_pages_400(api_client_for, analyst, ring):
    missing = _api(api_client_for, analyst, "acct-nobody")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No such account."
    bad = _api(api_client_for, analyst, page="x")
    assert bad.status_code == 400
    assert "page" in bad.json()["error"]["fields"]
    bad = _api(api_client_for, analyst, timeline_page="-1")
    assert bad.status_code == 400 and "timeline_page" in bad.json()["error"]["fields"]


def test_the_api_pages_the_cases(api_client_for, platform_account, analyst):
    for n in range(21):
        _post(platform_account, "acct-busy", n)
    body = _api(api_client_for, analyst, "acct-busy", page=2).json()
    assert body["cases"] == {**body["cases"], "count": 21, "page": 2, "pages": 2}
    assert len(body["cases"]["results"]) == 1


# --- Search and links ---------------------------------------------------------------------


def test_the_search_lists_visible_accounts_by_prefix_and_opens_an_exact_one(client, analyst, ring):
    client.force_login(analyst)
    url = reverse("investigations:account-search")
    listed = client.get(url, {"q": "acct-ring"}).content.decode()
    assert 'href="/accounts/acct-ring-1/"' in listed and 'href="/accounts/acct-ring-2/"' in listed
    exact = client.get(url, {"q": ACCOUNT})
    assert exact.status_code == 302 and exact["Location"] == f"/accounts/{ACCOUNT}/"


def test_the_case_page_links_its_account(client, analyst, ring):
    client.force_login(analyst)
    html = client.get(reverse("cases:case-detail", args=[ring["first"].pk])).content.decode()
    assert f'href="/accounts/{ACCOUNT}/"' in html
    assert 'href="/accounts/acct-ring-2/"' in html


def test_the_account_link_escapes_the_id_and_stays_text_for_support(rf, analyst, support_agent):
    from django.template import Context, Template

    template = Template("{% load accounts %}{% account_link value %}")
    nasty = 'acct<b>"x"&'
    html = template.render(Context({"value": nasty, "user": analyst}))
    assert "<b>" not in html and "&lt;b&gt;&quot;x&quot;&amp;" in html
    assert html.startswith('<a class="mono account-link" href="/accounts/acct%3Cb%3E%22x%22&amp;/"')
    plain = template.render(Context({"value": "acct-1", "user": support_agent}))
    assert "<a " not in plain and "acct-1" in plain
