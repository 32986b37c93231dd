"""Reads of appeals: one appeal for its reviewer, the queue, and the overturn figures."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Aggregate, Count, DurationField, F, Q, QuerySet
from django.http import Http404

from appeals.models import Appeal
from appeals.permissions import can_view_appeal
from cases.models import Queue
from cases.selectors import queue_list
from cases.visibility import figure_cases_q, team_cases
from tsops.errors import HiddenObject
from tsops.permissions import has_capability


def appeal_get_for(*, actor, appeal_id: int) -> Appeal:
    appeal = (
        Appeal.objects.select_related(
            "action",
            "action__decision",
            "action__decision__policy_section",
            "action__decision__decided_by",
            "action__subject",
            "case",
            "case__subject",
            "case__subject__owner",
            "queue",
            "claimed_by",
            "decided_by",
            "replacement_action",
        )
        .filter(pk=appeal_id)
        .first()
    )
    if appeal is None:
        raise Http404("No such appeal.")
    if not can_view_appeal(actor, appeal):
        raise HiddenObject("No such appeal.", actor=actor, obj=appeal)
    return appeal


def appeal_get_for_filer(*, actor, appeal_id: int) -> Appeal:
    """What the platform or support may read back: status, outcome and the user's response."""
    appeal = Appeal.objects.select_related("action").filter(pk=appeal_id).first()
    if appeal is None:
        raise Http404("No such appeal.")
    if not (
        has_capability(actor, "file_appeal")
        or has_capability(actor, "lookup_enforcement")
        or can_view_appeal(actor, appeal)
    ):
        raise HiddenObject("No such appeal.", actor=actor, obj=appeal)
    return appeal


def visible_appeals(actor) -> QuerySet[Appeal]:
    """The queryset of :func:`appeals.permissions.can_view_appeal`: on a restricted case, its
    team's (the case's visibility); otherwise those of the appeal queues the actor works."""
    queues = queue_list(actor=actor, kind=Queue.Kind.APPEALS)
    visible = Q(case__restricted=False, queue__in=queues)
    if has_capability(actor, "decide_appeals"):
        visible |= Q(case__restricted=True, case__in=team_cases(actor))
    return Appeal.objects.filter(visible)


def appeal_list(*, actor, status: str = "new") -> QuerySet[Appeal]:
    """Appeals the actor may see, most urgent first."""
    appeals = visible_appeals(actor).select_related(
        "action", "action__decision__decided_by", "case", "claimed_by"
    )
    if status == "open":
        appeals = appeals.filter(status__in=Appeal.OPEN)
    elif status == "decided":
        appeals = appeals.exclude(status__in=Appeal.OPEN)
    elif status:
        appeals = appeals.filter(status=status)
    return appeals.order_by("severity", "due_at", "id")


class _Median(Aggregate):
    """``percentile_cont(0.5)`` of a duration."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def overturn_figures(*, actor) -> dict:
    """Overturn rate by policy section, queue, original decider and automated vs human, and
    the median hours to decide (seniors; restricted cases' appeals only for the case's team,
    as in every figure)."""
    if not has_capability(actor, "view_team_metrics"):
        raise PermissionDenied("Appeal figures are for seniors.")
    decided = Appeal.objects.filter(
        figure_cases_q(actor, prefix="case__"), decided_at__isnull=False
    )
    overturned = Q(status__in=[Appeal.Status.OVERTURNED, Appeal.Status.MODIFIED])

    def by(field: str, label: str) -> list[dict]:
        rows = (
            decided.values(key=F(field))
            .annotate(decided=Count("id"), overturned=Count("id", filter=overturned))
            .order_by("-decided")
        )
        return [
            {
                label: row["key"],
                "decided": row["decided"],
                "overturned": row["overturned"],
                "rate": row["overturned"] / row["decided"] if row["decided"] else None,
            }
            for row in rows
        ]

    median = decided.aggregate(median=_Median(F("decided_at") - F("filed_at")))["median"]
    median_hours = median.total_seconds() / 3600 if median is not None else None
    total = decided.count()
    overturned_total = decided.filter(overturned).count()
    return {
        "decided": total,
        "overturned": overturned_total,
        "rate": overturned_total / total if total else None,
        "median_hours_to_decide": median_hours,
        "by_policy_section": by("action__decision__policy_section__code", "policy_section"),
        "by_queue": by("case__queue__slug", "queue"),
        "by_decider": by("action__decision__decided_by__username", "decider"),
        "by_automation": by("action__decision__automated", "automated"),
    }
