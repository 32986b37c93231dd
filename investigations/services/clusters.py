"""Coordinated clusters: the incremental job that finds them and every write on a cluster.

The job (:func:`clusters_find`, run by beat and by ``manage.py find_clusters``) has two
detectors, each with its watermark in ``ClusterScan``:

- ``identifiers``: identifier rows added since its watermark touch (kind, value hash) keys;
  the accounts sharing a strong, non-hub key are linked, the links are followed out to the
  whole connected group, and a group of at least ``TSOPS_CLUSTER_MIN_SIZE`` accounts becomes
  (or grows) a cluster.
- ``content``: content subjects reported since its watermark are compared (pg_trgm, through
  the GIN index of migration 0002) with content reported for the same reason within
  ``TSOPS_CLUSTER_CONTENT_WINDOW_HOURS``; similar items form groups, clustered with their
  owner accounts.

Restriction is never mixed: a node whose only cases are restricted to a team links only in
that team's groups, which become clusters carrying the team (only it sees them); groups
of unrestricted nodes become clusters everyone who investigates may see.

A run reads only what is newer than its watermarks and advances them in the transaction of
what it wrote; a transaction-scoped advisory lock makes a second run started meanwhile skip.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from cases.models import Subject
from cases.taxonomy import REASONS
from investigations.models import Cluster, ClusterMember, ClusterScan
from investigations.permissions import can_manage_clusters
from investigations.visibility import can_view_cluster, visible_accounts
from tsops.errors import ConflictError, HiddenObject, UnknownReferences

LOCK_NAME = "investigations.clusters_find"
IDENTIFIERS_SCAN = "identifiers"
CONTENT_SCAN = "content"
CONTENT_KINDS = [
    Subject.Kind.CONTENT,
    Subject.Kind.MESSAGE,
    Subject.Kind.LISTING,
    Subject.Kind.PROFILE,
]
HASH_PREFIX = 12
TRIGRAM_INDEX = "cases_subject_snapshot_trgm"  # investigations migration 0002
SAMPLE_CHARS = 500
# Following links out from what changed stops after this many steps (a group so long that
# it needs more is found whole by later runs as its other rows change).
MAX_EXPANSION_ROUNDS = 6
KIND_LABELS = {
    "device": "device",
    "ip": "IP address",
    "email": "e-mail",
    "phone": "phone number",
    "payment": "payment instrument",
}

Progress = Callable[[str, int, int], None]


class ClusterConflict(ConflictError):
    """The cluster changed meanwhile, or its status does not allow the change (409)."""


# --- Groups found by the detectors ---------------------------------------------------------


@dataclass
class _Group:
    """A connected group ready to be written as a cluster (or to grow one)."""

    origin: str
    team: str
    signature: str
    name: str
    members: dict[int, tuple[str, dict]] = field(default_factory=dict)  # id -> (role, evidence)
    evidence: dict = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, node):
        self.parent.setdefault(node, node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _components(
    links: Iterable[tuple[object, list]], scopes_of: dict
) -> list[tuple[str, set, list]]:
    """Connected groups over ``links`` (key, nodes), kept apart by restriction.

    ``scopes_of[node]`` holds ``""`` when the node has an unrestricted case and each team
    whose restricted cases it has. Unrestricted nodes link among themselves; a team's group
    is made of its nodes and unrestricted ones, and is kept only when it holds at least one
    node seen through that team alone. Returns (team, nodes, keys linking them)."""
    links = list(links)
    teams = sorted({t for scopes in scopes_of.values() for t in scopes if t})
    found = []
    for team in ["", *teams]:
        allowed = {n for n, s in scopes_of.items() if "" in s or (team and team in s)}
        uf = _UnionFind()
        inside_links = []
        for key, nodes in links:
            inside = [n for n in nodes if n in allowed]
            if len(inside) < 2:
                continue
            inside_links.append((key, inside))
            for other in inside[1:]:
                uf.union(inside[0], other)
        groups: dict = defaultdict(set)
        keys: dict = defaultdict(list)
        for key, inside in inside_links:
            root = uf.find(inside[0])
            groups[root].update(inside)
            keys[root].append((key, inside))
        for root, nodes in groups.items():
            if team and all("" in scopes_of[n] for n in nodes):
                continue
            found.append((team, nodes, keys[root]))
    return found


def _signature(origin: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]
    return f"{origin}:{digest}"


_SCOPES_SQL = (
    "SELECT x.node, c.restricted, c.team, r.reason, count(r.id) FROM ("
    "SELECT id AS node, id AS sid FROM cases_subject WHERE id = ANY(%(ids)s) {owned}) x "
    "JOIN cases_case c ON c.subject_id = x.sid "
    "LEFT JOIN cases_report r ON r.case_id = c.id "
    "GROUP BY 1, 2, 3, 4"
)
_OWNED_SQL = "UNION ALL SELECT owner_id, id FROM cases_subject WHERE owner_id = ANY(%(ids)s)"


def _subject_scopes(ids: Iterable[int], *, owned: bool) -> tuple[dict, dict]:
    """For each subject (with ``owned``, each account and what it owns): the scopes its cases
    are in (see :func:`_components`) and its report reasons counted per scope."""
    ids = list(ids)
    scopes: dict[int, set[str]] = defaultdict(set)
    reasons: dict[int, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    if not ids:
        return scopes, reasons
    sql = _SCOPES_SQL.format(owned=_OWNED_SQL if owned else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids})
        for node, restricted, team, reason, count in cursor.fetchall():
            scope = team if restricted else ""
            if restricted and not team:
                # A restricted case without a team is nobody's to share: it links nothing.
                continue
            scopes[node].add(scope)
            if reason:
                reasons[node][scope][reason] += count
    return scopes, reasons


def _dominant(nodes: Iterable[int], team: str, reasons: dict, limit: int = 3) -> list[str]:
    """The most frequent report reasons over the nodes' cases the group's viewers may see."""
    total: Counter = Counter()
    for node in nodes:
        for scope, counter in reasons.get(node, {}).items():
            if scope == "" or scope == team:
                total.update(counter)
    return [reason for reason, _ in total.most_common(limit)]


def _reason_label(code: str) -> str:
    return REASONS[code][0] if code in REASONS else code.replace("_", " ").capitalize()


# --- Detector: shared strong identifiers ---------------------------------------------------

_LINKS_SQL = (
    "SELECT i.kind, i.value_hash, array_agg(i.account_id ORDER BY i.account_id), "
    "min(i.masked), min(i.created_at), max(i.last_seen) "
    "FROM cases_identifier i JOIN keys USING (kind, value_hash) "
    "GROUP BY i.kind, i.value_hash "
    # A hub (shared by more accounts than the limit) links nothing.
    "HAVING count(*) BETWEEN 2 AND %(hub)s"
)


@dataclass
class _Link:
    accounts: list[int]
    masked: str
    first_seen: datetime
    last_seen: datetime


def _links(keys_sql: str, params: dict) -> dict[tuple[str, str], _Link]:
    params = {**params, "hub": settings.TSOPS_NETWORK_HUB_LIMIT}
    with connection.cursor() as cursor:
        cursor.execute(f"WITH keys AS ({keys_sql}) {_LINKS_SQL}", params)
        return {
            (kind, value_hash): _Link(list(accounts), masked, first, last)
            for kind, value_hash, accounts, masked, first, last in cursor.fetchall()
        }


def _links_touched(since: int, upto: int) -> dict[tuple[str, str], _Link]:
    """The non-hub strong keys that identifier rows in (since, upto] touched."""
    return _links(
        "SELECT DISTINCT kind, value_hash FROM cases_identifier "
        "WHERE id > %(since)s AND id <= %(upto)s AND kind = ANY(%(kinds)s)",
        {"since": since, "upto": upto, "kinds": list(settings.TSOPS_CLUSTER_STRONG_KINDS)},
    )


def _links_of_accounts(account_ids: Iterable[int]) -> dict[tuple[str, str], _Link]:
    """The non-hub strong keys of these accounts, with every account sharing each."""
    return _links(
        "SELECT DISTINCT kind, value_hash FROM cases_identifier "
        "WHERE account_id = ANY(%(ids)s) AND kind = ANY(%(kinds)s)",
        {"ids": list(account_ids), "kinds": list(settings.TSOPS_CLUSTER_STRONG_KINDS)},
    )


def _links_among(account_ids: Iterable[int]) -> dict[tuple[str, str], _Link]:
    """The strong keys shared by at least two of these accounts (a hand-made cluster's
    evidence)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, value_hash, array_agg(account_id ORDER BY account_id), min(masked), "
            "min(created_at), max(last_seen) FROM cases_identifier "
            "WHERE account_id = ANY(%s) AND kind = ANY(%s) "
            "GROUP BY kind, value_hash HAVING count(*) >= 2",
            [list(account_ids), list(settings.TSOPS_CLUSTER_STRONG_KINDS)],
        )
        return {
            (kind, value_hash): _Link(list(accounts), masked, first, last)
            for kind, value_hash, accounts, masked, first, last in cursor.fetchall()
        }


def _expand(links: dict[tuple[str, str], _Link], stats: dict) -> None:
    """Follow the links out from the touched keys until the groups are whole (in place)."""
    seen: set[int] = set()
    frontier = {a for link in links.values() for a in link.accounts}
    rounds = 0
    while frontier and rounds < MAX_EXPANSION_ROUNDS:
        rounds += 1
        seen |= frontier
        more = _links_of_accounts(frontier)
        fresh = {key: link for key, link in more.items() if key not in links}
        links.update(fresh)
        frontier = {a for link in fresh.values() for a in link.accounts} - seen
    stats["expansion_rounds"] = rounds


def _identifier_evidence(keyed: list[tuple[tuple[str, str], list[int]]], links) -> dict:
    rows = []
    for (kind, value_hash), inside in sorted(keyed, key=lambda k: (k[0][0], k[0][1])):
        link = links[(kind, value_hash)]
        rows.append(
            {
                "kind": kind,
                "masked": link.masked,
                "hash": value_hash[:HASH_PREFIX],
                "accounts": len(inside),
                "first_seen": link.first_seen.isoformat(),
                "last_seen": link.last_seen.isoformat(),
            }
        )
    return {"identifiers": rows}


def _identifier_groups(links: dict[tuple[str, str], _Link]) -> list[_Group]:
    accounts = {a for link in links.values() for a in link.accounts}
    scopes, reasons = _subject_scopes(accounts, owned=True)
    groups = []
    for team, nodes, keyed in _components(
        ((key, link.accounts) for key, link in links.items()), scopes
    ):
        if len(nodes) < settings.TSOPS_CLUSTER_MIN_SIZE:
            continue
        per_account: dict[int, list[dict]] = defaultdict(list)
        for (kind, value_hash), inside in keyed:
            for account in inside:
                per_account[account].append(
                    {
                        "kind": kind,
                        "masked": links[(kind, value_hash)].masked,
                        "hash": value_hash[:HASH_PREFIX],
                    }
                )
        kinds = sorted({kind for (kind, _), _ in keyed})
        first_key = min(f"{kind}:{value_hash}" for (kind, value_hash), _ in keyed)
        groups.append(
            _Group(
                origin=Cluster.Origin.IDENTIFIERS,
                team=team,
                signature=_signature(Cluster.Origin.IDENTIFIERS, team, first_key),
                name="Shared " + " and ".join(KIND_LABELS.get(k, k) for k in kinds),
                members={
                    a: (ClusterMember.Role.ACCOUNT, {"identifiers": per_account[a]})
                    for a in sorted(nodes)
                },
                evidence=_identifier_evidence(keyed, links),
                reasons=_dominant(nodes, team, reasons),
                first_seen=min(links[key].first_seen for key, _ in keyed),
                last_seen=max(links[key].last_seen for key, _ in keyed),
            )
        )
    return groups


def _find_identifier_clusters(now: datetime, progress: Progress | None) -> dict:
    scan = _scan_locked(IDENTIFIERS_SCAN)
    since = scan.last_identifier_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cases_identifier")
        upto = max(cursor.fetchone()[0], since)
        cursor.execute(
            "SELECT count(*) FROM cases_identifier WHERE id > %s AND id <= %s", [since, upto]
        )
        rows_read = cursor.fetchone()[0]
    stats: dict = {"since": since, "upto": upto, "rows_read": rows_read}
    links = _links_touched(since, upto) if rows_read else {}
    stats["keys_touched"] = len(links)
    # A first run has touched every key already: nothing to follow out.
    if links and since:
        _expand(links, stats)
    groups = _identifier_groups(links)
    stats.update(_write_groups(groups, now, "identifiers", progress))
    scan.last_identifier_id = upto
    _scan_save(scan, now, stats)
    return stats


# --- Detector: near-identical content ------------------------------------------------------

_SEEDS_SQL = (
    "SELECT r.subject_id, r.reason, min(r.received_at), max(r.received_at) "
    "FROM cases_report r JOIN cases_subject s ON s.id = r.subject_id "
    "WHERE r.id > %(since)s AND r.id <= %(upto)s AND s.kind = ANY(%(kinds)s) "
    "AND s.snapshot_text <> '' GROUP BY 1, 2"
)

# For each seed (a content subject and the reason it was reported for, with when), the
# other content whose snapshot is similar (pg_trgm's % operator, through the GIN index) and
# that was reported for the same reason within the window around the seed's reports.
_PAIRS_SQL = (
    "WITH seed AS (SELECT * FROM unnest(%(ids)s::bigint[], %(reasons)s::text[], "
    "%(firsts)s::timestamptz[], %(lasts)s::timestamptz[]) AS t(id, reason, first_at, last_at)) "
    "SELECT seed.id, seed.reason, o.id, similarity(s.snapshot_text, o.snapshot_text) "
    "FROM seed JOIN cases_subject s ON s.id = seed.id "
    "JOIN cases_subject o ON o.snapshot_text <> '' AND o.snapshot_text %% s.snapshot_text "
    "AND o.id <> s.id AND o.kind = ANY(%(kinds)s) "
    "WHERE EXISTS (SELECT 1 FROM cases_report r WHERE r.subject_id = o.id "
    "AND r.reason = seed.reason "
    "AND r.received_at >= seed.first_at - %(window)s "
    "AND r.received_at <= seed.last_at + %(window)s)"
)


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _fingerprint(text: str) -> str:
    return hashlib.sha256(_normalised(text).encode()).hexdigest()[:HASH_PREFIX]


def _report_times(ids: Iterable[int], reasons: Iterable[str]) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT subject_id, reason, min(received_at), max(received_at) FROM cases_report "
            "WHERE subject_id = ANY(%s) AND reason = ANY(%s) GROUP BY 1, 2",
            [list(ids), list(reasons)],
        )
        return {(sid, reason): (first, last) for sid, reason, first, last in cursor.fetchall()}


def _similar_pairs(seeds: dict) -> list[tuple[int, str, int, float]]:
    if not seeds:
        return []
    keys = sorted(seeds)
    with connection.cursor() as cursor:
        cursor.execute(
            _PAIRS_SQL,
            {
                "ids": [k[0] for k in keys],
                "reasons": [k[1] for k in keys],
                "firsts": [seeds[k][0] for k in keys],
                "lasts": [seeds[k][1] for k in keys],
                "kinds": [str(k) for k in CONTENT_KINDS],
                "window": timedelta(hours=settings.TSOPS_CLUSTER_CONTENT_WINDOW_HOURS),
            },
        )
        return cursor.fetchall()


def _content_pairs(seeds: dict, since: int, stats: dict) -> tuple[list, dict]:
    """Similar pairs from the seeds, followed out to the items they matched (an item an
    earlier run compared already can link two groups). Returns the pairs and each node's
    report times."""
    times = dict(seeds)
    pairs = _similar_pairs(seeds)
    rounds = 1
    seeded = set(seeds)
    while since and rounds < MAX_EXPANSION_ROUNDS:
        matched = {(other, reason) for _, reason, other, _ in pairs} - seeded
        if not matched:
            break
        more = _report_times({m[0] for m in matched}, {m[1] for m in matched})
        nxt = {k: v for k, v in more.items() if k in matched}
        times.update(nxt)
        seeded |= set(nxt) | matched
        pairs += _similar_pairs(nxt)
        rounds += 1
    stats["expansion_rounds"] = rounds
    missing = {(o, r) for _, r, o, _ in pairs} - set(times)
    if missing:
        more = _report_times({m[0] for m in missing}, {m[1] for m in missing})
        times.update(more)
    return pairs, times


def _content_groups(pairs: list, times: dict) -> list[_Group]:
    best: dict[int, float] = defaultdict(float)
    by_reason: dict[str, list] = defaultdict(list)
    for seed, reason, other, similarity in pairs:
        by_reason[reason].append(((seed, other), [seed, other]))
        best[seed] = max(best[seed], similarity)
        best[other] = max(best[other], similarity)
    nodes = {o for _, _, o, _ in pairs} | {s for s, _, _, _ in pairs}
    scopes, reasons = _subject_scopes(nodes, owned=False)
    subjects = {
        s.pk: s
        for s in Subject.objects.filter(pk__in=nodes).only(
            "pk", "external_id", "owner_id", "snapshot_text", "kind"
        )
    }
    owners = {
        s.pk: s.external_id
        for s in Subject.objects.filter(
            pk__in={s.owner_id for s in subjects.values() if s.owner_id}
        ).only("pk", "external_id")
    }
    groups = []
    for reason, links in sorted(by_reason.items()):
        for team, content_ids, _ in _components(links, scopes):
            accounts: dict[int, list[str]] = defaultdict(list)
            for cid in sorted(content_ids):
                owner = subjects[cid].owner_id
                if owner:
                    accounts[owner].append(subjects[cid].external_id)
            if len(content_ids) < settings.TSOPS_CLUSTER_MIN_SIZE or len(accounts) < 2:
                continue
            groups.append(
                _content_group(
                    reason, team, content_ids, accounts, subjects, owners, best, times, reasons
                )
            )
    return groups


def _content_group(reason, team, content_ids, accounts, subjects, owners, best, times, reasons):
    seed = subjects[min(content_ids)]
    fingerprint = _fingerprint(seed.snapshot_text)
    members: dict[int, tuple[str, dict]] = {}
    for cid in sorted(content_ids):
        subject = subjects[cid]
        members[cid] = (
            ClusterMember.Role.CONTENT,
            {
                "fingerprint": _fingerprint(subject.snapshot_text),
                "similarity": round(best[cid], 3),
                "reason": reason,
            },
        )
    for account, content in accounts.items():
        members[account] = (ClusterMember.Role.ACCOUNT, {"content": content})
    seen = [times[(cid, reason)] for cid in content_ids if (cid, reason) in times]
    return _Group(
        origin=Cluster.Origin.CONTENT,
        team=team,
        signature=_signature(Cluster.Origin.CONTENT, team, reason, fingerprint),
        name=f"Near-identical content: {_reason_label(reason).lower()}",
        members=members,
        evidence={
            "content": {
                "reason": reason,
                "fingerprint": fingerprint,
                "sample_text": seed.snapshot_text[:SAMPLE_CHARS],
                "similarity_percent": settings.TSOPS_CLUSTER_SIMILARITY_PERCENT,
                "window_hours": settings.TSOPS_CLUSTER_CONTENT_WINDOW_HOURS,
            }
        },
        reasons=_dominant(content_ids, team, reasons),
        first_seen=min(first for first, _ in seen) if seen else None,
        last_seen=max(last for _, last in seen) if seen else None,
    )


def _find_content_clusters(now: datetime, progress: Progress | None) -> dict:
    scan = _scan_locked(CONTENT_SCAN)
    since = scan.last_report_id
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cases_report")
        upto = max(cursor.fetchone()[0], since)
        # Rows added since the index's last vacuum wait in its pending list, which every
        # search reads through: merge it once so each of the run's searches stays short.
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [TRIGRAM_INDEX])
        cursor.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
            [str(settings.TSOPS_CLUSTER_SIMILARITY_PERCENT / 100)],
        )
        cursor.execute(
            _SEEDS_SQL,
            {"since": since, "upto": upto, "kinds": [str(k) for k in CONTENT_KINDS]},
        )
        seeds = {(sid, reason): (first, last) for sid, reason, first, last in cursor.fetchall()}
    stats: dict = {"since": since, "upto": upto, "seeds": len(seeds)}
    pairs, times = _content_pairs(seeds, since, stats) if seeds else ([], {})
    stats["pairs"] = len(pairs)
    groups = _content_groups(pairs, times)
    stats.update(_write_groups(groups, now, "content", progress))
    scan.last_report_id = upto
    _scan_save(scan, now, stats)
    return stats


# --- Writing what was found ----------------------------------------------------------------


def _scan_locked(name: str) -> ClusterScan:
    ClusterScan.objects.get_or_create(name=name)
    return ClusterScan.objects.select_for_update().get(name=name)


def _scan_save(scan: ClusterScan, now: datetime, stats: dict) -> None:
    scan.ran_at = now
    scan.stats = stats
    scan.save()


def _write_groups(groups: list[_Group], now: datetime, label: str, progress) -> dict:
    """Create a cluster for each new group, or grow the oldest open cluster it overlaps."""
    counts = {"groups": len(groups), "created": 0, "grown": 0, "members_added": 0}
    if not groups:
        return counts
    ids = {sid for g in groups for sid in g.members}
    overlaps: dict[tuple, list] = defaultdict(list)
    for row in ClusterMember.objects.filter(
        subject_id__in=ids, cluster__origin__in={g.origin for g in groups}
    ).values_list(
        "cluster__origin",
        "cluster__team",
        "subject_id",
        "role",
        "cluster__created_at",
        "cluster_id",
        "cluster__status",
    ):
        overlaps[row[:4]].append(row[4:])
    for done, group in enumerate(groups, start=1):
        # Content clusters meet through their content (an account may post two campaigns);
        # identifier clusters through their accounts.
        role = (
            ClusterMember.Role.CONTENT
            if group.origin == Cluster.Origin.CONTENT
            else ClusterMember.Role.ACCOUNT
        )
        keys = [sid for sid, (r, _) in group.members.items() if r == role]
        hits = {sid: overlaps[(group.origin, group.team, sid, role)] for sid in keys}
        open_hits = sorted({h[:2] for hs in hits.values() for h in hs if h[2] == "open"})
        taken = Cluster.objects.filter(signature=group.signature).values("pk", "status").first()
        if not open_hits and taken and taken["status"] == Cluster.Status.OPEN:
            open_hits = [(None, taken["pk"])]
        if open_hits:
            added = _cluster_grow(open_hits[0][1], group, now)
            counts["grown"] += 1 if added else 0
            counts["members_added"] += added
        else:
            closed = {sid for sid, hs in hits.items() if hs}
            fresh = set(keys) - closed
            # A closed (dismissed or actioned) cluster found again with nothing new stays
            # closed; new accounts (or content) make a new cluster, as they are new evidence.
            if closed and not fresh:
                continue
            if taken:
                group.signature += f":{min(fresh)}"
            _cluster_found(group, now)
            counts["created"] += 1
            counts["members_added"] += len(group.members)
        if progress:
            progress(f"{label}: groups", done, len(groups))
    return counts


def _member_rows(cluster: Cluster, group: _Group, subject_ids, now, actor=None) -> list:
    return [
        ClusterMember(
            cluster=cluster,
            subject_id=sid,
            role=group.members[sid][0],
            evidence=group.members[sid][1],
            reasons=group.reasons if group.members[sid][0] == ClusterMember.Role.ACCOUNT else [],
            first_seen=group.first_seen or now,
            last_seen=group.last_seen or now,
            added_by=actor,
        )
        for sid in subject_ids
    ]


def _cluster_found(group: _Group, now: datetime, actor=None) -> Cluster:
    roles = Counter(role for role, _ in group.members.values())
    cluster = Cluster(
        name=group.name,
        origin=group.origin,
        signature=group.signature,
        team=group.team,
        first_seen=group.first_seen or now,
        last_seen=group.last_seen or now,
        size=roles[ClusterMember.Role.ACCOUNT],
        content_count=roles[ClusterMember.Role.CONTENT],
        dominant_reasons=group.reasons,
        evidence=group.evidence,
        created_by=actor,
    )
    cluster._history_user = actor
    cluster.save()
    ClusterMember.objects.bulk_create(_member_rows(cluster, group, sorted(group.members), now))
    return cluster


def _cluster_grow(cluster_id: int, group: _Group, now: datetime) -> int:
    """Add the group's new members to the cluster; returns how many were added."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster_id)
    existing = set(cluster.members.values_list("subject_id", flat=True))
    new = sorted(set(group.members) - existing)
    if not new:
        return 0
    ClusterMember.objects.bulk_create(_member_rows(cluster, group, new, now), ignore_conflicts=True)
    _cluster_recount(cluster)
    cluster.last_seen = max(cluster.last_seen, group.last_seen or now)
    cluster.evidence = group.evidence
    cluster.dominant_reasons = group.reasons
    cluster.version += 1
    cluster._history_user = None
    cluster.save()
    return len(new)


def _cluster_recount(cluster: Cluster) -> None:
    roles = Counter(cluster.members.values_list("role", flat=True))
    cluster.size = roles[ClusterMember.Role.ACCOUNT]
    cluster.content_count = roles[ClusterMember.Role.CONTENT]


def clusters_find(*, progress: Progress | None = None, now: datetime | None = None) -> dict:
    """Run both detectors over what changed since their watermarks (one transaction).

    Returns each detector's figures, or ``{"ran": False}`` when another run holds the lock.
    ``progress(label, done, total)`` is called as groups are written."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [LOCK_NAME])
            if not cursor.fetchone()[0]:
                return {"ran": False}
        started = time.perf_counter()
        identifiers = _find_identifier_clusters(now, progress)
        identifiers["seconds"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        content = _find_content_clusters(now, progress)
        content["seconds"] = round(time.perf_counter() - started, 3)
    return {"ran": True, "identifiers": identifiers, "content": content}


# --- Clusters built and changed by hand ----------------------------------------------------


def check_manage_clusters(actor) -> None:
    if not can_manage_clusters(actor):
        raise PermissionDenied("Your role may read clusters but not change them.")


def _clean_external_ids(members, errors: dict, *, minimum: int) -> list[str]:
    if not isinstance(members, (list, tuple)) or not all(
        isinstance(m, str) and m.strip() for m in members
    ):
        errors["members"] = "A list of account external ids."
        return []
    ids = list(dict.fromkeys(m.strip() for m in members))
    if len(ids) < minimum:
        errors["members"] = f"At least {minimum} different account(s)."
    elif len(ids) > settings.TSOPS_WAVE_MAX:
        errors["members"] = f"At most {settings.TSOPS_WAVE_MAX} accounts."
    return ids


def _accounts_for(actor, external_ids: list[str]) -> dict[str, Subject]:
    """The accounts the actor may see, by external id; any other id is a 400 naming it (an
    account hidden from the actor is answered as unknown, like a missing one)."""
    found = {
        s.external_id: s
        for s in visible_accounts(actor)
        .filter(external_id__in=external_ids)
        .only("pk", "external_id", "kind")
    }
    unknown = [e for e in external_ids if e not in found]
    if unknown:
        shown = ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else "")
        raise UnknownReferences({"members": f"Unknown accounts: {shown}."})
    return found


def _team_for(actor, scopes: dict, account_ids: Iterable[int], current: str | None) -> str:
    """The team a hand-made cluster carries: that of its members seen through a restricted
    team's cases only. Members of two teams, or a team's member in a cluster everyone sees,
    would mix what must stay apart."""
    teams = set()
    for account in account_ids:
        if "" not in scopes.get(account, set()):
            teams |= scopes.get(account, set())
    if current is not None and teams and teams != {current}:
        raise ValidationError(
            {
                "members": "These accounts are known from restricted cases: they cannot join "
                "a cluster seen outside their team."
            }
        )
    if len(teams) > 1:
        raise ValidationError(
            {
                "members": "These accounts come from two restricted teams' cases; make one "
                "cluster per team."
            }
        )
    return next(iter(teams), current or "")


def _manual_group(name: str, team: str, account_ids: list[int], scopes, reasons) -> _Group:
    links = _links_among(account_ids)
    per_account: dict[int, list[dict]] = defaultdict(list)
    keyed = []
    for key, link in links.items():
        keyed.append((key, link.accounts))
        for account in link.accounts:
            per_account[account].append(
                {"kind": key[0], "masked": link.masked, "hash": key[1][:HASH_PREFIX]}
            )
    return _Group(
        origin=Cluster.Origin.MANUAL,
        team=team,
        signature="",
        name=name,
        members={
            a: (ClusterMember.Role.ACCOUNT, {"identifiers": per_account[a]}) for a in account_ids
        },
        evidence=_identifier_evidence(keyed, links),
        reasons=_dominant(account_ids, team, reasons),
    )


def cluster_create(*, actor, name: str, members: list[str]) -> Cluster:
    """Build a cluster by hand from accounts the actor may see (at least two)."""
    check_manage_clusters(actor)
    errors: dict = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = "Give the cluster a name."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    external_ids = _clean_external_ids(members, errors, minimum=2)
    if errors:
        raise ValidationError(errors)
    accounts = _accounts_for(actor, external_ids)
    account_ids = sorted(a.pk for a in accounts.values())
    scopes, reasons = _subject_scopes(account_ids, owned=True)
    team = _team_for(actor, scopes, account_ids, None)
    now = timezone.now()
    group = _manual_group(name, team, account_ids, scopes, reasons)
    with transaction.atomic():
        cluster = Cluster(
            name=name,
            origin=Cluster.Origin.MANUAL,
            team=team,
            first_seen=now,
            last_seen=now,
            size=len(account_ids),
            dominant_reasons=group.reasons,
            evidence=group.evidence,
            created_by=actor,
        )
        cluster._history_user = actor
        cluster.save()
        ClusterMember.objects.bulk_create(_member_rows(cluster, group, account_ids, now, actor))
    return cluster


def _lock(actor, cluster_id: int, version: int | None) -> Cluster:
    """The cluster locked for a change: 404 unseen, 403 not allowed, 409 stale version."""
    cluster = Cluster.objects.select_for_update().filter(pk=cluster_id).first()
    if cluster is None:
        raise Http404("No such cluster.")
    if not can_view_cluster(actor, cluster):
        raise HiddenObject("No such cluster.", actor=actor, obj=cluster)
    check_manage_clusters(actor)
    if version is not None and cluster.version != version:
        raise ClusterConflict("The cluster was changed meanwhile; reload it and try again.")
    return cluster


def cluster_members_add(
    *, actor, cluster_id: int, members: list[str], version: int | None = None
) -> Cluster:
    """Add accounts the actor may see to a cluster."""
    errors: dict = {}
    external_ids = _clean_external_ids(members, errors, minimum=1)
    with transaction.atomic():
        cluster = _lock(actor, cluster_id, version)
        if errors:
            raise ValidationError(errors)
        accounts = _accounts_for(actor, external_ids)
        existing = set(cluster.members.values_list("subject_id", flat=True))
        account_ids = sorted(a.pk for a in accounts.values() if a.pk not in existing)
        if not account_ids:
            return cluster
        scopes, reasons = _subject_scopes(account_ids, owned=True)
        _team_for(actor, scopes, account_ids, cluster.team)
        now = timezone.now()
        group = _manual_group(cluster.name, cluster.team, account_ids, scopes, reasons)
        ClusterMember.objects.bulk_create(
            _member_rows(cluster, group, account_ids, now, actor), ignore_conflicts=True
        )
        _cluster_recount(cluster)
        cluster.last_seen = now
        cluster.version += 1
        cluster._history_user = actor
        cluster.save()
    return cluster


def cluster_members_remove(
    *, actor, cluster_id: int, members: list[str], version: int | None = None
) -> Cluster:
    """Take accounts (and the content they own in the cluster) out of a cluster."""
    errors: dict = {}
    external_ids = _clean_external_ids(members, errors, minimum=1)
    with transaction.atomic():
        cluster = _lock(actor, cluster_id, version)
        if errors:
            raise ValidationError(errors)
        accounts = _accounts_for(actor, external_ids)
        ids = [a.pk for a in accounts.values()]
        removed, _ = (
            ClusterMember.objects.filter(cluster=cluster).filter(subject_id__in=ids).delete()
        )
        ClusterMember.objects.filter(cluster=cluster, subject__owner_id__in=ids).delete()
        if removed:
            _cluster_recount(cluster)
            cluster.version += 1
            cluster._history_user = actor
            cluster.save()
    return cluster


def _transition(cluster: Cluster, actor, target: str, reason: str) -> Cluster:
    if target not in Cluster.TRANSITIONS.get(cluster.status, set()):
        raise ClusterConflict(
            f"A cluster that is {cluster.get_status_display().lower()} cannot become "
            f"{Cluster.Status(target).label.lower()}."
        )
    cluster.status = target
    cluster.status_changed_by = actor
    cluster.status_changed_at = timezone.now()
    cluster.status_reason = reason
    cluster.version += 1
    cluster._history_user = actor
    cluster.save()
    return cluster


def _reason(reason) -> str:
    reason = reason.strip() if isinstance(reason, str) else ""
    if len(reason) < 5:
        raise ValidationError({"reason": "Say why (at least 5 characters)."})
    if len(reason) > 2000:
        raise ValidationError({"reason": "At most 2,000 characters."})
    return reason


def cluster_dismiss(*, actor, cluster_id: int, reason: str, version: int) -> Cluster:
    """Dismiss an open cluster (not coordinated, or not worth acting on), saying why."""
    with transaction.atomic():
        cluster = _lock(actor, cluster_id, version)
        return _transition(cluster, actor, Cluster.Status.DISMISSED, _reason(reason))


def cluster_reopen(*, actor, cluster_id: int, reason: str, version: int) -> Cluster:
    """Reopen a dismissed or actioned cluster, saying why."""
    with transaction.atomic():
        cluster = _lock(actor, cluster_id, version)
        return _transition(cluster, actor, Cluster.Status.OPEN, _reason(reason))


def cluster_mark_actioned(
    *, actor, cluster_id: int, wave_id: int | None = None, reason: str = ""
) -> Cluster:
    """A finished wave actions its cluster (called in the wave's transaction by the wave
    service, which checked who may run it). A cluster no longer open (dismissed meanwhile)
    keeps its status: the wave's own record says what was done."""
    with transaction.atomic():
        cluster = Cluster.objects.select_for_update().get(pk=cluster_id)
        if Cluster.Status.ACTIONED not in Cluster.TRANSITIONS.get(cluster.status, set()):
            return cluster
        why = reason or (f"Enforced by wave #{wave_id}" if wave_id else "Enforced by a wave")
        return _transition(cluster, actor, Cluster.Status.ACTIONED, why)
