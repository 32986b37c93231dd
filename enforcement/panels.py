"""Enforcement's panels on the case page (guidance, decisions, actions, the decision form,
the account's record) and on the queue page ("decide selected"), registered with
``cases.panels`` from ``EnforcementConfig.ready()``."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from cases import visibility
from cases.models import Case, Queue, Severity, Subject
from cases.panels import register_case_panel, register_queue_panel
from cases.permissions import can_bulk_edit
from enforcement import selectors, services, strikes
from enforcement.catalogue import ACTIONS, CEILINGS
from enforcement.forms import BulkDecisionForm, DecisionForm
from enforcement.models import Decision, EnforcementAction, PolicySection
from enforcement.permissions import (
    can_approve_action,
    can_decide_case,
    can_reverse_action,
    deciding_role,
)
from enforcement.presentation import action_text, describe_action
from tsops.permissions import has_capability
from tsops.presentation import hours_text
from tsops.selectors import preferences_for


def _ceiling_text(actor, case: Case) -> str:
    """What the decider may do alone on this case; the rest waits for a senior."""
    table = CEILINGS.get(deciding_role(actor, case) or "", {})
    if len(table) == len(ACTIONS) and all(limit is None for limit in table.values()):
        return "Every action you take applies at once."
    alone = [
        ACTIONS[code].label + (f" up to {hours_text(limit)}" if limit else "")
        for code, limit in table.items()
    ]
    if not alone:
        return "Every action you propose waits for a senior's approval."
    return f"Applies at once: {', '.join(alone)}. Anything else waits for a senior's approval."


def _ladder_steps(account: Subject | None, now) -> dict[int, strikes.Recommendation]:
    """The repeat-offender ladder's step for a violation of each severity (asked once each)."""
    return {severity: strikes.recommend(account, severity, now) for severity in Severity.values}


def _recommendations(
    steps: dict[int, strikes.Recommendation], sections: list[PolicySection]
) -> list[dict]:
    """The ladder's step for a violation under each of these sections."""
    rows = []
    for section in sections:
        rec = steps[section.severity]
        rows.append(
            {
                "section": section,
                "recommendation": rec,
                "text": action_text(rec.action, rec.duration_hours) or "No action on the ladder",
            }
        )
    return rows


def relevant_sections(case: Case) -> list[PolicySection]:
    """The sections relevant to the case's reason, the most specific first (a section made
    for this reason alone before catch-alls such as the general terms), so that the one the
    form preselects is the likeliest."""
    sections = selectors.policy_sections_for_reason(case.reason)
    return sorted(sections, key=lambda s: (len(s.reasons), s.code))


def _duration_fields(hours: int | None) -> tuple[int | None, str]:
    """Hours as the form's (length, unit): whole days read as days."""
    if not hours:
        return None, "days"
    return (hours // 24, "days") if hours % 24 == 0 else (hours, "hours")


def decision_form_for(
    case: Case,
    relevant: list[PolicySection],
    data=None,
    *,
    recommendation: strikes.Recommendation | None = None,
) -> DecisionForm:
    """The decision form bound to ``data``, or blank with the likeliest section, the ladder's
    recommended action for it and the statement drafted from both."""
    sections = list(selectors.policy_sections_current().order_by("code"))
    if data is not None:
        return DecisionForm(data, sections=sections, relevant=relevant)
    first = relevant[0] if relevant else None
    initial = {
        "outcome": Decision.Outcome.VIOLATION,
        "policy_section": first.code if first else "",
        "version": case.version,
    }
    requests = []
    if first and recommendation is not None and recommendation.action:
        length, unit = _duration_fields(recommendation.duration_hours)
        initial.update({"action_0_type": recommendation.action, "action_0_unit": unit})
        if length:
            initial["action_0_duration"] = length
        item = {"type": recommendation.action}
        if recommendation.duration_hours:
            item["duration_hours"] = recommendation.duration_hours
        try:
            requests = services.parse_actions([item])
        except ValidationError:
            requests = []
    draft = services.draft_statement(first, requests) if first else ""
    initial.update({"statement_of_reasons": draft, "statement_draft": draft})
    return DecisionForm(initial=initial, sections=sections, relevant=relevant)


def _ladder(steps: dict[int, strikes.Recommendation]) -> dict[int, dict]:
    """The ladder's step for a violation of each severity, for the page's "accept" key."""
    ladder = {}
    for severity, rec in steps.items():
        length, unit = _duration_fields(rec.duration_hours)
        ladder[severity] = {
            "action": rec.action or "",
            "duration": length,
            "unit": unit,
            "text": action_text(rec.action, rec.duration_hours) or "no action",
            "strikes": f"({rec.strikes} → {rec.strikes_after} strikes)",
        }
    return ladder


def case_panel(
    request: HttpRequest, case: Case, *, decision_form: DecisionForm | None = None
) -> dict:
    """Everything the case page shows of enforcement (its panel, under ``enforcement``)."""
    actor = request.user
    now = timezone.now()
    account = case.subject.account
    relevant = relevant_sections(case)
    is_senior = has_capability(actor, "approve_actions")

    actions = selectors.actions_for_case(actor=actor, case=case)
    for action in actions:
        # The page's case is the actions' case: spare the predicates a query each.
        action.case = case
        describe_action(action, now)
        pending = action.status == EnforcementAction.Status.PENDING_APPROVAL
        action.can_review = pending and can_approve_action(actor, action)
        action.own_proposal = pending and is_senior and action.proposed_by_id == actor.pk
        action.can_reverse = action.current_status in (
            EnforcementAction.Status.ACTIVE,
            EnforcementAction.Status.EXPIRED,
        ) and can_reverse_action(actor, action)
    decisions = selectors.decisions_for_case(case)

    history = selectors.account_enforcement_history(account)
    # Link only to the cases the viewer may open (a restricted one stays unnamed).
    visible = set(
        visibility.visible_cases(actor)
        .filter(pk__in={a.case_id for a in history})
        .values_list("pk", flat=True)
        if history
        else ()
    )
    for action in history:
        describe_action(action, now)
        action.case_visible = action.case_id in visible

    strike_history = selectors.strike_history(account, now) if account else []
    context = {
        "guidance": relevant,
        "actions": actions,
        "decisions": decisions,
        "history": history,
        "active_actions": [
            a for a in history if a.current_status == EnforcementAction.Status.ACTIVE
        ],
        "account": account,
        "active_strikes": strikes.active_strikes(account, now),
        "strike_history": strike_history,
        "strike_count": len(strike_history),
        "can_decide": can_decide_case(actor, case),
        "decidable": case.is_decidable,
    }
    if context["can_decide"]:
        context.update(_decide_context(request, case, relevant, decision_form, now))
    return context


def _decide_context(request, case: Case, relevant, decision_form, now) -> dict:
    """The decision column: the form (pre-filled from the ladder), the ladder per severity."""
    actor = request.user
    account = case.subject.account
    first = relevant[0] if relevant else None
    steps = _ladder_steps(account, now)
    recommendation = steps[first.severity] if first else None
    form = decision_form or decision_form_for(case, relevant, recommendation=recommendation)
    chosen = list(relevant)
    selected = form["policy_section"].value()
    if selected and selected not in {s.code for s in relevant}:
        chosen += list(selectors.policy_sections_current().filter(code=selected))
    recommendations = _recommendations(steps, chosen)
    ceiling = _ceiling_text(actor, case)
    by_code = {row["section"].code: row for row in recommendations}
    more = any(form[f"action_{row}_type"].value() for row in (1, 2)) or any(
        form[f"action_{row}_{name}"].errors
        for row in (1, 2)
        for name in ("type", "duration", "unit", "feature")
    )
    return {
        "form": form,
        "recommendations": recommendations,
        "recommended": by_code.get(selected or "") or (recommendations[0] if chosen else None),
        "ladder": _ladder(steps),
        "section_severity": dict(
            selectors.policy_sections_current().values_list("code", "severity")
        ),
        "more_actions_open": more,
        "ceiling": ceiling,
        "ceiling_short": ceiling
        if ceiling.startswith("Every")
        else ("Some actions wait for a senior's approval: which ones"),
        "decide_and_next": preferences_for(actor).decide_and_next,
        "preferences_url": _url_or_blank("preferences"),
        "snippets_url": _url_or_blank("enforcement:case-snippets", case.pk),
    }


def _url_or_blank(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def queue_panel(request: HttpRequest, queue: Queue) -> BulkDecisionForm | None:
    """The queue page's "decide selected" fields, for those who may bulk edit."""
    if not can_bulk_edit(request.user):
        return None
    sections = list(selectors.policy_sections_current().order_by("code"))
    return BulkDecisionForm(sections=sections)


def register() -> None:
    """Called from ``EnforcementConfig.ready()``."""
    register_case_panel(
        key="enforcement",
        templates={
            "main": "enforcement/_case_panel.html",
            "who": "enforcement/_standing.html",
            "decide": "enforcement/_decide_panel.html",
        },
        build=case_panel,
        order=10,
    )
    register_queue_panel(
        key="bulk_decision_form",
        template="enforcement/_queue_panel.html",
        build=queue_panel,
        order=10,
    )
