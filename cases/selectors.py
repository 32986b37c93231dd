"""Every read of cases: each goes through :mod:`cases.visibility`, so no caller can forget it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import PermissionDenied
from django.db.models import Case as DbCase
from django.db.models import Count, Max, Min, Q, QuerySet, Value, When, Window
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cases import visibility
from cases.identifiers import identifier_hash
from cases.models import Case, CaseEvent, Identifier, Queue, Report, Subject
from cases.sla import breached_q, due_within_q
from cases.timeline import EventKind
from tsops.errors import HiddenObject
from tsops.models import row_with_related


def queue_list(*, actor, kind: str = Queue.Kind.CASES) -> list[Queue]:
    """The queues of ``kind`` the actor may work (restricted ones only for their team)."""
    queues = (
        Queue.objects.filter(active=True, kind=kind).select_related("sla_policy").order_by("name")
    )
    return [q for q in queues if visibility.can_work_queue(actor, q)]


def queue_get_for(
    *, actor, slug: str, kind: str | None = Queue.Kind.CASES, related: Iterable[str] = ()
) -> Queue:
    """A queue the actor may work (of ``kind``, or any kind when None), else 404; ``related``:
    more relations to load with it (e.g. what the claim guards read)."""
    queue = row_with_related(
        Queue, where="t.slug = %s AND t.active", params=[slug], related=("sla_policy", *related)
    )
    if queue is None or (kind is not None and queue.kind != kind):
        raise Http404("No such queue.")
    if not visibility.can_work_queue(actor, queue):
        raise HiddenObject("No such queue.", actor=actor, obj=queue)
    return queue


@dataclass
class QueueSummary:
    slug: str
    name: str
    url: str
    restricted: bool
    open: int = 0
    new: int = 0
    in_review: int = 0
    due_within_hour: int = 0
    breached: int = 0
    oldest: timedelta | None = None


def queue_summaries(*, actor) -> list[QueueSummary]:
    """Per visible queue: open, in review, breaching within an hour, breached, oldest age."""
    queues = queue_list(actor=actor)
    now = timezone.now()
    rows = (
        visibility.visible_cases(actor)
        .filter(queue__in=queues)
        .exclude(status=Case.Status.RESOLVED)
        .values("queue_id")
        .annotate(
            open=Count("id"),
            new=Count("id", filter=Q(status=Case.Status.NEW)),
            in_review=Count("id", filter=Q(status=Case.Status.IN_REVIEW)),
            breached=Count("id", filter=breached_q(now)),
            due_soon=Count("id", filter=due_within_q(now)),
            oldest=Min("created_at"),
        )
    )
    by_queue = {row["queue_id"]: row for row in rows}
    summaries = []
    for queue in queues:
        row = by_queue.get(queue.pk, {})
        summaries.append(
            QueueSummary(
                slug=queue.slug,
                name=queue.name,
                url=reverse("cases:queue-detail", args=[queue.slug]),
                restricted=bool(queue.team),
                open=row.get("open", 0),
                new=row.get("new", 0),
                in_review=row.get("in_review", 0),
                due_within_hour=row.get("due_soon", 0),
                breached=row.get("breached", 0),
                oldest=(now - row["oldest"]) if row.get("oldest") else None,
            )
        )
    return summaries


def case_claimed_list(*, actor, limit: int = 10) -> list[Case]:
    """The cases the actor is working now (claimed, in review), next deadline first."""
    cases = (
        visibility.visible_cases(actor)
        .filter(claimed_by=actor, status=Case.Status.IN_REVIEW)
        .select_related("subject", "queue")
        .order_by("resolve_due", "pk")
    )
    return list(cases[:limit])


@dataclass
class CaseFilters:
    status: str = "new"
    severity: int | None = None
    reason: str = ""
    source: str = ""  # "automated" | "human" | ""
    tag: str = ""
    breached: bool = False


def case_list(
    *, actor, queue: Queue | None = None, filters: CaseFilters | None = None
) -> QuerySet[Case]:
    """Cases in claim order: severity, then breach priority, then deadline, then report count."""
    filters = filters or CaseFilters()
    cases = visibility.visible_cases(actor).select_related("subject", "queue", "claimed_by")
    if queue is not None:
        cases = cases.filter(queue=queue)
    if filters.status == "open":
        cases = cases.exclude(status=Case.Status.RESOLVED)
    elif filters.status:
        cases = cases.filter(status=filters.status)
    if filters.severity is not None:
        cases = cases.filter(severity=filters.severity)
    if filters.reason:
        cases = cases.filter(reason=filters.reason)
    if filters.source == "automated":
        cases = cases.filter(automated_count__gt=0)
    elif filters.source == "human":
        cases = cases.filter(human_count__gt=0)
    if filters.tag:
        cases = cases.filter(tags__contains=[filters.tag])
    if filters.breached:
        cases = cases.filter(breached_q())
    return cases.order_by("severity", "-priority", "resolve_due", "-report_count", "id")


def case_get_for(*, actor, case_id: int) -> Case:
    """The case, or 404 when it does not exist or the actor may not see it; 403 while the
    actor is answering blind on it (QA review or calibration), whose answer the case's
    decisions would give away."""
    cases = Case.objects.select_related("subject", "subject__owner", "queue", "claimed_by")
    case = cases.annotate(**visibility.case_access_annotations(actor)).filter(pk=case_id).first()
    if case is None:
        raise Http404("No such case.")
    if not visibility.can_view_case(actor, case):
        raise HiddenObject("No such case.", actor=actor, obj=case)
    if refusal := visibility.case_access_refusal(case):
        raise PermissionDenied(refusal)
    return case


def report_groups(case: Case) -> list[dict]:
    """The case's reports grouped by reason, with human/automated counts."""
    return list(
        Report.objects.filter(case=case)
        .values("reason")
        .annotate(
            total=Count("id"),
            automated=Count("id", filter=Q(source=Report.Source.AUTOMATED_FLAG)),
            human=Count("id", filter=~Q(source=Report.Source.AUTOMATED_FLAG)),
        )
        .order_by("-total", "reason")
    )


def detector_scores(case: Case) -> list[dict]:
    """Per detector that flagged the case: its highest score and how many flags it raised."""
    return list(
        Report.objects.filter(case=case, source=Report.Source.AUTOMATED_FLAG)
        .exclude(detector="")
        .values("detector")
        .annotate(top=Max("score"), flags=Count("id"))
        .order_by("-top", "detector")
    )


def report_list(case: Case, *, limit: int = 50) -> list[Report]:
    return list(Report.objects.filter(case=case).order_by("-received_at", "-id")[:limit])


def timeline_for(case: Case, *, limit: int = 100) -> list[CaseEvent]:
    """The latest ``limit`` entries, oldest first: events merged with the reports received.

    Reports live only in cases_report; they appear here as unsaved REPORT_ADDED events.
    """
    events = list(
        CaseEvent.objects.filter(case=case).select_related("actor").order_by("-at", "-id")[:limit]
    )
    reports = [
        CaseEvent(
            case=case,
            kind=EventKind.REPORT_ADDED,
            at=report.received_at,
            data={
                "report_id": report.pk,
                "source": report.source,
                "reason": report.reason,
                "detector": report.detector,
                "score": report.score,
            },
        )
        for report in Report.objects.filter(case=case).order_by("-received_at", "-id")[:limit]
    ]

    # At the same instant: the case opens, then its reports arrive, then what they caused.
    def order(event: CaseEvent) -> tuple:
        rank = 0 if event.kind == EventKind.CASE_CREATED else 1 if event.pk is None else 2
        return (event.at, rank, event.pk or 0)

    return sorted(events + reports, key=order)[-limit:]


class PriorCases(list):
    """The newest prior cases, at most the number asked for, and ``total``: how many there
    are in all (the case page's "repeat offender · 42 prior" above a list of 20)."""

    total: int = 0


def prior_cases(*, actor, case: Case, limit: int = 20) -> PriorCases:
    """Other cases on the same account (as subject or as owner), visible to the actor."""
    account = case.subject.account
    if account is None:
        return PriorCases()
    rows = PriorCases(
        visibility.visible_cases(actor)
        .filter(Q(subject=account) | Q(subject__owner=account))
        .exclude(pk=case.pk)
        .select_related("subject", "queue")
        # Counted over every matching row before the LIMIT: the total costs no second query.
        .annotate(prior_total=Window(Count("id")))
        .order_by("-created_at")[:limit]
    )
    rows.total = rows[0].prior_total if rows else 0
    return rows


@dataclass
class LinkedAccount:
    account: Subject
    shared: list[str]
    cases: int


def linked_accounts(*, actor, case: Case, limit: int = 20) -> list[LinkedAccount]:
    """Other accounts sharing a device/IP/email/phone/payment hash with this case's account."""
    account = case.subject.account
    if account is None:
        return []
    mine = list(Identifier.objects.filter(account=account).values_list("kind", "value_hash"))
    if not mine:
        return []
    match = Q()
    for kind, value_hash in mine:
        match |= Q(kind=kind, value_hash=value_hash)
    shared: dict[int, set[str]] = {}
    for account_id, kind in (
        Identifier.objects.filter(match)
        .exclude(account=account)
        .values_list("account_id", "kind")[:500]
    ):
        shared.setdefault(account_id, set()).add(kind)
    ids = list(shared)[:limit]
    counts: dict[int, int] = {}
    for subject_id, owner_id in (
        visibility.visible_cases(actor)
        .filter(Q(subject_id__in=ids) | Q(subject__owner_id__in=ids))
        .values_list("subject_id", "subject__owner_id")[:1000]
    ):
        key = subject_id if subject_id in shared else owner_id
        counts[key] = counts.get(key, 0) + 1
    accounts = Subject.objects.in_bulk(ids)
    return [
        LinkedAccount(
            account=accounts[i],
            shared=sorted(shared[i]),
            cases=counts.get(i, 0),
        )
        for i in ids
        # An account with no case the viewer may see (its only cases restricted) is not
        # there for them at all.
        if i in accounts and counts.get(i)
    ]


_CASE_ID = re.compile(r"^#?(\d{1,18})$")


@dataclass
class SearchFilters:
    """What the search page narrows by; empty fields do not narrow."""

    status: str = ""  # a Case.Status, or "open" for any open status
    queue: str = ""  # a queue slug
    reason: str = ""
    severity: int | None = None
    created_from: date | None = None  # inclusive, in the console's time zone
    created_to: date | None = None  # inclusive


def _exact_match(q: str) -> Q:
    """A case id, a subject's or owner's external id, or an identifier value."""
    match = Q(subject__external_id=q) | Q(subject__owner__external_id=q)
    if m := _CASE_ID.match(q):
        match |= Q(pk=int(m.group(1)))
    hashes = [identifier_hash(kind, q) for kind in Identifier.Kind.values]
    accounts = list(
        Identifier.objects.filter(value_hash__in=hashes).values_list("account_id", flat=True)[:200]
    )
    if accounts:
        match |= Q(subject_id__in=accounts) | Q(subject__owner_id__in=accounts)
    return match


def _search_narrowed(cases: QuerySet[Case], filters: SearchFilters) -> QuerySet[Case]:
    if filters.status == "open":
        cases = cases.exclude(status=Case.Status.RESOLVED)
    elif filters.status:
        cases = cases.filter(status=filters.status)
    if filters.queue:
        cases = cases.filter(queue__slug=filters.queue)
    if filters.reason:
        cases = cases.filter(reason=filters.reason)
    if filters.severity is not None:
        cases = cases.filter(severity=filters.severity)
    zone = timezone.get_current_timezone()
    if filters.created_from:
        start = datetime.combine(filters.created_from, time.min, tzinfo=zone)
        cases = cases.filter(created_at__gte=start)
    if filters.created_to:
        end = datetime.combine(filters.created_to + timedelta(days=1), time.min, tzinfo=zone)
        cases = cases.filter(created_at__lt=end)
    return cases


def case_search_queryset(
    *, actor, q: str = "", filters: SearchFilters | None = None
) -> QuerySet[Case]:
    """The visible cases matching ``q`` (exact id, subject, owner or identifier matches
    first, then full-text matches; newest first within each) and ``filters``; every visible
    case matching the filters when ``q`` is blank. Countable and sliceable for a pager."""
    q = (q or "").strip()
    cases = visibility.visible_cases(actor).select_related("subject", "queue")
    cases = _search_narrowed(cases, filters or SearchFilters())
    if not q:
        return cases.order_by("-created_at", "-pk")
    exact = _exact_match(q)
    words = Q(search_document=SearchQuery(q, search_type="websearch", config="english"))
    return (
        cases.filter(exact | words)
        .annotate(exact=DbCase(When(exact, then=Value(0)), default=Value(1)))
        .order_by("exact", "-created_at", "-pk")
    )


def case_search(*, actor, q: str, limit: int = 50) -> list[Case]:
    """Cases matching a case id, subject or owner external id, identifier value, or full text."""
    q = (q or "").strip()
    if not q:
        return []
    return list(case_search_queryset(actor=actor, q=q)[:limit])


def case_search_direct(*, actor, q: str) -> Case | None:
    """The one case ``q`` names exactly, to open instead of listing: a visible case by id
    ("123" or "#123"), else a subject's case by the subject's external id (its open case,
    else its newest visible one). None when nothing visible is named: a case the actor may
    not see is answered like a missing one."""
    q = (q or "").strip()
    cases = visibility.visible_cases(actor)
    if m := _CASE_ID.match(q):
        found = cases.filter(pk=int(m.group(1))).first()
        if found is not None:
            return found
    if not q:
        return None
    return (
        cases.filter(subject__external_id=q)
        .annotate(closed=DbCase(When(status=Case.Status.RESOLVED, then=Value(1)), default=Value(0)))
        .order_by("closed", "-created_at", "-pk")
        .first()
    )
