"""Reads behind the metrics pages: live operations from the cases table, KPI reports.

Live operations read cases through :func:`cases.visibility.visible_cases`, the one visibility
filter, so a restricted queue or case appears, is counted and is exported only for the
team entitled to it. Trend figures come from :func:`metrics.kpis.kpi_report`, which reads
the rollup tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from cases.models import Case, Queue
from cases.selectors import queue_list
from cases.sla import breached_q, due_within_q
from cases.visibility import visible_cases
from metrics.kpis import ANALYST_KPIS, kpi_report
from tsops.permissions import has_capability
from tsops.presentation import short_duration

# The KPIs of an analyst's own page (the others describe the whole operation).
OWN_KPIS = ANALYST_KPIS


def can_view_team_metrics(user) -> bool:
    """Leads see the whole operation's figures (restricted work only for their teams)."""
    return has_capability(user, "view_team_metrics")


def can_view_own_figures(user) -> bool:
    """Whoever decides cases — in the standard queues or a specialist team's — sees their own."""
    return has_capability(user, "work_standard_queues") or has_capability(user, "work_team_cases")


@dataclass
class LiveFilters:
    queue: Queue | None = None
    severity: int | None = None
    reason: str = ""


@dataclass
class LiveQueueRow:
    """One queue now. ``oldest`` is the age of its oldest open case."""

    slug: str
    name: str
    restricted: bool
    open: int = 0
    in_review: int = 0
    due_within_hour: int = 0
    breached: int = 0
    oldest: timedelta | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def oldest_text(self) -> str:
        """The oldest open case's age for a table cell: "2 d 4 h", "3 h 20 m", "12 m", "—"."""
        if self.oldest is None:
            return "—"
        return short_duration(max(self.oldest, timedelta(0)))


@dataclass
class LiveOperations:
    at: datetime
    queues: list[LiveQueueRow]
    total: LiveQueueRow


def _queue_links(queue: Queue, filters: LiveFilters) -> dict[str, str]:
    """Drill-downs into the queue page, which applies the same visibility rules."""
    base = reverse("cases:queue-detail", args=[queue.slug])
    common = {}
    if filters.severity is not None:
        common["severity"] = filters.severity
    if filters.reason:
        common["reason"] = filters.reason
    return {
        "queue": base,
        "open": f"{base}?{urlencode({'status': 'open', **common})}",
        "in_review": f"{base}?{urlencode({'status': 'in_review', **common})}",
        "breached": f"{base}?{urlencode({'status': 'open', 'breached': 'on', **common})}",
    }


def live_operations(*, actor, filters: LiveFilters | None = None) -> LiveOperations:
    """Per queue the actor may work, now: open, in review, due within an hour, breached and
    the oldest open case's age — one GROUP BY over the visible open cases."""
    if not can_view_team_metrics(actor):
        raise PermissionDenied("Your role does not show team metrics.")
    filters = filters or LiveFilters()
    now = timezone.now()
    queues = queue_list(actor=actor)
    if filters.queue is not None:
        queues = [q for q in queues if q.pk == filters.queue.pk]
    cases = visible_cases(actor).filter(
        queue_id__in=[q.pk for q in queues], status__in=Case.OPEN_STATUSES
    )
    if filters.severity is not None:
        cases = cases.filter(severity=filters.severity)
    if filters.reason:
        cases = cases.filter(reason=filters.reason)
    rows = {
        row["queue_id"]: row
        for row in cases.order_by()
        .values("queue_id")
        .annotate(
            open=Count("id"),
            in_review=Count("id", filter=Q(status=Case.Status.IN_REVIEW)),
            due_soon=Count("id", filter=due_within_q(now)),
            breached=Count("id", filter=breached_q(now)),
            oldest=Min("created_at"),
        )
    }
    result = []
    for queue in queues:
        row = rows.get(queue.pk, {})
        result.append(
            LiveQueueRow(
                slug=queue.slug,
                name=queue.name,
                restricted=bool(queue.team),
                open=row.get("open", 0),
                in_review=row.get("in_review", 0),
                due_within_hour=row.get("due_soon", 0),
                breached=row.get("breached", 0),
                oldest=(now - row["oldest"]) if row.get("oldest") else None,
                links=_queue_links(queue, filters),
            )
        )
    ages = [r.oldest for r in result if r.oldest is not None]
    total = LiveQueueRow(
        slug="",
        name="All queues shown",
        restricted=False,
        open=sum(r.open for r in result),
        in_review=sum(r.in_review for r in result),
        due_within_hour=sum(r.due_within_hour for r in result),
        breached=sum(r.breached for r in result),
        oldest=max(ages) if ages else None,
    )
    return LiveOperations(at=now, queues=result, total=total)


def _kpi_report(*, actor, filters, analyst_id: int | None = None) -> dict:
    return kpi_report(
        actor=actor,
        date_from=filters.date_from,
        date_to=filters.date_to,
        queue_id=filters.queue.pk if filters.queue is not None else None,
        severity=filters.severity,
        reason=filters.reason or None,
        analyst_id=analyst_id,
    )


def team_report(*, actor, filters) -> dict:
    """Every KPI over the filters' period for the whole operation (restricted work only for
    the actor's teams, as :func:`metrics.kpis.kpi_report` reads the rollups)."""
    if not can_view_team_metrics(actor):
        raise PermissionDenied("Your role does not show team metrics.")
    if filters.queue is not None and filters.queue.pk not in {
        q.pk for q in queue_list(actor=actor)
    }:
        raise PermissionDenied("You may not see this queue.")
    return _kpi_report(actor=actor, filters=filters)


def own_report(*, actor, filters) -> dict:
    """The actor's own figures over the filters' period (always their own, never another's)."""
    if not can_view_own_figures(actor):
        raise PermissionDenied("Only members who decide cases have figures of their own.")
    return _kpi_report(actor=actor, filters=filters, analyst_id=actor.pk)
