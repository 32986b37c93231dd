"""The console's network page: an account's linked accounts as a graph and as a table."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from investigations.permissions import can_manage_clusters
from investigations.selectors.network import (
    KINDS,
    MAX_HOPS,
    Network,
    network_query_detail,
    network_query_parse,
)
from investigations.selectors.network import (
    account_network as network_around,
)
from investigations.services.network import network_view_record
from investigations.visibility import account_get_for
from tsops.decorators import console_view
from tsops.presentation import label_for


def _url_or_empty(name: str, *args) -> str:
    """The URL of a page another area provides, or "" while it is not there yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _account_url(external_id: str) -> str:
    return _url_or_empty("investigations:account", external_id)


def _with_links(network: Network) -> dict:
    """The network as the page's script and table read it: account nodes carry their page's
    URL and the network data route (to expand them)."""
    data = network.as_dict()
    for node in data["nodes"]:
        if node["kind"] == "account":
            node["url"] = _account_url(node["external_id"])
            node["data_url"] = reverse(
                "investigations:account-network-data", args=[node["external_id"]]
            )
    return data


def _table(data: dict) -> dict:
    """Rows of the table view: accounts with their shared identifiers, hubs, and edges."""
    labels = {node["id"]: node for node in data["nodes"]}
    shared: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for edge in data["edges"]:
        for end in (edge["source"], edge["target"]):
            shared[end].add((edge["kind"], edge["masked"]))
    accounts = [
        {**node, "shared": sorted(shared[node["id"]])}
        for node in data["nodes"]
        if node["kind"] == "account"
    ]
    hubs = [node for node in data["nodes"] if node["kind"] == "hub"]

    def name(node_id: str) -> str:
        node = labels[node_id]
        if node["kind"] == "hub":
            return f"hub {node['identifier_kind']} {node['masked']}"
        return node["external_id"]

    edges = [
        {
            **edge,
            "source_name": name(edge["source"]),
            "target_name": name(edge["target"]),
            "source_url": labels[edge["source"]].get("url", ""),
            "target_url": labels[edge["target"]].get("url", ""),
        }
        for edge in data["edges"]
    ]
    return {"accounts": accounts, "hubs": hubs, "edges": edges}


@console_view("investigate_accounts")
@require_GET
def account_network(request: HttpRequest, external_id: str) -> HttpResponse:
    account = account_get_for(actor=request.user, external_id=external_id)
    errors: dict[str, list[str]] = {}
    try:
        query = network_query_parse(request.GET)
    except ValidationError as error:
        errors = error.message_dict
        query = None
    data = {"nodes": [], "edges": [], "truncated": False}
    if query is not None:
        network = account_network_read(request, account, query)
        data = _with_links(network)
    params = request.GET
    chosen_kinds = query["kinds"] if query else []
    context = {
        "account": account,
        "account_url": _account_url(account.external_id),
        "data": data,
        "table": _table(data),
        "errors": errors,
        "kinds": [(kind, not chosen_kinds or kind in chosen_kinds) for kind in KINDS],
        "hops": query["hops"] if query else params.get("hops", "2"),
        "hop_choices": range(1, MAX_HOPS + 1),
        "since": params.get("since", ""),
        "until": params.get("until", ""),
        "expand": sorted(query["expand_hubs"]) if query else [],
        "cluster_create_url": _url_or_empty("investigations:cluster-create"),
        "can_build_cluster": can_manage_clusters(request.user),
        "data_url": reverse("investigations:account-network-data", args=[account.external_id]),
        "account_count": sum(1 for n in data["nodes"] if n["kind"] == "account"),
        "hub_count": sum(1 for n in data["nodes"] if n["kind"] == "hub"),
        "hub_limit": settings.TSOPS_NETWORK_HUB_LIMIT,
        "page": {
            "seed": account.external_id,
            "kind_labels": {kind: label_for("kind", kind) for kind in KINDS},
            "query": {
                "kinds": ",".join(chosen_kinds),
                "since": params.get("since", ""),
                "until": params.get("until", ""),
            },
        },
    }
    return render(request, "investigations/network.html", context, status=400 if errors else 200)


def account_network_read(request: HttpRequest, account, query: dict) -> Network:
    """Read the network and log the view (every page and data request)."""
    network = network_around(actor=request.user, account=account, query=query)
    network_view_record(
        actor=request.user, account=account, query=network_query_detail(query), request=request
    )
    return network


@console_view("investigate_accounts")
@require_GET
def account_network_data(request: HttpRequest, external_id: str) -> JsonResponse:
    """The same network as JSON, for the page's click-to-expand (same parameters)."""
    account = account_get_for(actor=request.user, external_id=external_id)
    try:
        query = network_query_parse(request.GET)
    except ValidationError as error:
        return JsonResponse({"errors": error.message_dict}, status=400)
    return JsonResponse(_with_links(account_network_read(request, account, query)))
