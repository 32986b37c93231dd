"""Reads of clusters: the list with counts of what the actor may see, and one cluster's page
(members with their standing, shared identifiers, sample content, waves).

Members are always filtered by the account rule (``investigations.visibility``) and content
by the case rule: a member the actor may not see is not listed, counted or linked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from cases.models import Identifier, Subject
from cases.permissions import can_view_pii
from cases.visibility import visible_cases
from investigations.models import Cluster, ClusterMember, Wave
from investigations.permissions import can_manage_clusters
from investigations.visibility import cluster_get_for, visible_accounts, visible_clusters

MEMBERS_SHOWN = 500
CONTENT_SHOWN = 50
SAMPLE_CHARS = 300
HASH_PREFIX = 12
SORTS = {
    "last_seen": ("-last_seen", "-pk"),
    "-last_seen": ("last_seen", "pk"),
    "size": ("-visible_size", "-last_seen", "-pk"),
    "-size": ("visible_size", "-last_seen", "-pk"),
}
STATUSES = tuple(Cluster.Status.values)
ORIGINS = tuple(Cluster.Origin.values)


def _visible_content_ids(actor) -> QuerySet:
    return visible_cases(actor).values("subject_id")


def _member_count(role: str, visible_ids: QuerySet) -> Coalesce:
    members = (
        ClusterMember.objects.filter(cluster=OuterRef("pk"), role=role, subject_id__in=visible_ids)
        .order_by()
        .values("cluster")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(members, output_field=IntegerField()), Value(0))


def cluster_list(
    *, actor, status: str = "", origin: str = "", sort: str = "last_seen"
) -> QuerySet[Cluster]:
    """Clusters the actor may see, with ``visible_size`` and ``visible_content`` counting
    only the members they may see (a cluster with none of them is not listed)."""
    account_ids = visible_accounts(actor).values("pk")
    clusters = visible_clusters(actor).annotate(
        visible_size=_member_count(ClusterMember.Role.ACCOUNT, account_ids),
        visible_content=_member_count(ClusterMember.Role.CONTENT, _visible_content_ids(actor)),
    )
    clusters = clusters.filter(Q(visible_size__gt=0) | Q(visible_content__gt=0))
    if status in STATUSES:
        clusters = clusters.filter(status=status)
    if origin in ORIGINS:
        clusters = clusters.filter(origin=origin)
    return clusters.select_related("status_changed_by").order_by(
        *SORTS.get(sort, SORTS["last_seen"])
    )


def _mask(evidence: dict, pii: bool) -> dict:
    """A member's evidence as the viewer may read it (no fingerprints for associates)."""
    if pii or "identifiers" not in evidence:
        return evidence
    return {
        **evidence,
        "identifiers": [
            {k: v for k, v in row.items() if k != "hash"} for row in evidence["identifiers"]
        ],
    }


def _standing(actor, account_ids: list[int]) -> dict[int, dict]:
    try:
        from investigations.selectors.network import account_standing
    except ImportError:  # pragma: no cover - the network selectors are part of the app
        return {pk: {} for pk in account_ids}
    return account_standing(actor=actor, account_ids=account_ids)


@dataclass
class ClusterDetail:
    cluster: Cluster
    accounts: list[dict] = field(default_factory=list)
    accounts_total: int = 0
    content: list[dict] = field(default_factory=list)
    content_total: int = 0
    identifiers: list[dict] = field(default_factory=list)
    sample_text: str = ""
    waves: list[Wave] = field(default_factory=list)
    can_view_pii: bool = False
    can_manage: bool = False


def _shared_identifiers(account_ids: list[int], pii: bool) -> list[dict]:
    """The strong identifiers at least two of these (visible) accounts share."""
    rows = (
        Identifier.objects.filter(
            account_id__in=account_ids, kind__in=settings.TSOPS_CLUSTER_STRONG_KINDS
        )
        .values("kind", "value_hash")
        .annotate(
            accounts=Count("account_id", distinct=True),
            masked=Min("masked"),
            first_seen=Min("created_at"),
            last_seen=Max("last_seen"),
        )
        .filter(accounts__gte=2)
        .order_by("-accounts", "kind", "value_hash")
    )
    return [
        {
            "kind": row["kind"],
            "masked": row["masked"],
            "hash": row["value_hash"][:HASH_PREFIX] if pii else "",
            "accounts": row["accounts"],
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
        }
        for row in rows[:100]
    ]


def cluster_detail(*, actor, cluster_id: int) -> ClusterDetail:
    """One cluster as the actor may see it (404 when missing or hidden)."""
    cluster = cluster_get_for(actor=actor, cluster_id=cluster_id)
    pii = can_view_pii(actor)
    members = ClusterMember.objects.filter(cluster=cluster)
    account_members = members.filter(
        role=ClusterMember.Role.ACCOUNT,
        subject_id__in=visible_accounts(actor).values("pk"),
    )
    content_members = members.filter(
        role=ClusterMember.Role.CONTENT, subject_id__in=_visible_content_ids(actor)
    )
    detail = ClusterDetail(
        cluster=cluster,
        accounts_total=account_members.count(),
        content_total=content_members.count(),
        can_view_pii=pii,
        can_manage=can_manage_clusters(actor),
    )
    shown = list(
        account_members.select_related("subject").order_by("subject__external_id")[:MEMBERS_SHOWN]
    )
    ids = [m.subject_id for m in shown]
    standing = _standing(actor, ids)
    detail.accounts = [
        {
            "external_id": m.subject.external_id,
            "role": m.role,
            "evidence": _mask(m.evidence, pii),
            "reasons": m.reasons,
            "first_seen": m.first_seen,
            "last_seen": m.last_seen,
            "standing": standing.get(m.subject_id, {}),
        }
        for m in shown
    ]
    for m in content_members.select_related("subject", "subject__owner").order_by("subject_id")[
        :CONTENT_SHOWN
    ]:
        text = m.subject.snapshot_text
        detail.content.append(
            {
                "external_id": m.subject.external_id,
                "kind": m.subject.kind,
                "owner": m.subject.owner.external_id if m.subject.owner_id else "",
                "owner_visible": m.subject.owner_id in ids,
                "text": text[:SAMPLE_CHARS] + ("…" if len(text) > SAMPLE_CHARS else ""),
                "evidence": m.evidence,
            }
        )
    detail.sample_text = detail.content[0]["text"] if detail.content else ""
    detail.identifiers = _shared_identifiers(
        list(account_members.values_list("subject_id", flat=True)), pii
    )
    detail.waves = list(
        Wave.objects.filter(cluster=cluster).select_related("requested_by").order_by("-pk")[:20]
    )
    return detail


def cluster_member_ids(*, actor, cluster: Cluster) -> list[int]:
    """The ids of the cluster's member accounts the actor may see (for its network)."""
    return list(
        ClusterMember.objects.filter(
            cluster=cluster,
            role=ClusterMember.Role.ACCOUNT,
            subject_id__in=visible_accounts(actor).values("pk"),
        ).values_list("subject_id", flat=True)[:MEMBERS_SHOWN]
    )


def _who(user) -> str | None:
    return user.username if user else None


def cluster_summary(cluster: Cluster) -> dict:
    """A listed cluster as the API answers it (counts are the viewer's, from cluster_list)."""
    return {
        "id": cluster.pk,
        "name": cluster.name,
        "origin": cluster.origin,
        "status": cluster.status,
        "size": getattr(cluster, "visible_size", cluster.size),
        "content_count": getattr(cluster, "visible_content", cluster.content_count),
        "dominant_reasons": cluster.dominant_reasons,
        "first_seen": cluster.first_seen,
        "last_seen": cluster.last_seen,
        "restricted_to_team": cluster.team or None,
        "version": cluster.version,
    }


def cluster_describe(detail: ClusterDetail) -> dict:
    """One cluster as the API answers it: members with external ids and roles, evidence,
    status with who and why."""
    cluster = detail.cluster
    content_evidence = dict(cluster.evidence.get("content") or {})
    if content_evidence and not detail.content:
        # The sample is the text of a member: shown only when a content member is visible.
        content_evidence.pop("sample_text", None)
    return {
        **cluster_summary(cluster),
        "size": detail.accounts_total,
        "content_count": detail.content_total,
        "status_changed_by": _who(cluster.status_changed_by),
        "status_changed_at": cluster.status_changed_at,
        "status_reason": cluster.status_reason,
        "created_by": _who(cluster.created_by),
        "evidence": {
            "identifiers": [
                row if detail.can_view_pii else {k: v for k, v in row.items() if k != "hash"}
                for row in detail.identifiers
            ],
            "content": content_evidence or None,
        },
        "members": [
            {
                "external_id": row["external_id"],
                "kind": Subject.Kind.ACCOUNT,
                "role": row["role"],
                "evidence": row["evidence"],
                "standing": row["standing"],
            }
            for row in detail.accounts
        ]
        + [
            {
                "external_id": row["external_id"],
                "kind": row["kind"],
                "role": ClusterMember.Role.CONTENT,
                "owner": row["owner"] if row["owner_visible"] else None,
                "evidence": row["evidence"],
                "text": row["text"],
            }
            for row in detail.content
        ],
        "waves": [{"id": w.pk, "status": w.status} for w in detail.waves],
    }


def cluster_facts_for_rules(account_ids: list[int]) -> dict[int, list[tuple]]:
    """Per account, from when it was in an open cluster and that cluster's size (the rules
    inputs ``account.in_cluster`` and ``account.cluster_size``; the largest cluster wins)."""
    facts: dict[int, list[tuple]] = {}
    if not account_ids:
        return facts
    # Asked for every intake batch (hundreds of accounts): one plain statement with the ids as
    # an array, not an ORM ``IN`` list preparing each value.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.subject_id, m.first_seen, c.size FROM investigations_clustermember m "
            "JOIN investigations_cluster c ON c.id = m.cluster_id "
            "WHERE m.subject_id = ANY(%s) AND c.status = %s ORDER BY c.size",
            [list(account_ids), Cluster.Status.OPEN],
        )
        rows = cursor.fetchall()
    for subject_id, first_seen, size in rows:
        facts.setdefault(subject_id, []).append(
            (first_seen, {"in_cluster": True, "cluster_size": size})
        )
    return facts
