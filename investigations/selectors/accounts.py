"""Every read of the account page and its API: one account as an actor may see it.

Everything here starts from the account's visible cases (``investigations.visibility``): its
cases and content, its enforcement, strikes and appeals, the reports it made and its timeline
count only what comes from a case the actor may see, so a restricted case is not there at all
for an outsider, not even as a count. Linked accounts pass ``visible_accounts``; clusters and
investigation files pass their own visibility rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Case as DbCase
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from cases.identifiers import hash_for_text
from cases.models import Case, CaseEvent, Identifier, Report, Subject
from cases.permissions import can_view_pii
from cases.timeline import EventKind
from cases.visibility import visible_cases
from enforcement import strikes
from enforcement.appeal_window import OPEN_APPEAL_STATUSES
from enforcement.models import Decision, EnforcementAction, Strike
from enforcement.presentation import describe_action
from investigations.models import Cluster, ClusterMember, Investigation
from investigations.visibility import (
    account_cases,
    visible_accounts,
    visible_clusters,
    visible_investigations,
)

CASES_PAGE_SIZE = 20
CONTENT_PAGE_SIZE = 20
TIMELINE_PAGE_SIZE = 30
LINKED_LIMIT = 20
SEARCH_LIMIT = 50
# How many other accounts an identifier's row names; past it, "and N more" (a hub).
SHARERS_LIMIT = 20


def page_number(params, name: str) -> int:
    """The page a query parameter asks for: a whole number from 1, 1 when absent. Anything
    else is a ValidationError naming the parameter (answered 400)."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise ValidationError({name: ["Must be a whole number from 1."]})
    return int(raw)


def _owned(account: Subject) -> Q:
    return Q(subject_id=account.pk) | Q(subject__owner_id=account.pk)


# --- Standing -----------------------------------------------------------------------------------


@dataclass
class AccountStanding:
    """What holds on the account now, from the cases the reader may see: active actions on it
    and on its content (with their expiry), strikes in force and their points, open appeals."""

    restrictions: list[EnforcementAction] = field(default_factory=list)
    strikes: int = 0
    strike_points: int = 0
    open_appeals: int = 0


def account_standing(*, account: Subject, cases: QuerySet[Case], now=None) -> AccountStanding:
    """The account's standing from ``cases`` (its cases the reader sees), one query a figure."""
    now = now or timezone.now()
    case_ids = cases.values("pk")
    active = (
        EnforcementAction.objects.filter(_owned(account), case_id__in=case_ids)
        .filter(status=EnforcementAction.Status.ACTIVE)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        # A warning restricts nothing.
        .exclude(action_type="warn")
        .select_related("subject", "decision__policy_section")
        .order_by(F("expires_at").asc(nulls_first=True), "-created_at", "-pk")
    )
    restrictions = []
    for action in active[:50]:
        describe_action(action, now)
        action.on_account = action.subject_id == account.pk
        restrictions.append(action)
    in_force = Strike.objects.filter(
        strikes.counting_q(now), account=account, decision__case_id__in=case_ids
    ).aggregate(n=Count("id"), points=Sum("points"))
    appeals = EnforcementAction.objects.filter(
        _owned(account), case_id__in=case_ids, appeals__status__in=OPEN_APPEAL_STATUSES
    ).aggregate(n=Count("appeals", distinct=True))
    return AccountStanding(
        restrictions=restrictions,
        strikes=in_force["n"] or 0,
        strike_points=in_force["points"] or 0,
        open_appeals=appeals["n"] or 0,
    )


# --- Cases and content --------------------------------------------------------------------------


def account_case_page(*, cases: QuerySet[Case], page: int) -> Page:
    """One page of the account's visible cases, newest first, with their true count."""
    rows = cases.select_related("subject", "queue").order_by("-created_at", "-pk")
    return Paginator(rows, CASES_PAGE_SIZE).get_page(page)


def account_content_page(*, account: Subject, cases: QuerySet[Case], page: int) -> Page:
    """One page of the subjects the account owns that have a case the reader sees, newest
    first, each with how many of those cases it has."""
    visible_here = cases.filter(subject_id=OuterRef("pk"))
    count = (
        cases.filter(subject_id=OuterRef("pk"))
        .order_by()
        .values("subject_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = (
        Subject.objects.filter(owner=account)
        .filter(Exists(visible_here))
        .annotate(case_count=Subquery(count, output_field=IntegerField()))
        .order_by("-created_at", "-pk")
    )
    return Paginator(rows, CONTENT_PAGE_SIZE).get_page(page)


# --- Identifiers and linked accounts ------------------------------------------------------------


Hash = tuple[str, str]  # (identifier kind, value hash)


def _same_values(pairs) -> Q:
    match = Q()
    for kind, value_hash in pairs:
        match |= Q(kind=kind, value_hash=value_hash)
    return match


def account_hubs(*, account: Subject) -> set[Hash]:
    """The account's identifiers that more accounts share than ``TSOPS_NETWORK_HUB_LIMIT``
    (a shared office IP, a carrier NAT): hubs, which the page names but does not expand
    (the network page opens them on request). How many share one is not told: some of
    them may be accounts the reader may not see."""
    mine = list(Identifier.objects.filter(account=account).values_list("kind", "value_hash"))
    if not mine:
        return set()
    rows = (
        Identifier.objects.filter(_same_values(mine))
        .values("kind", "value_hash")
        .annotate(n=Count("id"))
        .filter(n__gt=settings.TSOPS_NETWORK_HUB_LIMIT)
    )
    return {(row["kind"], row["value_hash"]) for row in rows}


@dataclass
class IdentifierRow:
    identifier: Identifier
    # The keyed hash, for those who may view PII (or after a logged reveal); else None.
    fingerprint: str | None = None
    # Visible accounts sharing it (external ids), and how many visible ones in all.
    sharing: list[str] = field(default_factory=list)
    shared_total: int = 0
    # Shared by more accounts than the hub limit: its sharers are not listed.
    hub: bool = False


def _sharers(actor, account: Subject, identifiers: list[Identifier]) -> dict[tuple, list[str]]:
    """Per (kind, hash): the other accounts the actor may see that have it."""
    if not identifiers:
        return {}
    rows = (
        Identifier.objects.filter(_same_values((i.kind, i.value_hash) for i in identifiers))
        .exclude(account=account)
        .filter(account__in=visible_accounts(actor))
        .values_list("kind", "value_hash", "account__external_id")
        .order_by("account__external_id")[:1000]
    )
    found: dict[tuple, list[str]] = {}
    for kind, value_hash, external_id in rows:
        found.setdefault((kind, value_hash), []).append(external_id)
    return found


def account_identifiers(
    *, actor, account: Subject, hubs: set[Hash] | None = None
) -> list[IdentifierRow]:
    """The account's identifiers, masked; with fingerprint and sharers for those who may
    view PII (associates reveal one at a time, with a reason: services.accounts). Hubs are
    marked, and their sharers not listed."""
    hubs = account_hubs(account=account) if hubs is None else hubs
    identifiers = list(Identifier.objects.filter(account=account).order_by("kind", "id"))
    for ident in identifiers:
        ident.hub = (ident.kind, ident.value_hash) in hubs
    if not can_view_pii(actor):
        return [IdentifierRow(identifier=ident, hub=ident.hub) for ident in identifiers]
    sharers = _sharers(actor, account, [i for i in identifiers if not i.hub])
    return [
        identifier_row(ident, sharers.get((ident.kind, ident.value_hash), []))
        for ident in identifiers
    ]


def identifier_row(identifier: Identifier, sharing: list[str]) -> IdentifierRow:
    """A revealed row: the fingerprint and the first sharers."""
    return IdentifierRow(
        identifier=identifier,
        fingerprint=identifier.value_hash,
        sharing=sharing[:SHARERS_LIMIT],
        shared_total=len(sharing),
        hub=getattr(identifier, "hub", False),
    )


def identifier_sharers(*, actor, identifier: Identifier) -> list[str]:
    """The visible accounts other than its own that have this identifier (none listed for a
    hub, which is marked ``identifier.hub``)."""
    identifier.hub = (identifier.kind, identifier.value_hash) in account_hubs(
        account=identifier.account
    )
    if identifier.hub:
        return []
    return _sharers(actor, identifier.account, [identifier]).get(
        (identifier.kind, identifier.value_hash), []
    )


@dataclass
class LinkedAccount:
    account: Subject
    shared: list[str]
    cases: int


def account_linked_accounts(
    *, actor, account: Subject, hubs: set[Hash] | None = None, limit: int = LINKED_LIMIT
):
    """Other accounts sharing a device/IP/email/phone/payment hash with this one that the
    actor may see (``visible_accounts``), most shared kinds first, with their visible cases.
    Hub identifiers link nobody here (the network page opens them)."""
    hubs = account_hubs(account=account) if hubs is None else hubs
    mine = [
        pair
        for pair in Identifier.objects.filter(account=account).values_list("kind", "value_hash")
        if pair not in hubs
    ]
    if not mine:
        return []
    match = Q()
    for kind, value_hash in mine:
        match |= Q(identifiers__kind=kind, identifiers__value_hash=value_hash)
    linked = (
        visible_accounts(actor)
        .exclude(pk=account.pk)
        .filter(match)
        .annotate(kinds=Count("identifiers__kind", distinct=True))
        .order_by("-kinds", "external_id")[:limit]
    )
    accounts = {a.pk: a for a in linked}
    if not accounts:
        return []
    shared: dict[int, set[str]] = {pk: set() for pk in accounts}
    own = {(k, h) for k, h in mine}
    for account_id, kind, value_hash in Identifier.objects.filter(
        account_id__in=list(accounts)
    ).values_list("account_id", "kind", "value_hash"):
        if (kind, value_hash) in own:
            shared[account_id].add(kind)
    counts = _visible_case_counts(actor, list(accounts))
    return [
        LinkedAccount(account=a, shared=sorted(shared[pk]), cases=counts.get(pk, 0))
        for pk, a in accounts.items()
    ]


def _visible_case_counts(actor, account_ids: list[int]) -> dict[int, int]:
    """How many cases the actor sees on each account (on it or on what it owns)."""
    rows = (
        visible_cases(actor)
        .filter(Q(subject_id__in=account_ids) | Q(subject__owner_id__in=account_ids))
        .annotate(account_id=Coalesce("subject__owner_id", "subject_id"))
        .values("account_id")
        .annotate(n=Count("id"))
    )
    return {row["account_id"]: row["n"] for row in rows}


# --- Reports it made ----------------------------------------------------------------------------


@dataclass
class ReportsMade:
    """The reports the account filed as a reporter, on cases the reader sees: counts only (by
    reason and by the outcome of the case each went into), never who else reported."""

    total: int = 0
    by_reason: list[dict] = field(default_factory=list)
    by_outcome: list[dict] = field(default_factory=list)


# The outcome of a case nobody has decided yet.
PENDING_OUTCOME = "pending"


def reporter_hash_of(account: Subject) -> str:
    """The reporter hash intake stores for reports this account filed (``reporter_id`` is the
    reporter's platform account id, hashed with ``cases.identifiers.hash_for_text``)."""
    return hash_for_text(account.external_id)


def account_reports_made(*, actor, account: Subject) -> ReportsMade:
    """Counts of the reports the account made on cases the actor may see (on any account),
    by reason and by outcome (two queries)."""
    reports = Report.objects.filter(
        reporter_hash=reporter_hash_of(account), case_id__in=visible_cases(actor).values("pk")
    )
    by_reason = list(reports.values("reason").annotate(n=Count("id")).order_by("-n", "reason"))
    latest = (
        Decision.objects.filter(case_id=OuterRef("case_id"))
        .order_by("-created_at", "-pk")
        .values("outcome")[:1]
    )
    by_outcome = list(
        reports.annotate(outcome=Subquery(latest))
        .values("outcome")
        .annotate(n=Count("id"))
        .order_by("-n", "outcome")
    )
    for row in by_outcome:
        row["outcome"] = row["outcome"] or PENDING_OUTCOME
    return ReportsMade(
        total=sum(row["n"] for row in by_reason), by_reason=by_reason, by_outcome=by_outcome
    )


# --- One timeline across its cases --------------------------------------------------------------


class _MergedTimeline:
    """The timeline events and reports of a set of cases as one list, newest first, counted
    and sliced in SQL (a UNION ALL), so a Paginator pages it without loading it."""

    COLUMNS = (
        "row_at",
        "row_rank",
        "id",
        "case_id",
        "row_kind",
        "row_actor",
        "row_data",
        "row_report",
    )

    def __init__(self, case_ids):
        self.events = CaseEvent.objects.filter(case_id__in=case_ids)
        self.reports = Report.objects.filter(case_id__in=case_ids)

    def count(self) -> int:
        return self.events.count() + self.reports.count()

    def _rows(self):
        # At the same instant a case opens, then its reports arrive, then what they caused
        # (the case page's order), read newest first.
        events = self.events.annotate(
            row_rank=DbCase(
                When(kind=EventKind.CASE_CREATED, then=Value(0)),
                default=Value(2),
                output_field=IntegerField(),
            ),
            row_at=F("at"),
            row_kind=F("kind"),
            row_actor=F("actor_id"),
            row_data=F("data"),
            row_report=Value(None, output_field=IntegerField()),
        ).values_list(*self.COLUMNS)
        reports = self.reports.annotate(
            row_rank=Value(1, output_field=IntegerField()),
            row_at=F("received_at"),
            row_kind=Value(EventKind.REPORT_ADDED.value),
            row_actor=Value(None, output_field=IntegerField()),
            row_data=JSONObject(
                report_id=F("id"),
                source=F("source"),
                reason=F("reason"),
                detector=F("detector"),
                score=F("score"),
            ),
            row_report=F("id"),
        ).values_list(*self.COLUMNS)
        return events.union(reports, all=True).order_by("-row_at", "-row_rank", "-id")

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        rows = list(self._rows()[index])
        return [
            CaseEvent(
                id=None if report_id else pk,
                case_id=case_id,
                kind=kind,
                actor_id=actor_id,
                at=at,
                data=data or {},
            )
            for at, _rank, pk, case_id, kind, actor_id, data, report_id in rows
        ]


def account_timeline_page(*, cases: QuerySet[Case], page: int) -> Page:
    """One page of the timeline merged across the account's visible cases: their events and
    the reports they received, newest first. Events carry ``case_id`` and their actor."""
    paginator = Paginator(_MergedTimeline(cases.values("pk")), TIMELINE_PAGE_SIZE)
    current = paginator.get_page(page)
    events = list(current.object_list)
    actor_ids = {e.actor_id for e in events if e.actor_id}
    if actor_ids:
        users = get_user_model().objects.in_bulk(actor_ids)
        for event in events:
            if event.actor_id:
                event.actor = users.get(event.actor_id)
    current.object_list = events
    return current


# --- Clusters and investigation files -----------------------------------------------------------


def account_clusters(*, actor, account: Subject) -> list[Cluster]:
    """The visible clusters the account (or content it owns) is a member of, newest first."""
    members = ClusterMember.objects.filter(
        Q(subject_id=account.pk) | Q(subject__owner_id=account.pk)
    )
    return list(
        visible_clusters(actor)
        .filter(pk__in=members.values("cluster_id"))
        .order_by("-last_seen", "-pk")[:50]
    )


def account_investigations(*, actor, account: Subject) -> list[Investigation]:
    """The investigation files the actor may see that name this account."""
    return list(
        visible_investigations(actor).filter(accounts=account).order_by("-created_at", "-pk")[:50]
    )


# --- Search -------------------------------------------------------------------------------------


def account_search(*, actor, q: str, limit: int = SEARCH_LIMIT) -> list[Subject]:
    """Visible accounts whose external id starts with ``q`` (the exact one first)."""
    q = (q or "").strip()
    if not q:
        return []
    return list(
        visible_accounts(actor).filter(external_id__startswith=q).order_by("external_id")[:limit]
    )


# --- The whole page -----------------------------------------------------------------------------


@dataclass
class AccountOverview:
    """Everything about an account that its page and its API show, as the actor may see it."""

    account: Subject
    standing: AccountStanding
    cases: Page
    content: Page
    identifiers: list[IdentifierRow]
    linked_accounts: list[LinkedAccount]
    reports_made: ReportsMade
    timeline: Page
    clusters: list[Cluster]
    investigations: list[Investigation]


def account_overview(
    *,
    actor,
    account: Subject,
    cases_page: int = 1,
    content_page: int = 1,
    timeline_page: int = 1,
    now=None,
) -> AccountOverview:
    """The account page's reads; ``account`` comes from ``visibility.account_get_for``."""
    cases = account_cases(actor, account)
    hubs = account_hubs(account=account)
    return AccountOverview(
        account=account,
        standing=account_standing(account=account, cases=cases, now=now),
        cases=account_case_page(cases=cases, page=cases_page),
        content=account_content_page(account=account, cases=cases, page=content_page),
        identifiers=account_identifiers(actor=actor, account=account, hubs=hubs),
        linked_accounts=account_linked_accounts(actor=actor, account=account, hubs=hubs),
        reports_made=account_reports_made(actor=actor, account=account),
        timeline=account_timeline_page(cases=cases, page=timeline_page),
        clusters=account_clusters(actor=actor, account=account),
        investigations=account_investigations(actor=actor, account=account),
    )
