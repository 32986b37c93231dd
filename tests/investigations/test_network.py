"""The network of linked accounts on a hand-built graph: hops, kinds, time window, hubs,
truncation, restricted accounts, masking, the API's answers, the access log and a bounded
number of queries.

The graph (identifier values in brackets; the ip is a hub at a limit of 3):

    A -[device d1]- B -[payment p1]- D -[phone ph1]- E
    A -[email e1, seen in early 2025 only]- C
    A, H1, H2, H3, H4 -[ip 10.0.0.1]-  (a hub: five accounts)
    R -[device d1]-  (its only case is restricted to child safety)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.identifiers import identifier_hash
from cases.models import Identifier, Subject
from investigations.selectors.network import hub_id, network_expand, network_for_accounts
from tests.factories import make_case
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

IDENTIFIERS = {
    "A": [("device", "d1-device-aaaa"), ("email", "e1.shared@example.com"), ("ip", "10.0.0.1")],
    "B": [("device", "d1-device-aaaa"), ("payment", "4111111111111111")],
    "C": [("email", "e1.shared@example.com")],
    "D": [("payment", "4111111111111111"), ("phone", "+15550001111")],
    "E": [("phone", "+15550001111")],
    "H1": [("ip", "10.0.0.1")],
    "H2": [("ip", "10.0.0.1")],
    "H3": [("ip", "10.0.0.1")],
    "H4": [("ip", "10.0.0.1")],
    "R": [("device", "d1-device-aaaa")],
}
IP_HUB = hub_id("ip", identifier_hash("ip", "10.0.0.1"))


def _account(platform, name: str, identifiers, reason: str = "spam") -> Subject:
    make_case(
        platform,
        reason=reason,
        subject={
            "kind": "account",
            "external_id": f"net-{name}",
            "owner_id": "",
        },
        identifiers=[{"kind": k, "value": v} for k, v in identifiers],
    )
    return Subject.objects.get(kind="account", external_id=f"net-{name}")


@pytest.fixture
def graph(platform_account, settings) -> dict[str, Subject]:
    settings.TSOPS_NETWORK_HUB_LIMIT = 3
    settings.TSOPS_NETWORK_MAX_NODES = 50
    accounts = {
        name: _account(platform_account, name, ids, "child_safety" if name == "R" else "spam")
        for name, ids in IDENTIFIERS.items()
    }
    # The shared e-mail was seen on A and C in early 2025 only.
    Identifier.objects.filter(kind="email").update(
        created_at=datetime(2025, 1, 5, tzinfo=UTC), last_seen=datetime(2025, 2, 1, tzinfo=UTC)
    )
    return accounts


def _names(network) -> dict[str, int]:
    return {n["external_id"].removeprefix("net-"): n["depth"] for n in network.account_nodes()}


def _edges(network, graph) -> set[tuple[str, str, str]]:
    names = {f"account-{s.pk}": name for name, s in graph.items()}
    names[IP_HUB] = "hub"
    return {(*sorted((names[e["source"]], names[e["target"]])), e["kind"]) for e in network.edges}


def test_one_hop_gives_the_direct_neighbours_and_the_hub_as_one_node(graph, analyst):
    network = network_expand(actor=analyst, seeds=[graph["A"]], hops=1)
    assert _names(network) == {"A": 0, "B": 1, "C": 1}
    assert _edges(network, graph) == {
        ("A", "B", "device"),
        ("A", "C", "email"),
        ("A", "hub", "ip"),
    }
    hubs = [n for n in network.nodes if n["kind"] == "hub"]
    assert [(h["id"], h["identifier_kind"], h["accounts_over"], h["expanded"]) for h in hubs] == [
        (IP_HUB, "ip", 3, False)
    ]
    assert network.truncated is False


def test_two_and_three_hops_reach_exactly_the_accounts_that_far(graph, analyst):
    two = network_expand(actor=analyst, seeds=[graph["A"]], hops=2)
    assert _names(two) == {"A": 0, "B": 1, "C": 1, "D": 2}
    assert ("B", "D", "payment") in _edges(two, graph)
    assert not any("E" in edge for edge in _edges(two, graph))
    three = network_expand(actor=analyst, seeds=[graph["A"]], hops=3)
    assert _names(three) == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 3}
    assert _edges(three, graph) == {
        ("A", "B", "device"),
        ("A", "C", "email"),
        ("A", "hub", "ip"),
        ("B", "D", "payment"),
        ("D", "E", "phone"),
    }


def test_edges_carry_the_masked_value_and_when_it_was_seen(graph, analyst):
    network = network_expand(actor=analyst, seeds=[graph["A"]], hops=1)
    email = next(e for e in network.edges if e["kind"] == "email")
    assert email["masked"] == Identifier.objects.filter(kind="email").first().masked
    assert "e1.shared" not in email["masked"]
    assert email["first_seen"].startswith("2025-01-05")
    assert email["last_seen"].startswith("2025-02-01")


def test_the_kinds_filter_follows_only_those_identifiers(graph, analyst):
    network = network_expand(actor=analyst, seeds=[graph["A"]], hops=3, kinds=["device"])
    assert _names(network) == {"A": 0, "B": 1}
    assert _edges(network, graph) == {("A", "B", "device")}
    network = network_expand(actor=analyst, seeds=[graph["A"]], hops=3, kinds=["device", "payment"])
    assert _names(network) == {"A": 0, "B": 1, "D": 2}


def test_the_time_window_keeps_links_seen_inside_it(graph, analyst):
    recent = network_expand(
        actor=analyst, seeds=[graph["A"]], hops=1, since=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert "C" not in _names(recent)
    early = network_expand(
        actor=analyst,
        seeds=[graph["A"]],
        hops=1,
        since=datetime(2025, 1, 20, tzinfo=UTC),
        until=datetime(2025, 3, 1, tzinfo=UTC),
    )
    # Only the e-mail was seen then (the other identifiers were first seen today).
    assert _names(early) == {"A": 0, "C": 1}


def test_a_hub_is_expanded_only_when_asked(graph, analyst):
    network = network_expand(actor=analyst, seeds=[graph["A"]], hops=1, expand_hubs={IP_HUB})
    assert _names(network) == {"A": 0, "B": 1, "C": 1, "H1": 1, "H2": 1, "H3": 1, "H4": 1}
    hub_edges = {edge for edge in _edges(network, graph) if "hub" in edge}
    assert hub_edges == {(name, "hub", "ip") for name in ("A", "H1", "H2", "H3", "H4")}
    assert next(n for n in network.nodes if n["kind"] == "hub")["expanded"] is True


def test_the_network_stops_at_the_node_limit_and_says_so(graph, analyst, settings):
    settings.TSOPS_NETWORK_MAX_NODES = 3
    network = network_expand(actor=analyst, seeds=[graph["A"]], hops=3, expand_hubs={IP_HUB})
    assert len(network.account_nodes()) == 3
    assert network.truncated is True


def test_hops_over_three_or_an_unknown_kind_is_refused_naming_the_field(graph, analyst):
    with pytest.raises(ValidationError) as error:
        network_expand(actor=analyst, seeds=[graph["A"]], hops=4)
    assert "hops" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        network_expand(actor=analyst, seeds=[graph["A"]], hops=-1)
    assert "hops" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        network_expand(actor=analyst, seeds=[graph["A"]], kinds=["cookie"])
    assert "kinds" in error.value.message_dict


def test_an_account_whose_only_case_is_restricted_is_not_in_an_outsiders_network(
    graph, analyst, associate, specialist
):
    for actor in (analyst, associate):
        network = network_expand(actor=actor, seeds=[graph["A"]], hops=3)
        assert "R" not in _names(network)
        assert not any("R" in edge for edge in _edges(network, graph))
        # A seed the actor may not see gives nothing at all.
        assert network_expand(actor=actor, seeds=[graph["R"]], hops=2).nodes == []
    team = network_expand(actor=specialist, seeds=[graph["R"]], hops=1)
    assert _names(team) == {"R": 0}
    # The child-safety member sees R and only what their own cases show them (not A or B,
    # whose cases are unrestricted and not theirs).
    assert ("B", "R", "device") not in _edges(team, graph)


def test_a_team_member_sees_the_restricted_account_in_a_network_they_may_read(
    graph, platform_account, specialist
):
    # A shares the device with an account of a child-safety case, so the member sees both.
    make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "net-post-A", "owner_id": "net-A"},
    )
    network = network_expand(actor=specialist, seeds=[graph["A"]], hops=1)
    assert _names(network) == {"A": 0, "R": 1}
    assert ("A", "R", "device") in _edges(network, graph)


def test_standing_counts_only_what_the_actor_may_see(graph, analyst, specialist, platform_account):
    make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "net-post-B", "owner_id": "net-B"},
    )
    nodes = {
        n["external_id"]: n
        for n in network_expand(actor=analyst, seeds=[graph["A"]], hops=1).account_nodes()
    }
    assert nodes["net-B"]["standing"] == {
        "actioned": False,
        "open_cases": 1,
        "strikes": 0,
        "evasion_suspect": False,
    }


def test_standing_shows_an_action_strikes_and_an_evasion_suspect(graph, analyst, senior):
    from cases import services as case_services
    from cases.models import Case, CaseLink
    from enforcement import services as enforcement

    case = case_services.case_claim(actor=senior, case_id=Case.objects.get(subject=graph["B"]).pk)
    enforcement.decision_make(
        actor=senior,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="The same link posted forty times within an hour.",
        statement_of_reasons="Your account posted repeated promotional links.",
        actions=[{"type": "suspend", "duration_hours": 72}],
    )
    CaseLink.objects.create(
        from_case=Case.objects.get(subject=graph["C"]),
        to_case=case,
        kind=CaseLink.Kind.EVASION_SUSPECT,
    )
    nodes = {
        n["external_id"]: n["standing"]
        for n in network_expand(actor=analyst, seeds=[graph["A"]], hops=1).account_nodes()
    }
    assert nodes["net-B"]["actioned"] is True and nodes["net-B"]["strikes"] > 0
    assert nodes["net-B"]["open_cases"] == 0
    assert nodes["net-C"]["evasion_suspect"] is True and nodes["net-C"]["actioned"] is False
    assert nodes["net-A"] == {
        "actioned": False,
        "open_cases": 1,
        "strikes": 0,
        "evasion_suspect": False,
    }


def test_a_groups_network_links_its_members_among_themselves(graph, analyst):
    members = [graph[name].pk for name in ("A", "B", "D", "R")]
    network = network_for_accounts(actor=analyst, account_ids=members, hops=0)
    assert _names(network) == {"A": 0, "B": 0, "D": 0}
    assert _edges(network, graph) == {("A", "B", "device"), ("B", "D", "payment")}
    wider = network_for_accounts(actor=analyst, account_ids=members, hops=1)
    assert set(_names(wider)) == {"A", "B", "C", "D", "E"}
    with pytest.raises(ValidationError):
        network_for_accounts(actor=analyst, account_ids=members, hops=2)


def _count_queries(actor, seed, **kwargs) -> int:
    with CaptureQueriesContext(connection) as queries:
        network_expand(actor=actor, seeds=[seed], **kwargs)
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_network(
    graph, analyst, platform_account, settings, django_assert_max_num_queries
):
    small = _count_queries(analyst, graph["A"], hops=3)
    assert small <= 20
    # Twenty more accounts share B's payment instrument (not a hub at a limit of 30), each
    # with its own device shared with a partner two hops further out.
    for n in range(20):
        _account(
            platform_account,
            f"ring-{n}",
            [("payment", "4111111111111111"), ("device", f"ring-device-{n}")],
        )
        _account(platform_account, f"ring-partner-{n}", [("device", f"ring-device-{n}")])
    settings.TSOPS_NETWORK_HUB_LIMIT = 30
    assert len(network_expand(actor=analyst, seeds=[graph["A"]], hops=3).nodes) > 40
    with django_assert_max_num_queries(small):
        network_expand(actor=analyst, seeds=[graph["A"]], hops=3)


# --- The API and the page ----------------------------------------------------------------------


def _api(client, external_id: str, query: str = ""):
    return client.get(f"/api/v1/accounts/{external_id}/network{query}")


def test_the_api_answers_nodes_edges_and_truncated_and_logs_the_view(
    graph, analyst, api_client_for
):
    client = api_client_for(analyst, scopes=["cases:read"])
    response = _api(client, "net-A", "?hops=2&kinds=device,payment")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {n["external_id"] for n in body["nodes"]} == {"net-A", "net-B", "net-D"}
    assert {"id", "kind", "external_id", "standing", "depth"} <= set(body["nodes"][0])
    assert set(body["edges"][0]) == {
        "source",
        "target",
        "kind",
        "masked",
        "first_seen",
        "last_seen",
    }
    assert body["truncated"] is False
    entry = AccessLog.objects.get(action=AccessLog.Action.VIEWED, actor=analyst)
    assert (entry.object_type, entry.object_id) == ("cases.subject", str(graph["A"].pk))
    assert entry.detail["hops"] == 2 and entry.detail["kinds"] == ["device", "payment"]


def test_the_api_refuses_bad_input_naming_the_field(graph, analyst, api_client_for):
    client = api_client_for(analyst, scopes=["cases:read"])
    for query, field in (
        ("?hops=4", "hops"),
        ("?hops=two", "hops"),
        ("?kinds=device,cookie", "kinds"),
        ("?since=yesterday", "since"),
        ("?until=2025-13-40", "until"),
        ("?since=2025-03-01&until=2025-01-01", "until"),
    ):
        response = _api(client, "net-A", query)
        assert response.status_code == 400, query
        assert field in response.json()["error"]["fields"], query
    assert not AccessLog.objects.filter(action=AccessLog.Action.VIEWED).exists()


def test_an_unknown_or_invisible_account_is_not_found(
    graph, analyst, support_agent, outsider, specialist, api_client_for
):
    client = api_client_for(analyst, scopes=["cases:read"])
    assert _api(client, "net-nobody").status_code == 404
    assert _api(client, "net-R").status_code == 404
    assert AccessLog.objects.filter(action=AccessLog.Action.DENIED, actor=analyst).exists()
    for actor in (support_agent, outsider):
        assert _api(api_client_for(actor, scopes=["cases:read"]), "net-A").status_code in (
            403,
            404,
        )
    assert _api(api_client_for(specialist, scopes=["cases:read"]), "net-R").status_code == 200
    # Without the read scope the key is refused.
    assert _api(api_client_for(analyst, scopes=["cases:write"]), "net-A").status_code == 403


def test_associates_see_masked_values_only(graph, associate, analyst, api_client_for):
    for actor in (associate, analyst):
        response = _api(api_client_for(actor, scopes=["cases:read"]), "net-A", "?hops=3")
        assert response.status_code == 200
        text = response.content.decode()
        for values in IDENTIFIERS.values():
            for _, value in values:
                assert value not in text
        masked = {e["masked"] for e in response.json()["edges"]}
        assert masked <= set(Identifier.objects.values_list("masked", flat=True))


def test_the_page_shows_the_graph_data_and_the_table_and_logs_the_view(
    graph, analyst, outsider, client
):
    client.force_login(analyst)
    url = reverse("investigations:account-network", args=["net-A"])
    response = client.get(url + "?hops=2")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="network-data"' in page
    assert 'data-testid="network-table"' in page
    for name in ("net-B", "net-C", "net-D"):
        assert name in page
    assert AccessLog.objects.filter(action=AccessLog.Action.VIEWED, actor=analyst).count() == 1
    assert client.get(url + "?hops=9").status_code == 400
    data = client.get(
        reverse("investigations:account-network-data", args=["net-B"]) + "?hops=1"
    ).json()
    assert {n["external_id"] for n in data["nodes"]} == {"net-A", "net-B", "net-D"}
    assert AccessLog.objects.filter(action=AccessLog.Action.VIEWED, actor=analyst).count() == 2
    assert client.get(reverse("investigations:account-network", args=["net-R"])).status_code == 404
    client.force_login(outsider)
    assert client.get(url).status_code in (403, 404)


def test_the_page_offers_building_a_cluster_only_to_who_may_build_one(
    graph, analyst, associate, client
):
    url = reverse("investigations:account-network", args=["net-A"])
    client.force_login(associate)
    page = client.get(url).content.decode()
    assert 'data-unavailable="1"' in page
    assert "Your role reads clusters but does not build them." in page
    # Associates see masked values in the tables too.
    assert "d1-device-aaaa" not in page and "e1.shared@example.com" not in page
    client.force_login(analyst)
    page = client.get(url).content.decode()
    assert 'data-unavailable="1"' not in page
    assert reverse("investigations:cluster-create") in page
