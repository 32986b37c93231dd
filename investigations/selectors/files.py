"""Reads of investigation files: the list, one file as its reader may see it, and what its
PDF report holds (accounts with standing, clusters with their evidence, cases with their
decisions, evidence hashes and the network picture).

Everything a file links is filtered again by the reader's own sight (``investigations.
visibility``) whenever it is shown: a file's members see the links they may see, never more.
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.html import escape

from cases.models import Case, Evidence, Identifier, Subject
from cases.visibility import visible_cases
from enforcement.models import Decision
from investigations.models import ClusterMember, Investigation, InvestigationNote
from investigations.permissions import can_edit_investigation
from investigations.visibility import (
    investigation_get_for,
    visible_account_ids,
    visible_accounts,
    visible_clusters,
    visible_investigations,
)
from tsops.presentation import label_for

# The network picture draws at most this many accounts (the report lists every one).
SVG_MAX_NODES = 40
# Per linked cluster, at most this many members go into the report.
CLUSTER_MEMBERS_IN_REPORT = 50


def investigation_list(*, actor) -> QuerySet[Investigation]:
    """The files the actor may see, open ones first, most recently changed first."""
    # No link counts here: a count would include links the reader may not see.
    return (
        visible_investigations(actor)
        .select_related("owner")
        .order_by("status", "-updated_at", "-pk")
    )


def investigation_get(*, actor, investigation_id: int) -> Investigation:
    """One file, or 404 when it does not exist or the actor may not see it."""
    return investigation_get_for(actor=actor, investigation_id=investigation_id)


@dataclass
class LinkedAccountRow:
    account: Subject
    standing: dict


@dataclass
class InvestigationView:
    """A file as its reader sees it: only the links they may see."""

    investigation: Investigation
    accounts: list[LinkedAccountRow] = field(default_factory=list)
    clusters: list = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    notes: list[InvestigationNote] = field(default_factory=list)
    members: list = field(default_factory=list)
    can_edit: bool = False
    hidden_links: int = 0


def _standing(actor, account_ids: list[int]) -> dict[int, dict]:
    from investigations.selectors.network import account_standing

    return account_standing(actor=actor, account_ids=account_ids)


def _latest_decisions() -> Prefetch:
    return Prefetch(
        "decisions",
        queryset=Decision.objects.select_related("policy_section", "decided_by")
        .prefetch_related("actions")
        .order_by("-created_at", "-pk"),
    )


def investigation_view(*, actor, investigation: Investigation) -> InvestigationView:
    """The file with the links the actor may see (a fixed number of queries)."""
    accounts = list(
        visible_accounts(actor)
        .filter(pk__in=investigation.accounts.values("pk"))
        .order_by("external_id")
    )
    standing = _standing(actor, [a.pk for a in accounts])
    clusters = list(
        visible_clusters(actor)
        .filter(pk__in=investigation.clusters.values("pk"))
        .order_by("-last_seen", "pk")
    )
    cases = list(
        visible_cases(actor)
        .filter(pk__in=investigation.cases.values("pk"))
        .select_related("subject", "subject__owner", "queue")
        .prefetch_related(_latest_decisions())
        .order_by("-created_at", "-pk")
    )
    linked = (
        investigation.accounts.count()
        + investigation.clusters.count()
        + investigation.cases.count()
    )
    return InvestigationView(
        investigation=investigation,
        accounts=[LinkedAccountRow(a, standing.get(a.pk, {})) for a in accounts],
        clusters=clusters,
        cases=cases,
        notes=list(investigation.notes.select_related("author")),
        members=list(investigation.members.order_by("username")),
        can_edit=can_edit_investigation(actor, investigation),
        hidden_links=linked - len(accounts) - len(clusters) - len(cases),
    )


# --- The report --------------------------------------------------------------------------------


@dataclass
class ClusterEvidence:
    cluster: object
    members: list[Subject]
    shared: list[dict]


@dataclass
class ReportData:
    view: InvestigationView
    clusters: list[ClusterEvidence]
    identifier_hashes: list[dict]
    media_hashes: list[dict]
    network_svg: str
    generated_by: str
    generated_at: object

    @property
    def network_svg_b64(self) -> str:
        """The picture for an ``<img src="data:image/svg+xml;base64,…">``."""
        return base64.b64encode(self.network_svg.encode()).decode()


def _shared_identifiers(account_ids: list[int]) -> list[dict]:
    """Identifiers two or more of these accounts share: kind, masked value, hash prefix."""
    rows: dict[tuple[str, str], dict] = {}
    for kind, value_hash, masked, account_id in Identifier.objects.filter(
        account_id__in=account_ids
    ).values_list("kind", "value_hash", "masked", "account_id"):
        entry = rows.setdefault(
            (kind, value_hash),
            {"kind": kind, "masked": masked, "hash": value_hash[:16], "accounts": set()},
        )
        entry["accounts"].add(account_id)
    shared = [
        {**entry, "accounts": len(entry["accounts"])}
        for entry in rows.values()
        if len(entry["accounts"]) > 1
    ]
    return sorted(shared, key=lambda e: (-e["accounts"], e["kind"], e["hash"]))


def _cluster_evidence(actor, clusters) -> list[ClusterEvidence]:
    out = []
    for cluster in clusters:
        member_ids = list(
            ClusterMember.objects.filter(cluster=cluster, role=ClusterMember.Role.ACCOUNT)
            .order_by("pk")
            .values_list("subject_id", flat=True)[:CLUSTER_MEMBERS_IN_REPORT]
        )
        seen = visible_account_ids(actor, member_ids)
        members = list(Subject.objects.filter(pk__in=seen).order_by("external_id"))
        out.append(ClusterEvidence(cluster, members, _shared_identifiers(sorted(seen))))
    return out


def _media_hashes(cases: list[Case]) -> list[dict]:
    evidence = Evidence.objects.filter(case__in=[c.pk for c in cases]).order_by(
        "case_id", "captured_at", "pk"
    )
    return [
        {
            "case_id": item.case_id,
            "kind": item.kind,
            "sha256": item.sha256,
            "captured_at": item.captured_at,
        }
        for item in evidence
    ]


def investigation_report_data(*, actor, investigation: Investigation) -> ReportData:
    """What the PDF report of a file holds, as the actor may see it."""
    view = investigation_view(actor=actor, investigation=investigation)
    clusters = _cluster_evidence(actor, view.clusters)
    account_ids = [row.account.pk for row in view.accounts]
    for evidence in clusters:
        account_ids.extend(m.pk for m in evidence.members if m.pk not in account_ids)
    nodes = Subject.objects.in_bulk(account_ids[:SVG_MAX_NODES])
    identifiers = Identifier.objects.filter(
        account_id__in=[row.account.pk for row in view.accounts]
    )
    return ReportData(
        view=view,
        clusters=clusters,
        identifier_hashes=[
            {
                "account": ident.account.external_id,
                "kind": ident.kind,
                "masked": ident.masked,
                "hash": ident.value_hash[:16],
            }
            for ident in identifiers.select_related("account").order_by(
                "account__external_id", "kind", "pk"
            )
        ],
        media_hashes=_media_hashes(view.cases),
        network_svg=network_svg(
            [nodes[pk] for pk in account_ids[:SVG_MAX_NODES] if pk in nodes],
            highlighted={row.account.pk for row in view.accounts},
        ),
        generated_by=actor.get_username(),
        generated_at=timezone.now(),
    )


# --- The network picture ----------------------------------------------------------------------


def network_edges(account_ids: list[int]) -> list[tuple[int, int, str]]:
    """(account, account, identifier kind) for each pair of these accounts sharing an
    identifier (one edge per pair and kind)."""
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for kind, value_hash, account_id in Identifier.objects.filter(
        account_id__in=account_ids
    ).values_list("kind", "value_hash", "account_id"):
        groups[(kind, value_hash)].add(account_id)
    edges: set[tuple[int, int, str]] = set()
    for (kind, _), members in groups.items():
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                edges.add((a, b, kind))
    return sorted(edges)


KIND_COLOURS = {
    "device": "#2f6fde",
    "payment": "#b3261e",
    "email": "#1e7d4f",
    "phone": "#8a4fbf",
    "ip": "#8a8f98",
}


def network_svg(accounts: list[Subject], *, highlighted: set[int] = frozenset()) -> str:
    """A static picture of the accounts and the identifiers they share: the accounts on a
    circle, an edge per shared identifier kind coloured by kind, the file's own accounts
    filled. Every text is escaped; no script."""
    size, radius = 640, 240
    centre = size / 2
    positions = {}
    for index, account in enumerate(accounts):
        angle = 2 * math.pi * index / max(len(accounts), 1) - math.pi / 2
        positions[account.pk] = (
            centre + radius * math.cos(angle),
            centre + radius * math.sin(angle),
        )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 40}" '
        f'viewBox="0 0 {size} {size + 40}" font-family="DejaVu Sans, sans-serif" '
        'font-size="11">',
        f'<rect width="{size}" height="{size + 40}" fill="#ffffff"/>',
    ]
    for a, b, kind in network_edges(list(positions)):
        (x1, y1), (x2, y2) = positions[a], positions[b]
        colour = KIND_COLOURS.get(kind, "#555555")
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}" stroke-width="1.6" stroke-opacity="0.75"/>'
        )
    for account in accounts:
        x, y = positions[account.pk]
        fill = "#1f3b73" if account.pk in highlighted else "#ffffff"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{fill}" stroke="#1f3b73" '
            'stroke-width="2"/>'
        )
        anchor = "start" if x >= centre else "end"
        dx = 13 if x >= centre else -13
        parts.append(
            f'<text x="{x + dx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}" fill="#1b1f24">'
            f"{escape(account.external_id[:40])}</text>"
        )
    legend_y = size + 20
    for index, (kind, colour) in enumerate(KIND_COLOURS.items()):
        x = 20 + index * 120
        parts.append(
            f'<line x1="{x}" y1="{legend_y}" x2="{x + 24}" y2="{legend_y}" stroke="{colour}" '
            'stroke-width="3"/>'
        )
        parts.append(
            f'<text x="{x + 30}" y="{legend_y + 4}" fill="#1b1f24">'
            f"{escape(label_for('kind', kind))}</text>"
        )
    if not accounts:
        parts.append(
            f'<text x="{centre}" y="{centre}" text-anchor="middle" fill="#5b6472">'
            "No linked accounts</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
