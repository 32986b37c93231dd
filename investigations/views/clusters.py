"""Console pages of clusters: the list, one cluster (members, evidence, graph, status forms),
its network as JSON, building one by hand and changing its status."""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.models import Identifier
from investigations.models import Cluster
from investigations.permissions import can_manage_clusters, can_run_waves
from investigations.selectors.clusters import (
    ORIGINS,
    SORTS,
    STATUSES,
    cluster_detail,
    cluster_list,
    cluster_member_ids,
)
from investigations.services import clusters as services
from investigations.services.network import cluster_network_view_record
from investigations.visibility import cluster_get_for
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.presentation import label_for

PAGE_SIZE = 25


def _choice(value: str, allowed, default: str) -> str:
    return value if value in allowed else default


@console_view("investigate_accounts")
@require_GET
def cluster_list_page(request: HttpRequest) -> HttpResponse:
    """Clusters by status, with size, origin, dominant reasons and last activity."""
    status = _choice(request.GET.get("status", ""), STATUSES, Cluster.Status.OPEN)
    origin = _choice(request.GET.get("origin", ""), ORIGINS, "")
    sort = _choice(request.GET.get("sort", ""), SORTS, "last_seen")
    clusters = cluster_list(actor=request.user, status=status, origin=origin, sort=sort)
    page = Paginator(clusters, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "clusters": list(page.object_list),
        "status": status,
        "origin": origin,
        "sort": sort,
        "statuses": Cluster.Status.choices,
        "origins": Cluster.Origin.choices,
        "can_manage": can_manage_clusters(request.user),
    }
    return render(request, "investigations/cluster_list.html", context)


def _url_or_empty(name: str, *args) -> str:
    """The URL of a page another area provides, or "" while it is not there."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _has_network_component() -> bool:
    from django.contrib.staticfiles import finders

    return bool(finders.find("js/network.js")) and bool(finders.find("vendor/cytoscape"))


@console_view("investigate_accounts")
@require_GET
def cluster_detail_page(request: HttpRequest, cluster_id: int) -> HttpResponse:
    """One cluster: members and their standing, shared identifiers, content, status."""
    detail = cluster_detail(actor=request.user, cluster_id=cluster_id)
    cluster = detail.cluster
    has_graph = _has_network_component()
    context = {
        "detail": detail,
        "cluster": cluster,
        "wave_url": _url_or_empty("investigations:wave-new", cluster.pk)
        if can_run_waves(request.user) and cluster.status == Cluster.Status.OPEN
        else "",
        "network_url": reverse("investigations:cluster-network", args=[cluster.pk]),
        "has_graph": has_graph,
        "graph": _graph(request, cluster) if has_graph else None,
        "graph_page": {
            "seed": "",
            "kind_labels": {kind: label_for("kind", kind) for kind in Identifier.Kind.values},
            "query": {"kinds": "", "since": "", "until": ""},
        },
        "can_dismiss": detail.can_manage and cluster.status == Cluster.Status.OPEN,
        "can_reopen": detail.can_manage and cluster.status != Cluster.Status.OPEN,
    }
    return render(request, "investigations/cluster_detail.html", context)


def _graph(request: HttpRequest, cluster: Cluster) -> dict:
    """The graph of the cluster's visible members and what they share, as the network
    component reads it (account nodes link to their page and their own network data)."""
    ids = cluster_member_ids(actor=request.user, cluster=cluster)
    try:
        from investigations.selectors.network import network_for_accounts
    except ImportError:  # pragma: no cover - the network selectors are part of the app
        return {"nodes": [], "edges": [], "truncated": False}
    data = network_for_accounts(actor=request.user, account_ids=ids, hops=0).as_dict()
    for node in data["nodes"]:
        if node["kind"] == "account":
            node["url"] = _url_or_empty("investigations:account", node["external_id"])
            node["data_url"] = _url_or_empty(
                "investigations:account-network-data", node["external_id"]
            )
    return data


@console_view("investigate_accounts")
@require_GET
def cluster_network(request: HttpRequest, cluster_id: int) -> JsonResponse:
    """The graph of the cluster's visible members and what they share (JSON)."""
    cluster = cluster_get_for(actor=request.user, cluster_id=cluster_id)
    graph = _graph(request, cluster)
    cluster_network_view_record(actor=request.user, cluster=cluster, request=request)
    return JsonResponse(graph)


def _members_from(request: HttpRequest) -> list[str]:
    members = [m for m in request.POST.getlist("members") if m.strip()]
    text = request.POST.get("members_text", "")
    members += [m for m in re.split(r"[\s,;]+", text) if m]
    return members


@console_view("investigate_accounts")
@require_http_methods(["GET", "POST"])
def cluster_create_page(request: HttpRequest) -> HttpResponse:
    """Build a cluster by hand (the network page posts its selection here)."""
    if not can_manage_clusters(request.user):
        raise PermissionDenied("Your role may read clusters but not build them.")
    errors: dict = {}
    name = request.POST.get("name", "") if request.method == "POST" else ""
    members = _members_from(request) if request.method == "POST" else []
    if request.method == "POST":
        try:
            cluster = services.cluster_create(actor=request.user, name=name, members=members)
        except ValidationError as error:
            errors = error.message_dict
        else:
            messages.success(
                request, f"Cluster “{cluster.name}” built with {cluster.size} accounts."
            )
            return redirect("investigations:cluster-detail", cluster_id=cluster.pk)
    context = {"name": name, "members_text": "\n".join(members), "errors": errors}
    return render(
        request, "investigations/cluster_form.html", context, status=400 if errors else 200
    )


@console_view("investigate_accounts")
@require_POST
def cluster_status(request: HttpRequest, cluster_id: int) -> HttpResponse:
    """Dismiss or reopen a cluster, saying why (the version guards against a stale page)."""
    # Who may comes before what was sent: 404 for a cluster out of sight, then 403.
    cluster_get_for(actor=request.user, cluster_id=cluster_id)
    if not can_manage_clusters(request.user):
        raise PermissionDenied("Your role may read clusters but not dismiss or reopen them.")
    action = request.POST.get("action", "")
    change = {"dismiss": services.cluster_dismiss, "reopen": services.cluster_reopen}.get(action)
    version = request.POST.get("version", "")
    if change is None or not version.isdigit():
        messages.error(request, "Choose to dismiss or reopen the cluster from its page.")
        return redirect("investigations:cluster-detail", cluster_id=cluster_id)
    try:
        cluster = change(
            actor=request.user,
            cluster_id=cluster_id,
            reason=request.POST.get("reason", ""),
            version=int(version),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.message_dict.get("reason", error.messages)))
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        done = "dismissed" if action == "dismiss" else "reopened"
        messages.success(request, f"Cluster “{cluster.name}” {done}.")
    return redirect("investigations:cluster-detail", cluster_id=cluster_id)
