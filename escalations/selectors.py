"""Every read of escalations: only those on cases the actor may see."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from cases.visibility import visible_cases
from escalations.models import Escalation
from escalations.permissions import can_work_escalation
from tsops.errors import HiddenObject


def escalation_list(*, actor, team: str = "", status: str = "") -> QuerySet[Escalation]:
    """Escalations on cases visible to the actor (restricted ones only for their team)."""
    escalations = Escalation.objects.filter(case__in=visible_cases(actor)).select_related(
        "team", "case", "raised_by", "acknowledged_by", "resolved_by"
    )
    if team:
        escalations = escalations.filter(team__slug=team)
    if status:
        escalations = escalations.filter(status=status)
    return escalations.order_by("-raised_at", "-id")


def escalation_get_for_work(*, actor, escalation_id: int) -> Escalation:
    """The escalation for one who may work it (its team), else 404 as for a missing one."""
    escalation = escalation_get_for(actor=actor, escalation_id=escalation_id)
    if not can_work_escalation(actor, escalation):
        raise HiddenObject("No such escalation.", actor=actor, obj=escalation)
    return escalation


def escalation_get_for(*, actor, escalation_id: int) -> Escalation:
    """The escalation, or 404 when missing or on a case the actor may not see."""
    escalation = escalation_list(actor=actor).filter(pk=escalation_id).first()
    if escalation is None:
        hidden = Escalation.objects.filter(pk=escalation_id).first()
        if hidden is not None:
            raise HiddenObject("No such escalation.", actor=actor, obj=hidden)
        raise Http404("No such escalation.")
    return escalation
