"""Detection's panel on the case page: what rules asked for on the case (scheduled automated
actions with their due time, proposals), with a form to call them off. Registered with
``cases.panels`` from ``DetectionConfig.ready()``."""

from __future__ import annotations

from django.http import HttpRequest

from cases.models import Case
from cases.panels import register_case_panel
from detection.selectors.rules import rule_actions_for_case
from tsops.permissions import has_capability


def case_panel(request: HttpRequest, case: Case) -> dict:
    actions = rule_actions_for_case(actor=request.user, case=case)
    user = request.user
    return {
        "actions": actions,
        "can_intervene": has_capability(user, "take_low_impact_action")
        or has_capability(user, "work_team_cases"),
    }


def register() -> None:
    register_case_panel(
        key="rule_actions", template="detection/rules/_case_panel.html", build=case_panel, order=15
    )
