"""Coordinated clusters: the incremental job finds rings sharing strong identifiers (hubs link
nothing) and copy-paste content within its window, reads only what is new and grows the same
cluster; restricted evidence makes a team's cluster nobody else sees; clusters are built,
dismissed and reopened by who may, with who, when and why kept."""

from __future__ import annotations

from datetime import timedelta

import psycopg2
import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from cases.models import Case
from investigations.models import Cluster, ClusterMember, ClusterScan
from investigations.selectors.clusters import cluster_detail, cluster_list
from investigations.services import clusters as services
from investigations.tasks import clusters_find as clusters_find_task
from tests.factories import make_case
from tsops.errors import ConflictError

pytestmark = pytest.mark.django_db

SPAM = "Win a free gift card now! Claim your prize at bit.example/claim before it expires today"


def _account(platform, external_id: str, identifiers: dict, reason: str = "spam") -> Case:
    return make_case(
        platform,
        reason=reason,
        subject={"kind": "account", "external_id": external_id},
        identifiers=[{"kind": k, "value": v} for k, v in identifiers.items()],
    )


def _post(platform, owner: str, n: int, text: str, reason: str = "spam") -> Case:
    return make_case(
        platform,
        reason=reason,
        subject={
            "kind": "content",
            "external_id": f"post-{owner}-{n}",
            "owner_id": owner,
            "text": text,
        },
    )


def _ring(platform) -> None:
    """Four accounts: three share a device, the third and fourth a payment instrument."""
    _account(platform, "ring-1", {"device": "dev-ring-aa11", "ip": "198.51.100.7"})
    _account(platform, "ring-2", {"device": "dev-ring-aa11"})
    _account(platform, "ring-3", {"device": "dev-ring-aa11", "payment": "4111 1111 1111 1234"})
    _account(platform, "ring-4", {"payment": "4111 1111 1111 1234"})
    _account(platform, "loner", {"device": "dev-loner-0001"})


def _members(cluster: Cluster, role: str = ClusterMember.Role.ACCOUNT) -> set[str]:
    return set(cluster.members.filter(role=role).values_list("subject__external_id", flat=True))


# --- Shared identifiers ----------------------------------------------------------------------


def test_a_ring_sharing_a_device_and_a_payment_instrument_becomes_one_cluster(platform_account):
    _ring(platform_account)
    result = services.clusters_find()
    assert result["ran"]
    cluster = Cluster.objects.get(origin=Cluster.Origin.IDENTIFIERS)
    assert _members(cluster) == {"ring-1", "ring-2", "ring-3", "ring-4"}
    assert cluster.size == 4 and cluster.content_count == 0
    assert cluster.status == Cluster.Status.OPEN and cluster.team == ""
    assert cluster.dominant_reasons == ["spam"]
    assert cluster.signature
    assert {row["kind"] for row in cluster.evidence["identifiers"]} == {"device", "payment"}
    device = next(r for r in cluster.evidence["identifiers"] if r["kind"] == "device")
    assert device["accounts"] == 3 and len(device["hash"]) == 12 and device["masked"]
    member = cluster.members.get(subject__external_id="ring-3")
    assert {row["kind"] for row in member.evidence["identifiers"]} == {"device", "payment"}
    # The IP is not a strong identifier: it is no evidence.
    assert all(row["kind"] != "ip" for row in member.evidence["identifiers"])
    assert cluster.history.count() == 1


@override_settings(TSOPS_NETWORK_HUB_LIMIT=5)
def test_a_hub_identifier_links_nothing(platform_account):
    # A popular device hash shared by more accounts than the hub limit.
    for n in range(6):
        extra = {"payment": "5500 0000 0000 0004"} if n < 3 else {}
        _account(platform_account, f"hub-{n}", {"device": "popular-model-x", **extra})
    services.clusters_find()
    clusters = list(Cluster.objects.all())
    assert len(clusters) == 1
    # Only the three linked by the payment instrument: the hub device joined nobody.
    assert _members(clusters[0]) == {"hub-0", "hub-1", "hub-2"}
    assert [r["kind"] for r in clusters[0].evidence["identifiers"]] == ["payment"]


def test_a_group_below_the_minimum_size_is_no_cluster(platform_account):
    _account(platform_account, "pair-1", {"device": "dev-pair"})
    _account(platform_account, "pair-2", {"device": "dev-pair"})
    services.clusters_find()
    assert not Cluster.objects.exists()


def test_a_rerun_with_nothing_new_reads_nothing_and_changes_nothing(
    platform_account, django_assert_max_num_queries
):
    _ring(platform_account)
    services.clusters_find()
    cluster = Cluster.objects.get()
    scan = ClusterScan.objects.get(name=services.IDENTIFIERS_SCAN)
    watermark = scan.last_identifier_id
    assert watermark > 0
    members = list(cluster.members.values_list("pk", "last_seen", "evidence"))
    with django_assert_max_num_queries(16):
        result = services.clusters_find()
    stats = result["identifiers"]
    assert stats["rows_read"] == 0 and stats["keys_touched"] == 0 and stats["groups"] == 0
    assert result["content"]["seeds"] == 0
    scan.refresh_from_db()
    assert scan.last_identifier_id == watermark
    cluster.refresh_from_db()
    assert cluster.version == 1 and cluster.history.count() == 1
    assert list(cluster.members.values_list("pk", "last_seen", "evidence")) == members


def test_new_accounts_joining_the_ring_grow_the_same_cluster(platform_account):
    _ring(platform_account)
    services.clusters_find()
    cluster = Cluster.objects.get()
    before = ClusterScan.objects.get(name=services.IDENTIFIERS_SCAN).last_identifier_id
    old_members = dict(cluster.members.values_list("subject_id", "pk"))
    # A new account shares only the fourth account's payment instrument: the job follows
    # the link out from the new row to the whole ring.
    _account(
        platform_account, "ring-5", {"payment": "4111 1111 1111 1234", "email": "r5@x.example"}
    )
    result = services.clusters_find()
    stats = result["identifiers"]
    assert stats["rows_read"] == 2  # ring-5's payment and e-mail rows, nothing older
    assert stats["since"] == before
    assert stats["grown"] == 1 and stats["created"] == 0 and stats["members_added"] == 1
    assert Cluster.objects.count() == 1
    cluster.refresh_from_db()
    assert _members(cluster) == {"ring-1", "ring-2", "ring-3", "ring-4", "ring-5"}
    assert cluster.size == 5 and cluster.version == 2
    # The members already there were not rewritten.
    assert {
        k: v for k, v in cluster.members.values_list("subject_id", "pk") if k in old_members
    } == old_members


def test_a_second_ring_linked_to_the_first_by_a_new_account_grows_the_oldest(platform_account):
    _ring(platform_account)
    for n in range(3):
        _account(platform_account, f"other-{n}", {"phone": "+44 7700 900123"})
    services.clusters_find()
    first, second = Cluster.objects.order_by("pk")
    _account(platform_account, "bridge", {"device": "dev-ring-aa11", "phone": "+44 7700 900123"})
    services.clusters_find()
    first.refresh_from_db()
    second.refresh_from_db()
    assert "bridge" in _members(first)
    assert first.size == 8  # the oldest took in the bridge and the second ring
    assert Cluster.objects.count() == 2


def test_a_dismissed_ring_found_again_with_nobody_new_stays_dismissed(platform_account, analyst):
    _ring(platform_account)
    services.clusters_find()
    cluster = Cluster.objects.get()
    services.cluster_dismiss(
        actor=analyst, cluster_id=cluster.pk, reason="A family sharing a tablet.", version=1
    )
    # A new identifier on a member re-touches the ring, with no new account.
    _account(platform_account, "ring-2", {"email": "two@x.example", "device": "dev-ring-aa11"})
    services.clusters_find()
    assert Cluster.objects.count() == 1
    cluster.refresh_from_db()
    assert cluster.status == Cluster.Status.DISMISSED


# --- Near-identical content ------------------------------------------------------------------


def test_copy_paste_spam_from_five_accounts_becomes_a_content_cluster_with_owners(
    platform_account,
):
    for n in range(5):
        _post(platform_account, f"spammer-{n}", 1, f"{SPAM} #{n}")
    _post(platform_account, "bystander", 1, "Lovely weather at the lake this weekend, photos soon")
    result = services.clusters_find()
    assert result["content"]["groups"] == 1
    cluster = Cluster.objects.get(origin=Cluster.Origin.CONTENT)
    assert _members(cluster, ClusterMember.Role.CONTENT) == {
        f"post-spammer-{n}-1" for n in range(5)
    }
    assert _members(cluster) == {f"spammer-{n}" for n in range(5)}
    assert cluster.size == 5 and cluster.content_count == 5
    assert cluster.dominant_reasons == ["spam"]
    assert cluster.evidence["content"]["reason"] == "spam"
    assert cluster.evidence["content"]["sample_text"].startswith("Win a free gift card")
    content = cluster.members.filter(role=ClusterMember.Role.CONTENT).first()
    assert content.evidence["similarity"] >= 0.8 and content.evidence["fingerprint"]
    # A rerun reads no report and changes nothing.
    again = services.clusters_find()["content"]
    assert again["seeds"] == 0 and again["groups"] == 0
    assert Cluster.objects.count() == 1


def test_content_outside_the_window_dissimilar_or_for_another_reason_does_not_cluster(
    platform_account,
):
    with time_machine.travel(timezone.now() - timedelta(days=5)):
        _post(platform_account, "old-0", 1, SPAM)
        _post(platform_account, "old-1", 1, SPAM)
    _post(platform_account, "new-0", 1, SPAM)
    _post(platform_account, "new-1", 1, SPAM)
    _post(
        platform_account, "other-0", 1, "Selling my old bike, barely used, message me for details"
    )
    _post(platform_account, "other-1", 1, SPAM, reason="harassment")
    result = services.clusters_find()
    assert result["content"]["seeds"] == 6
    assert not Cluster.objects.exists()


def test_new_copies_grow_the_content_cluster(platform_account):
    for n in range(3):
        _post(platform_account, f"wave-{n}", 1, SPAM)
    services.clusters_find()
    cluster = Cluster.objects.get()
    _post(platform_account, "wave-3", 1, SPAM + "!!")
    result = services.clusters_find()["content"]
    assert result["seeds"] == 1 and result["grown"] == 1
    cluster.refresh_from_db()
    assert cluster.content_count == 4 and cluster.size == 4


# --- Restricted evidence ---------------------------------------------------------------------


@pytest.fixture
def team_content(platform_account):
    """Copy-paste content reported as child safety (restricted cases of the team)."""
    for n in range(4):
        _post(platform_account, f"cs-{n}", 1, SPAM, reason="child_safety")
    services.clusters_find()
    return Cluster.objects.get()


def test_restricted_content_makes_a_team_cluster_only_its_team_sees(
    team_content, analyst, senior, specialist, api_client_for, session_client_for
):
    assert team_content.team == "child-safety"
    for outsider in (analyst, senior):
        assert team_content.pk not in {c.pk for c in cluster_list(actor=outsider)}
        with pytest.raises(Exception) as raised:
            cluster_detail(actor=outsider, cluster_id=team_content.pk)
        assert raised.type.__name__ in ("Http404", "HiddenObject")
        api = api_client_for(outsider)
        assert api.get(f"/api/v1/clusters/{team_content.pk}").status_code == 404
        listed = api.get("/api/v1/clusters").json()
        assert team_content.pk not in {c["id"] for c in listed["results"]}
        page = session_client_for(outsider).get(
            reverse("investigations:cluster-detail", args=[team_content.pk])
        )
        assert page.status_code == 404
        html = session_client_for(outsider).get(reverse("investigations:cluster-list")).content
        assert f'data-cluster-id="{team_content.pk}"'.encode() not in html
        assert b"post-cs-0" not in html
    assert team_content.pk in {c.pk for c in cluster_list(actor=specialist)}
    body = api_client_for(specialist).get(f"/api/v1/clusters/{team_content.pk}").json()
    assert body["restricted_to_team"] == "child-safety"
    assert {m["external_id"] for m in body["members"] if m["role"] == "content"} == {
        f"post-cs-{n}-1" for n in range(4)
    }


def test_restricted_content_never_joins_an_unrestricted_cluster(
    platform_account, analyst, specialist
):
    cases = [_post(platform_account, f"mix-{n}", 1, SPAM) for n in range(5)]
    # Two of the cases were escalated to the child-safety team (restricted) before the run.
    Case.objects.filter(pk__in=[cases[3].pk, cases[4].pk]).update(
        restricted=True, team="child-safety"
    )
    services.clusters_find()
    open_cluster = Cluster.objects.get(team="")
    team_cluster = Cluster.objects.get(team="child-safety")
    assert _members(open_cluster, ClusterMember.Role.CONTENT) == {
        f"post-mix-{n}-1" for n in range(3)
    }
    assert _members(team_cluster, ClusterMember.Role.CONTENT) == {
        f"post-mix-{n}-1" for n in range(5)
    }
    listed = {c.pk: c for c in cluster_list(actor=analyst)}
    assert set(listed) == {open_cluster.pk}
    assert listed[open_cluster.pk].visible_content == 3
    assert cluster_detail(actor=analyst, cluster_id=open_cluster.pk).content_total == 3


def test_member_counts_only_count_members_the_viewer_may_see(platform_account, analyst, senior):
    _ring(platform_account)
    services.clusters_find()
    cluster = Cluster.objects.get()
    # One member's only case is now restricted: it is no longer there for outsiders.
    Case.objects.filter(subject__external_id="ring-4").update(restricted=True, team="child-safety")
    listed = {c.pk: c for c in cluster_list(actor=analyst)}
    assert listed[cluster.pk].visible_size == 3
    detail = cluster_detail(actor=analyst, cluster_id=cluster.pk)
    assert {m["external_id"] for m in detail.accounts} == {"ring-1", "ring-2", "ring-3"}
    assert detail.accounts_total == 3
    # The payment instrument is shared with the hidden member only: not shown.
    assert {row["kind"] for row in detail.identifiers} == {"device"}


# --- Hand-made clusters and status -----------------------------------------------------------


@pytest.fixture
def ring(platform_account) -> Cluster:
    _ring(platform_account)
    services.clusters_find()
    return Cluster.objects.get()


def test_an_analyst_builds_a_cluster_by_hand_through_the_api(ring, analyst, api_client_for):
    response = api_client_for(analyst).post(
        "/api/v1/clusters",
        {"name": "Device ring (manual)", "members": ["ring-1", "ring-4", "loner"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["origin"] == "manual" and body["size"] == 3
    assert {m["external_id"] for m in body["members"]} == {"ring-1", "ring-4", "loner"}
    cluster = Cluster.objects.get(pk=body["id"])
    assert cluster.created_by == analyst and cluster.signature == ""
    assert cluster.history.first().history_user == analyst


def test_a_hand_made_cluster_with_an_unknown_or_hidden_member_is_a_404_naming_it(
    ring, platform_account, analyst, api_client_for
):
    _post(platform_account, "hidden-acct", 1, "anything", reason="child_safety")
    response = api_client_for(analyst).post(
        "/api/v1/clusters",
        {"name": "Ring", "members": ["ring-1", "no-such-acct", "hidden-acct"]},
        format="json",
    )
    # Well-formed, but it names accounts the caller cannot reach: 404, each named.
    assert response.status_code == 404
    message = response.json()["error"]["fields"]["members"][0]
    assert "no-such-acct" in message and "hidden-acct" in message
    assert "ring-1" not in message
    bad = api_client_for(analyst).post(
        "/api/v1/clusters", {"name": "", "members": ["ring-1"]}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"name", "members"}
    twice = api_client_for(analyst).post(
        "/api/v1/clusters", {"name": "Ring", "members": ["ring-1", "ring-1"]}, format="json"
    )
    assert twice.status_code == 400
    assert twice.json()["error"]["fields"]["members"] == ["Each account once."]
    assert Cluster.objects.count() == 1


def test_an_associate_reads_clusters_but_may_not_build_or_dismiss_them(
    ring, associate, api_client_for, session_client_for
):
    api = api_client_for(associate)
    assert api.get(f"/api/v1/clusters/{ring.pk}").status_code == 200
    response = api.post(
        "/api/v1/clusters", {"name": "Mine", "members": ["ring-1", "ring-2"]}, format="json"
    )
    assert response.status_code == 403
    client = session_client_for(associate)
    response = client.post(
        reverse("investigations:cluster-status", args=[ring.pk]),
        {"action": "dismiss", "reason": "Looks like a family.", "version": ring.version},
    )
    assert response.status_code == 403
    ring.refresh_from_db()
    assert ring.status == Cluster.Status.OPEN


def test_associates_see_masked_identifiers_without_fingerprints(
    ring, associate, analyst, api_client_for
):
    body = api_client_for(associate).get(f"/api/v1/clusters/{ring.pk}").json()
    assert body["evidence"]["identifiers"]
    assert all("hash" not in row for row in body["evidence"]["identifiers"])
    assert all(
        "hash" not in row for m in body["members"] for row in m["evidence"].get("identifiers", [])
    )
    full = api_client_for(analyst).get(f"/api/v1/clusters/{ring.pk}").json()
    assert all(len(row["hash"]) == 12 for row in full["evidence"]["identifiers"])


def test_dismissing_records_who_when_and_why_and_a_stale_version_is_a_conflict(
    ring, analyst, senior, session_client_for
):
    client = session_client_for(analyst)
    response = client.post(
        reverse("investigations:cluster-status", args=[ring.pk]),
        {"action": "dismiss", "reason": "Shared family tablet, not coordinated.", "version": 1},
    )
    assert response.status_code == 302
    ring.refresh_from_db()
    assert ring.status == Cluster.Status.DISMISSED
    assert ring.status_changed_by == analyst and ring.status_changed_at is not None
    assert ring.status_reason == "Shared family tablet, not coordinated."
    assert ring.version == 2
    assert ring.history.first().history_user == analyst
    # A senior's page still shows version 1.
    with pytest.raises(ConflictError):
        services.cluster_reopen(actor=senior, cluster_id=ring.pk, reason="Look again.", version=1)
    with pytest.raises(ConflictError):
        services.cluster_dismiss(actor=senior, cluster_id=ring.pk, reason="Again, no.", version=2)
    reopened = services.cluster_reopen(
        actor=senior, cluster_id=ring.pk, reason="New accounts joined.", version=2
    )
    assert reopened.status == Cluster.Status.OPEN and reopened.status_changed_by == senior


def test_dismissing_without_a_reason_is_refused(ring, analyst):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as raised:
        services.cluster_dismiss(actor=analyst, cluster_id=ring.pk, reason=" ", version=1)
    assert "reason" in raised.value.message_dict


def test_a_finished_wave_marks_its_cluster_actioned(ring, senior):
    cluster = services.cluster_mark_actioned(actor=senior, cluster_id=ring.pk, wave_id=42)
    assert cluster.status == Cluster.Status.ACTIONED
    assert cluster.status_reason == "Enforced by wave #42" and cluster.status_changed_by == senior


def test_members_are_added_and_removed_by_hand(ring, platform_account, analyst, associate):
    services.cluster_members_add(actor=analyst, cluster_id=ring.pk, members=["loner"])
    ring.refresh_from_db()
    assert "loner" in _members(ring) and ring.size == 5
    services.cluster_members_remove(actor=analyst, cluster_id=ring.pk, members=["ring-1"])
    ring.refresh_from_db()
    assert "ring-1" not in _members(ring) and ring.size == 4
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.cluster_members_add(actor=associate, cluster_id=ring.pk, members=["ring-1"])


def test_the_api_lists_clusters_by_status_and_refuses_bad_filters(
    ring, analyst, senior, support_agent, api_client_for, django_assert_max_num_queries
):
    services.cluster_dismiss(
        actor=senior, cluster_id=ring.pk, reason="Family sharing devices.", version=1
    )
    api = api_client_for(analyst)
    assert api.get("/api/v1/clusters?status=open").json()["results"] == []
    body = api.get("/api/v1/clusters?status=dismissed").json()
    assert [c["id"] for c in body["results"]] == [ring.pk]
    assert body["results"][0]["size"] == 4 and body["results"][0]["status"] == "dismissed"
    detail = api.get(f"/api/v1/clusters/{ring.pk}").json()
    assert detail["status_changed_by"] == "grace_senior"
    assert detail["status_reason"] == "Family sharing devices."
    assert {m["external_id"] for m in detail["members"]} == {f"ring-{n}" for n in range(1, 5)}
    assert all(m["role"] == "account" for m in detail["members"])
    bad = api.get("/api/v1/clusters?status=closed&sort=name")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"status", "sort"}
    assert api.get("/api/v1/clusters/999999").status_code == 404
    assert api_client_for(support_agent).get("/api/v1/clusters").status_code == 403


# --- Console ---------------------------------------------------------------------------------


def test_the_console_pages_show_clusters_to_who_investigates(
    ring, analyst, support_agent, outsider, session_client_for, django_assert_max_num_queries
):
    client = session_client_for(analyst)
    with django_assert_max_num_queries(25):
        page = client.get(reverse("investigations:cluster-list"), {"sort": "size"})
    assert page.status_code == 200
    assert f'data-cluster-id="{ring.pk}"'.encode() in page.content
    detail = client.get(reverse("investigations:cluster-detail", args=[ring.pk]))
    assert detail.status_code == 200
    assert reverse("investigations:account", args=["ring-3"]).encode() in detail.content
    network = client.get(reverse("investigations:cluster-network", args=[ring.pk]))
    assert network.status_code == 200 and "nodes" in network.json()
    for refused in (support_agent, outsider):
        other = session_client_for(refused)
        assert other.get(reverse("investigations:cluster-list")).status_code == 403


def test_the_console_builds_a_cluster_from_a_selection(
    ring, analyst, associate, session_client_for
):
    client = session_client_for(analyst)
    response = client.post(
        reverse("investigations:cluster-create"),
        {"name": "From the network", "members": ["ring-1", "loner"]},
    )
    assert response.status_code == 302
    cluster = Cluster.objects.get(name="From the network")
    assert response["Location"] == reverse("investigations:cluster-detail", args=[cluster.pk])
    bad = client.post(
        reverse("investigations:cluster-create"), {"name": "x", "members": ["ring-1", "nope"]}
    )
    assert bad.status_code == 400 and b"nope" in bad.content
    refused = session_client_for(associate).post(
        reverse("investigations:cluster-create"), {"name": "y", "members": ["ring-1", "loner"]}
    )
    assert refused.status_code == 403


def test_user_text_is_escaped_on_the_cluster_page(platform_account, analyst, session_client_for):
    for n in range(3):
        _post(
            platform_account, f"xss-{n}", 1, "<script>alert('x')</script> buy cheap followers now"
        )
    services.clusters_find()
    cluster = Cluster.objects.get()
    html = (
        session_client_for(analyst)
        .get(reverse("investigations:cluster-detail", args=[cluster.pk]))
        .content
    )
    assert b"<script>alert" not in html and b"&lt;script&gt;alert" in html


# --- The job's entry points ------------------------------------------------------------------


def test_the_command_and_the_task_run_the_same_job(platform_account):
    _ring(platform_account)
    from io import StringIO

    out = StringIO()
    call_command("find_clusters", stdout=out, stderr=StringIO())
    assert "identifiers:" in out.getvalue() and "1 cluster(s) created" in out.getvalue()
    assert Cluster.objects.count() == 1
    result = clusters_find_task()
    assert result["ran"] and result["identifiers"]["rows_read"] == 0


def test_a_run_while_another_holds_the_lock_does_nothing(platform_account):
    _ring(platform_account)
    other = psycopg2.connect(**connection.get_connection_params())
    other.autocommit = True
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [services.LOCK_NAME])
        assert services.clusters_find() == {"ran": False}
        assert not Cluster.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [services.LOCK_NAME])
    finally:
        other.close()
    assert services.clusters_find()["ran"]


def test_looking_at_a_cluster_s_graph_is_in_the_access_log(ring, analyst, client):
    from tsops.models import AccessLog

    client.force_login(analyst)
    response = client.get(f"/clusters/{ring.pk}/network.json")
    assert response.status_code == 200
    assert response.json()["nodes"]
    entry = AccessLog.objects.get(object_type="investigations.cluster", object_id=str(ring.pk))
    assert (entry.actor, entry.action, entry.detail["view"]) == (
        analyst,
        AccessLog.Action.VIEWED,
        "cluster_network",
    )
