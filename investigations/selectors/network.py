"""The network of linked accounts: accounts that share identifier hashes, a few hops out.

How a network is read (``network_expand``):

- Each hop is two set-based queries, whatever the number of nodes: the frontier's
  identifiers with a bounded count of the accounts sharing each one (the
  ``(kind, value_hash)`` index, ``LIMIT hub limit + 1``), then every holder the actor may see
  of the shared identifiers that are not hubs (one ``LATERAL`` per identifier, also bounded,
  with the visibility rule's own queryset, :func:`investigations.visibility.visible_accounts`,
  as a correlated ``EXISTS`` on each holder: the test
  :func:`~investigations.visibility.visible_account_ids` makes, without a round trip).
  The standing of all nodes is read at the end in one query (indexed subqueries per node).
- An account the actor may not see is not a node, not an edge and not counted: it is dropped
  before anything is built from it.
- A **hub** is an identifier shared by more than ``TSOPS_NETWORK_HUB_LIMIT`` accounts (an
  office IP, a carrier NAT, a popular device model). Whether an identifier is a hub is a
  property of the identifier, read from every account that carries it, so the network of an
  analyst and of a team member agree on it; its size is therefore never given as a number,
  only as "more than the limit" (``accounts_over``), which names and counts no restricted
  account. A hub is one node linked to the accounts that reached it and is not expanded unless
  its id is in ``expand_hubs``; then its holders (up to ``TSOPS_NETWORK_MAX_NODES``, visible
  ones only) join the network linked to the hub node.
- Edges carry the identifier's masked form for everyone, analysts who may view PII included:
  a network is a picture that gets shared and exported; the account page reveals values.
- An edge's ``first_seen`` is the earliest first sighting of the identifier on either of the
  two accounts and ``last_seen`` the latest sighting. With a time window, an identifier link
  counts when its ``[first seen, last seen]`` on the account overlaps ``[since, until]``.
- Edges are the links the expansion followed: every shared identifier of an account at depth
  below ``hops`` (so two accounts at the last depth are linked when they share an identifier
  with a shallower account, not through one nobody at a shallower depth holds).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from itertools import combinations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from cases.models import Case, CaseLink, Identifier, Subject
from cases.visibility import visible_cases
from enforcement.models import EnforcementAction
from investigations.visibility import visible_accounts

MAX_HOPS = 3
KINDS = tuple(Identifier.Kind.values)

Pair = tuple[str, str]


@dataclass(frozen=True)
class Sighting:
    """One identifier on one account: its masked form, first and last seen."""

    masked: str
    first_seen: datetime
    last_seen: datetime


@dataclass
class Network:
    """Nodes (accounts and hubs), edges between them, and whether the node limit cut it."""

    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)
    truncated: bool = False

    def account_nodes(self) -> list[dict]:
        return [node for node in self.nodes if node["kind"] == "account"]

    def as_dict(self) -> dict:
        return {"nodes": self.nodes, "edges": self.edges, "truncated": self.truncated}


def hub_id(kind: str, value_hash: str) -> str:
    """The node id of a hub identifier (what ``expand_hubs`` and ``?expand=`` take)."""
    return f"hub-{kind}-{value_hash}"


def account_node_id(account_id: int) -> str:
    return f"account-{account_id}"


# --- Input -------------------------------------------------------------------------------------


def network_params_clean(*, hops, kinds, since, until) -> tuple[int, list[str], object, object]:
    """Check the expansion's parameters; a ValidationError names the field that is wrong."""
    errors: dict[str, list[str]] = {}
    if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops <= MAX_HOPS:
        errors["hops"] = [f"Hops must be a whole number from 0 to {MAX_HOPS}."]
    kinds = list(kinds) if kinds else list(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        errors["kinds"] = [
            f"Unknown identifier kind: {', '.join(unknown)}. Choose from {', '.join(KINDS)}."
        ]
    if since and until and since > until:
        errors["until"] = ["The end of the window is before its start."]
    if errors:
        raise ValidationError(errors)
    return hops, kinds, since, until


# --- Queries (each one set-based, for a whole hop) ----------------------------------------------


def _window_sql(kinds: list[str], since, until, alias: str = "i") -> tuple[str, list]:
    sql, params = [f"{alias}.kind = ANY(%s)"], [kinds]
    if since is not None:
        sql.append(f"{alias}.last_seen >= %s")
        params.append(since)
    if until is not None:
        sql.append(f"{alias}.created_at <= %s")
        params.append(until)
    return " AND ".join(sql), params


def _frontier_identifiers(frontier: list[int], kinds, since, until) -> list[tuple]:
    """The frontier's identifiers (in the filters), each with how many accounts carry it,
    counted no further than the hub limit + 1."""
    where, params = _window_sql(kinds, since, until)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH own AS (SELECT i.account_id, i.kind, i.value_hash, i.masked, i.created_at, "  # noqa: S608 - fixed fragments from _window_sql
            f"i.last_seen FROM cases_identifier i WHERE i.account_id = ANY(%s) AND {where}), "
            "pairs AS (SELECT DISTINCT kind, value_hash FROM own), "
            "counted AS (SELECT p.kind, p.value_hash, (SELECT count(*) FROM (SELECT 1 "
            "FROM cases_identifier h WHERE h.kind = p.kind AND h.value_hash = p.value_hash "
            "LIMIT %s) s) AS holders FROM pairs p) "
            "SELECT o.account_id, o.kind, o.value_hash, o.masked, o.created_at, o.last_seen, "
            "c.holders FROM own o JOIN counted c USING (kind, value_hash) "
            "ORDER BY o.account_id, o.kind, o.value_hash",
            [frontier, *params, settings.TSOPS_NETWORK_HUB_LIMIT + 1],
        )
        return cursor.fetchall()


def _visible_holder_sql(visible) -> tuple[str, tuple]:
    """The visibility rule's queryset as SQL, correlated on the identifier row's account, for
    an ``EXISTS`` beside each holder (the rule stays in its home; only its SQL is reused)."""
    return visible.filter(pk=RawSQL("i.account_id", ())).values("pk").query.sql_with_params()


def _holders(pairs: list[tuple[str, str, int]], kinds, since, until, visible) -> list[tuple]:
    """Every account the actor may see carrying each (kind, value_hash) in the filters, at
    most ``limit`` each."""
    if not pairs:
        return []
    where, params = _window_sql(kinds, since, until)
    visible_sql, visible_params = visible
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.kind, p.value_hash, i.account_id, i.masked, i.created_at, i.last_seen "  # noqa: S608 - fixed fragments from _window_sql
            "FROM unnest(%s::varchar[], %s::varchar[], %s::int[]) AS p(kind, value_hash, lim) "
            "CROSS JOIN LATERAL (SELECT i.account_id, i.masked, i.created_at, i.last_seen "
            "FROM cases_identifier i WHERE i.kind = p.kind AND i.value_hash = p.value_hash "
            f"AND {where} AND EXISTS ({visible_sql}) ORDER BY i.account_id LIMIT p.lim) i",
            [
                [p[0] for p in pairs],
                [p[1] for p in pairs],
                [p[2] for p in pairs],
                *params,
                *visible_params,
            ],
        )
        return cursor.fetchall()


# --- Expansion ---------------------------------------------------------------------------------


@dataclass
class _Hub:
    kind: str
    value_hash: str
    masked: str
    expanded: bool
    holders: dict[int, Sighting] = field(default_factory=dict)


@dataclass
class _Walk:
    """The state of one expansion: accounts by depth, identifier groups, hubs."""

    depth: dict[int, int] = field(default_factory=dict)
    groups: dict[Pair, dict[int, Sighting]] = field(default_factory=lambda: defaultdict(dict))
    hubs: dict[Pair, _Hub] = field(default_factory=dict)
    truncated: bool = False

    def admit(self, candidates: set[int], hop: int, max_nodes: int) -> list[int]:
        """Add the new accounts at this depth, up to the node limit (lowest ids first)."""
        fresh = sorted(candidates - self.depth.keys())
        room = max_nodes - len(self.depth)
        if len(fresh) > room:
            fresh, self.truncated = fresh[: max(room, 0)], True
        for account_id in fresh:
            self.depth[account_id] = hop
        return fresh


def network_expand(
    *,
    actor,
    seeds: list[Subject],
    hops: int = 2,
    kinds: list[str] | None = None,
    since=None,
    until=None,
    expand_hubs: set[str] | frozenset[str] = frozenset(),
) -> Network:
    """The accounts linked to ``seeds`` through shared identifiers, up to ``hops`` hops, as
    the actor may see them (see the module's docstring for hubs, windows and edges)."""
    hops, kinds, since, until = network_params_clean(
        hops=hops, kinds=kinds, since=since, until=until
    )
    # The visibility rule's queryset, built once (it reads the actor's queues).
    visible = visible_accounts(actor)
    seed_ids = [s.pk for s in seeds if s.kind == Subject.Kind.ACCOUNT]
    seed_ids = (
        set(visible.filter(pk__in=seed_ids).values_list("pk", flat=True)) if seed_ids else set()
    )
    return _expand(actor, visible, seed_ids, hops, kinds, since, until, expand_hubs)


def _expand(actor, visible, seed_ids, hops, kinds, since, until, expand_hubs) -> Network:
    """Expand from seeds already known to be visible to the actor."""
    max_nodes = settings.TSOPS_NETWORK_MAX_NODES
    walk = _Walk()
    visible = _visible_holder_sql(visible)
    frontier = walk.admit(set(seed_ids), 0, max_nodes)
    if hops == 0:
        _link_among(walk, frontier, kinds, since, until)
    for hop in range(1, hops + 1):
        if not frontier:
            break
        frontier = _hop(visible, walk, frontier, hop, kinds, since, until, expand_hubs, max_nodes)
    return _build(actor, walk)


def _link_among(walk: _Walk, accounts: list[int], kinds, since, until) -> None:
    """Hops = 0: only the identifiers the given accounts share among themselves."""
    if not accounts:
        return
    for account_id, kind, value_hash, masked, first, last, _ in _frontier_identifiers(
        accounts, kinds, since, until
    ):
        walk.groups[(kind, value_hash)][account_id] = Sighting(masked, first, last)


def _hop(visible, walk, frontier, hop, kinds, since, until, expand_hubs, max_nodes) -> list[int]:
    """One hop out from ``frontier``: returns the accounts it added (the next frontier)."""
    limit = settings.TSOPS_NETWORK_HUB_LIMIT
    to_fetch: dict[Pair, int] = {}
    for account_id, kind, value_hash, masked, first, last, holders in _frontier_identifiers(
        frontier, kinds, since, until
    ):
        pair, sighting = (kind, value_hash), Sighting(masked, first, last)
        if pair in walk.hubs:
            walk.hubs[pair].holders[account_id] = sighting
            continue
        if holders > limit:
            expanded = hub_id(kind, value_hash) in expand_hubs
            walk.hubs[pair] = _Hub(kind, value_hash, masked, expanded, {account_id: sighting})
            if expanded:
                to_fetch[pair] = max_nodes + 1
            continue
        if pair not in walk.groups:
            to_fetch[pair] = limit + 1
        walk.groups[pair][account_id] = sighting
    pairs = [(k, h, lim) for (k, h), lim in to_fetch.items()]
    rows = _holders(pairs, kinds, since, until, visible)
    reached: dict[int, list[tuple]] = defaultdict(list)
    fetched: dict[Pair, int] = defaultdict(int)
    for kind, value_hash, account_id, masked, first, last in rows:
        fetched[(kind, value_hash)] += 1
        reached[account_id].append(((kind, value_hash), Sighting(masked, first, last)))
    if any(fetched[pair] >= lim > limit + 1 for pair, lim in to_fetch.items()):
        walk.truncated = True
    added = walk.admit(set(reached), hop, max_nodes)
    for account_id, sightings in reached.items():
        if account_id not in walk.depth:
            continue
        for pair, sighting in sightings:
            if pair in walk.hubs:
                walk.hubs[pair].holders.setdefault(account_id, sighting)
            else:
                walk.groups[pair].setdefault(account_id, sighting)
    return added


# --- The answer --------------------------------------------------------------------------------


def _edge(source: str, target: str, kind: str, a: Sighting, b: Sighting | None = None) -> dict:
    first = min(a.first_seen, b.first_seen) if b else a.first_seen
    last = max(a.last_seen, b.last_seen) if b else a.last_seen
    return {
        "source": source,
        "target": target,
        "kind": kind,
        "masked": a.masked,
        "first_seen": first.isoformat(),
        "last_seen": last.isoformat(),
    }


def _build(actor, walk: _Walk) -> Network:
    network = Network(truncated=walk.truncated)
    standing = account_standing(actor=actor, account_ids=list(walk.depth))
    accounts = {pk: row.pop("external_id") for pk, row in standing.items()}
    order = sorted(walk.depth, key=lambda pk: (walk.depth[pk], accounts[pk]))
    for pk in order:
        network.nodes.append(
            {
                "id": account_node_id(pk),
                "kind": "account",
                "external_id": accounts[pk],
                "depth": walk.depth[pk],
                "standing": standing[pk],
            }
        )
    for (kind, _hash), holders in sorted(walk.groups.items()):
        members = sorted(
            (pk for pk in holders if pk in walk.depth), key=lambda pk: (walk.depth[pk], pk)
        )
        for a, b in combinations(members, 2):
            network.edges.append(
                _edge(account_node_id(a), account_node_id(b), kind, holders[a], holders[b])
            )
    for (kind, value_hash), hub in sorted(walk.hubs.items()):
        members = sorted(pk for pk in hub.holders if pk in walk.depth)
        if not members:
            continue
        hid = hub_id(kind, value_hash)
        network.nodes.append(
            {
                "id": hid,
                "kind": "hub",
                "identifier_kind": kind,
                "masked": hub.masked,
                "accounts_over": settings.TSOPS_NETWORK_HUB_LIMIT,
                "expanded": hub.expanded,
                "depth": min(walk.depth[pk] for pk in members) + 1,
            }
        )
        for pk in members:
            network.edges.append(_edge(account_node_id(pk), hid, kind, hub.holders[pk]))
    return network


def account_standing(*, actor, account_ids: list[int]) -> dict[int, dict]:
    """Each account's external id and standing as the actor may see it, from their visible
    cases only: an active action, open cases, strike points in force, and whether one of its
    cases is linked as an evasion suspect.

    One statement over the actor's visible cases of these accounts (the visibility rule's own
    queryset, as SQL) rather than an ORM query with a subquery per figure, which took longer
    to plan than to run."""
    if not account_ids:
        return {}
    now = timezone.now()
    subjects = Subject.objects.filter(Q(pk__in=account_ids) | Q(owner_id__in=account_ids))
    cases_sql, cases_params = (
        visible_cases(actor)
        .filter(subject_id__in=subjects.values("pk"))
        .values("id", "subject_id", "status")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH c AS MATERIALIZED (SELECT v.id, v.status, coalesce(s.owner_id, s.id) AS account "  # noqa: S608 - the visibility queryset's own SQL
            f"FROM ({cases_sql}) v JOIN cases_subject s ON s.id = v.subject_id) "
            "SELECT a.id, a.external_id, "
            "EXISTS (SELECT 1 FROM enforcement_enforcementaction e JOIN c ON c.id = e.case_id "
            "WHERE c.account = a.id AND e.status = %s "
            "AND (e.expires_at IS NULL OR e.expires_at > %s)), "
            "(SELECT count(*) FROM c WHERE c.account = a.id AND c.status = ANY(%s)), "
            "(SELECT coalesce(sum(k.points), 0) FROM enforcement_strike k "
            "JOIN enforcement_decision d ON d.id = k.decision_id JOIN c ON c.id = d.case_id "
            "WHERE k.account_id = a.id AND k.voided_at IS NULL AND k.expires_at > %s), "
            "EXISTS (SELECT 1 FROM cases_caselink l JOIN c ON c.id = l.from_case_id "
            "WHERE c.account = a.id AND l.kind = %s) "
            "FROM cases_subject a WHERE a.id = ANY(%s)",
            [
                *cases_params,
                EnforcementAction.Status.ACTIVE,
                now,
                list(Case.OPEN_STATUSES),
                now,
                CaseLink.Kind.EVASION_SUSPECT,
                list(account_ids),
            ],
        )
        rows = cursor.fetchall()
    return {
        pk: {
            "external_id": external_id,
            "actioned": actioned,
            "open_cases": open_cases,
            "strikes": int(points),
            "evasion_suspect": suspect,
        }
        for pk, external_id, actioned, open_cases, points, suspect in rows
    }


def network_for_accounts(
    *,
    actor,
    account_ids: list[int],
    hops: int = 0,
    kinds: list[str] | None = None,
    since=None,
    until=None,
) -> Network:
    """The network of a group of accounts (a cluster's members): with ``hops=0`` only the
    identifiers they share among themselves, with ``hops=1`` their direct neighbours too."""
    if hops not in (0, 1):
        raise ValidationError({"hops": ["A group's network is read 0 or 1 hop out."]})
    seeds = list(Subject.objects.filter(pk__in=account_ids, kind=Subject.Kind.ACCOUNT))
    return network_expand(
        actor=actor, seeds=seeds, hops=hops, kinds=kinds, since=since, until=until
    )


# --- Query strings (the API and the console page read the same parameters) --------------------


def _parse_moment(value: str, *, end_of_day: bool):
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError
        moment = datetime.combine(day, time.max if end_of_day else time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def network_query_parse(params) -> dict:
    """Read ``hops``, ``kinds``, ``since``, ``until`` and ``expand`` from a query string; a
    ValidationError names each field that is wrong."""
    errors: dict[str, list[str]] = {}
    raw_hops = (params.get("hops") or "2").strip()
    hops = int(raw_hops) if raw_hops.lstrip("-").isdigit() else None
    if hops is None or not 0 <= hops <= MAX_HOPS:
        errors["hops"] = [f"Hops must be a whole number from 0 to {MAX_HOPS}."]
    kinds = [k.strip() for raw in params.getlist("kinds") for k in raw.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        errors["kinds"] = [
            f"Unknown identifier kind: {', '.join(unknown)}. Choose from {', '.join(KINDS)}."
        ]
    window = {}
    for name in ("since", "until"):
        try:
            window[name] = _parse_moment(
                (params.get(name) or "").strip(), end_of_day=name == "until"
            )
        except ValueError:
            errors[name] = ["Give a date (YYYY-MM-DD) or an ISO 8601 date and time."]
    expand = {h.strip() for raw in params.getlist("expand") for h in raw.split(",") if h.strip()}
    if errors:
        raise ValidationError(errors)
    if window["since"] and window["until"] and window["since"] > window["until"]:
        raise ValidationError({"until": ["The end of the window is before its start."]})
    return {
        "hops": hops,
        "kinds": sorted(set(kinds)),
        "since": window["since"],
        "until": window["until"],
        "expand_hubs": expand,
    }


def network_query_detail(query: dict) -> dict:
    """The parameters as the access log keeps them."""
    return {
        "hops": query["hops"],
        "kinds": query["kinds"] or list(KINDS),
        "since": query["since"].isoformat() if query["since"] else None,
        "until": query["until"].isoformat() if query["until"] else None,
        "expanded_hubs": sorted(query["expand_hubs"]),
    }


def account_network(*, actor, account: Subject, query: dict) -> Network:
    """The network around one account, already fetched with ``account_get_for`` (which
    answered "not found" unless the actor may see it)."""
    hops, kinds, since, until = network_params_clean(
        hops=query["hops"], kinds=query["kinds"], since=query["since"], until=query["until"]
    )
    return _expand(
        actor,
        visible_accounts(actor),
        {account.pk},
        hops,
        kinds,
        since,
        until,
        frozenset(query["expand_hubs"]),
    )
