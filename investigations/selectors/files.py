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
    """A file as its reader sees it: only the links they may see (and no count of the
    others, which would tell that something hidden is there)."""

    investigation: Investigation
    accounts: list[LinkedAccountRow] = field(default_factory=list)
    clusters: list = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    notes: list[InvestigationNote] = field(default_factory=list)
    members: list = field(default_factory=list)
    can_edit: bool = False


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
    return InvestigationView(
        investigation=investigation,
        accounts=[LinkedAccountRow(a, standing.get(a.pk, {})) for a in accounts],
        clusters=clusters,
        cases=cases,
        notes=list(investigation.notes.select_related("author")),
        members=list(investigation.members.order_by("username")),
        can_edit=can_edit_investigation(actor, investigation),
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


def _edge_lines(edges: list[tuple[int, int, str]], positions: dict) -> list[str]:
    """One line per shared kind; two accounts sharing several kinds get parallel lines."""
    by_pair: dict[tuple[int, int], list[str]] = defaultdict(list)
    for a, b, kind in edges:
        by_pair[(a, b)].append(kind)
    lines = []
    for (a, b), kinds in by_pair.items():
        (x1, y1), (x2, y2) = positions[a], positions[b]
        length = math.hypot(x2 - x1, y2 - y1) or 1
        # A unit vector across the line, to set parallel lines apart.
        nx, ny = (y1 - y2) / length, (x2 - x1) / length
        for index, kind in enumerate(kinds):
            shift = (index - (len(kinds) - 1) / 2) * 5
            colour = KIND_COLOURS.get(kind, "#555555")
            lines.append(
                f'<line x1="{x1 + nx * shift:.1f}" y1="{y1 + ny * shift:.1f}" '
                f'x2="{x2 + nx * shift:.1f}" y2="{y2 + ny * shift:.1f}" '
                f'stroke="{colour}" stroke-width="2.2" stroke-opacity="0.85"/>'
            )
    return lines


SVG_WIDTH, SVG_HEIGHT, SVG_RADIUS = 800, 600, 230
SVG_LABEL_CHARS = 20


def _label(external_id: str) -> str:
    if len(external_id) <= SVG_LABEL_CHARS:
        return external_id
    return external_id[: SVG_LABEL_CHARS - 1] + "…"


def _legend(y: int) -> list[str]:
    parts = []
    for index, (kind, colour) in enumerate(KIND_COLOURS.items()):
        x = 40 + index * 150
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 26}" y2="{y}" stroke="{colour}" stroke-width="3"/>'
        )
        parts.append(
            f'<text x="{x + 32}" y="{y + 5}" fill="#1b1f24">'
            f"{escape(label_for('kind', kind))}</text>"
        )
    return parts


def network_svg(accounts: list[Subject], *, highlighted: set[int] = frozenset()) -> str:
    """A static picture of the accounts and the identifiers they share: the accounts on a
    circle, a line per shared identifier kind coloured by kind, the file's own accounts
    filled. Every text is escaped; no script."""
    cx, cy = SVG_WIDTH / 2, SVG_HEIGHT / 2
    positions = {}
    for index, account in enumerate(accounts):
        angle = 2 * math.pi * index / max(len(accounts), 1) - math.pi / 2
        positions[account.pk] = (
            cx + SVG_RADIUS * math.cos(angle),
            cy + SVG_RADIUS * math.sin(angle),
        )
    height = SVG_HEIGHT + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{height}" '
        f'viewBox="0 0 {SVG_WIDTH} {height}" font-family="DejaVu Sans, sans-serif" '
        'font-size="16">',
        f'<rect width="{SVG_WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    parts.extend(_edge_lines(network_edges(list(positions)), positions))
    for account in accounts:
        x, y = positions[account.pk]
        fill = "#1f3b73" if account.pk in highlighted else "#ffffff"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="11" fill="{fill}" stroke="#1f3b73" '
            'stroke-width="2.5"/>'
        )
        right = x >= cx - 1
        parts.append(
            f'<text x="{x + (17 if right else -17):.1f}" y="{y + 5:.1f}" '
            f'text-anchor="{"start" if right else "end"}" fill="#1b1f24">'
            f"{escape(_label(account.external_id))}</text>"
        )
    parts.extend(_legend(SVG_HEIGHT + 20))
    if not accounts:
        parts.append(
            f'<text x="{cx}" y="{cy}" text-anchor="middle" fill="#5b6472">No linked accounts</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
