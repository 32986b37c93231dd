"""Escalations' panel on the case page (its escalations and the "Escalate" form), registered
with ``cases.panels`` from ``EscalationsConfig.ready()``."""

from __future__ import annotations

from django.http import HttpRequest

from cases.models import Case
from cases.panels import register_case_panel
from escalations import selectors
from escalations.forms import EscalateForm
from escalations.models import Team
from escalations.permissions import can_raise_escalation


def case_panel(request: HttpRequest, case: Case, form: EscalateForm | None = None) -> dict:
    """What the case page shows of escalations: its escalations and, for those who may raise
    one, the "Escalate" form (``form``: a submitted one, with its errors)."""
    actor = request.user
    escalations = list(
        selectors.escalation_list(actor=actor).filter(case_id=case.pk).order_by("-raised_at")
    )
    can_raise = (
        case.is_open and case.status != Case.Status.ESCALATED and can_raise_escalation(actor, case)
    )
    context: dict = {"escalations": escalations, "can_raise": can_raise}
    if can_raise:
        # The severity starts as the case's own: escalating changes it only when chosen.
        context["form"] = form or EscalateForm(
            teams=list(Team.objects.all()), initial={"severity": case.severity_code}
        )
    return context


def register() -> None:
    """Called from ``EscalationsConfig.ready()``."""
    register_case_panel(
        key="escalation", template="escalations/_case_panel.html", build=case_panel, order=20
    )
