"""Console pages of rules: the list, writing a rule, one rule (versions, lifecycle, backtests,
shadow report, snoozes, the inputs a rule reads), a backtest, and calling off a rule's action
from a case."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.models import Subject
from detection.models import Rule
from detection.selectors.rules import (
    STATES,
    backtest_describe,
    backtest_get_for,
    input_reference,
    rule_describe,
    rule_get_for,
    rule_list,
)
from detection.services import backtests as backtest_services
from detection.services import rules as services
from detection.services.rule_actions import rule_action_intervene
from tsops.decorators import console_view
from tsops.errors import ConflictError

EFFECT_EXAMPLE = '[{"type": "tag", "tag": "needs-look"}]'


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return {k: [str(m) for m in v] for k, v in exc.message_dict.items()}


def _effects_from(text: str):
    """The effects a form's text holds, or an error message."""
    try:
        value = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        return None, f"Effects are JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    return value, ""


@console_view("manage_rules")
@require_GET
def rule_list_page(request: HttpRequest) -> HttpResponse:
    """Rules in evaluation order, with state, live version and the last day's matches."""
    state = request.GET.get("state", "")
    if state not in STATES:
        state = ""
    rules = rule_list(actor=request.user, state=state)
    return render(
        request,
        "detection/rules/rule_list.html",
        {"rules": rules, "state": state, "states": Rule.State.choices},
    )


@console_view("manage_rules")
@require_http_methods(["GET", "POST"])
def rule_create_page(request: HttpRequest) -> HttpResponse:
    """Write a new rule: saved as a draft when its expression and effects check out."""
    values = {
        "name": "",
        "description": "",
        "expression": "",
        "effects": EFFECT_EXAMPLE,
        "note": "",
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.POST.get(key, "") for key in values}
        effects, problem = _effects_from(values["effects"])
        if problem:
            errors["effects"] = [problem]
        else:
            try:
                rule = services.rule_create(
                    actor=request.user,
                    name=values["name"],
                    expression=values["expression"],
                    effects=effects,
                    note=values["note"],
                    description=values["description"],
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, f'Rule "{rule.name}" saved as a draft.')
                return redirect("detection:rule-detail", rule_id=rule.pk)
    return render(
        request,
        "detection/rules/rule_form.html",
        {"values": values, "errors": errors, "inputs": input_reference()},
        status=400 if errors else 200,
    )


def _detail_context(request, rule_id: int, **extra) -> dict:
    rule = rule_get_for(actor=request.user, rule_id=rule_id)
    described = rule_describe(actor=request.user, rule=rule)
    latest = described["latest_version"]
    now = timezone.now()
    context = {
        "rule": rule,
        "d": described,
        "inputs": input_reference(),
        "version_values": {
            "expression": latest["expression"],
            "effects": json.dumps(latest["effects"], indent=1),
            "note": "",
            "based_on": latest["number"],
        },
        "version_errors": {},
        "backtest_values": {
            "from": (now - timedelta(days=30)).date().isoformat(),
            "to": now.date().isoformat(),
            "version": latest["number"],
            "compare_version": described["active_version"]["number"]
            if described["active_version"]
            else "",
        },
        "backtest_errors": {},
        "snooze_errors": {},
        "subject_kinds": Subject.Kind.choices,
        "is_pending_requester": rule.pending_by_id == request.user.pk,
    }
    context.update(extra)
    return context


@console_view("manage_rules")
@require_GET
def rule_detail_page(request: HttpRequest, rule_id: int) -> HttpResponse:
    """One rule: its versions, state and lifecycle buttons, backtests, shadow report."""
    return render(request, "detection/rules/rule_detail.html", _detail_context(request, rule_id))


@console_view("manage_rules")
@require_POST
def rule_version_page(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Save a new version from the rule page (errors shown beside the fields)."""
    values = {
        key: request.POST.get(key, "") for key in ("expression", "effects", "note", "based_on")
    }
    effects, problem = _effects_from(values["effects"])
    errors: dict[str, list[str]] = {}
    if problem:
        errors["effects"] = [problem]
    else:
        try:
            based_on = int(values["based_on"]) if values["based_on"].isdigit() else None
            version = services.rule_version_add(
                actor=request.user,
                rule_id=rule_id,
                expression=values["expression"],
                effects=effects,
                note=values["note"],
                based_on=based_on,
            )
        except ValidationError as exc:
            errors = _errors(exc)
        except ConflictError as exc:
            errors = {"based_on": [str(exc)]}
        else:
            messages.success(
                request, f"Version {version.number} saved. Backtest it before it runs."
            )
            return redirect(reverse("detection:rule-detail", args=[rule_id]) + "#backtest")
    context = _detail_context(request, rule_id, version_values=values, version_errors=errors)
    return render(
        request,
        "detection/rules/rule_detail.html",
        context,
        status=409 if "based_on" in errors else 400,
    )


@console_view("manage_rules")
@require_POST
def rule_state(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Shadow, activate, retire, resume or redraft (the buttons on the rule page)."""
    rule_get_for(actor=request.user, rule_id=rule_id)
    action = request.POST.get("action", "")
    version = request.POST.get("version", "")
    number = int(version) if version.isdigit() else None
    try:
        if action == "shadow":
            services.rule_shadow(actor=request.user, rule_id=rule_id, version=number)
            messages.success(request, "In shadow: evaluated on live intake, no effect.")
        elif action == "activate":
            _, activated = services.rule_activate(
                actor=request.user, rule_id=rule_id, version=number
            )
            if activated:
                messages.success(request, "Active: its effects apply to live intake.")
            else:
                messages.info(
                    request,
                    "This version takes automated actions: a second senior must confirm the "
                    "activation.",
                )
        elif action == "retire":
            services.rule_retire(
                actor=request.user, rule_id=rule_id, reason=request.POST.get("reason", "")
            )
            messages.success(request, "Retired.")
        elif action == "resume":
            services.rule_resume(actor=request.user, rule_id=rule_id)
            messages.success(request, "Resumed.")
        elif action == "redraft":
            services.rule_redraft(actor=request.user, rule_id=rule_id)
            messages.success(request, "Back to draft.")
        else:
            messages.error(request, "Unknown action.")
    except (ConflictError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, "; ".join(m for ms in _errors(exc).values() for m in ms))
    return redirect("detection:rule-detail", rule_id=rule_id)


def _moment(text: str, *, end: bool = False):
    """A date (the day's start, or the next day's start for ``end``) or a date and time."""
    value = parse_datetime(text or "")
    if value is not None:
        return value if value.tzinfo else timezone.make_aware(value)
    day = parse_date(text or "")
    if day is None:
        return None
    start = timezone.make_aware(timezone.datetime(day.year, day.month, day.day))
    return start + timedelta(days=1) if end else start


@console_view("manage_rules")
@require_POST
def rule_backtest(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Queue a backtest from the rule page and open it (it shows its progress)."""
    values = {
        key: request.POST.get(key, "") for key in ("from", "to", "version", "compare_version")
    }
    errors: dict[str, list[str]] = {}
    start, end = _moment(values["from"]), _moment(values["to"], end=True)
    if start is None:
        errors["from"] = ["A date, e.g. 2026-11-01."]
    if end is None:
        errors["to"] = ["A date, e.g. 2026-12-01."]
    if not errors:
        try:
            backtest = backtest_services.backtest_request(
                actor=request.user,
                rule_id=rule_id,
                version=int(values["version"]) if values["version"].isdigit() else None,
                compare_version=(
                    int(values["compare_version"]) if values["compare_version"].isdigit() else None
                ),
                period_from=start,
                period_to=end,
            )
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            return redirect("detection:backtest-detail", backtest_id=backtest.pk)
    context = _detail_context(request, rule_id, backtest_values=values, backtest_errors=errors)
    return render(request, "detection/rules/rule_detail.html", context, status=400)


@console_view("manage_rules")
@require_GET
def backtest_page(request: HttpRequest, backtest_id: int) -> HttpResponse:
    """A backtest: progress while it runs, then its figures side by side and samples."""
    backtest = backtest_get_for(actor=request.user, backtest_id=backtest_id)
    described = backtest_describe(actor=request.user, backtest=backtest)
    return render(
        request,
        "detection/rules/backtest.html",
        {
            "b": described,
            "rule": backtest.rule,
            "running": backtest.status in ("queued", "running"),
        },
    )


@console_view("manage_rules")
@require_POST
def rule_snooze_page(request: HttpRequest, rule_id: int) -> HttpResponse:
    """Silence the rule for one subject until a date."""
    until = _moment(request.POST.get("until", ""), end=True)
    errors: dict[str, list[str]] = {}
    if until is None:
        errors["until"] = ["A date, e.g. 2026-12-31."]
    else:
        try:
            services.rule_snooze(
                actor=request.user,
                rule_id=rule_id,
                subject_kind=request.POST.get("subject_kind", ""),
                external_id=request.POST.get("external_id", "").strip(),
                until=until,
                reason=request.POST.get("reason", ""),
            )
        except ValidationError as exc:
            errors = _errors(exc)
    if errors:
        context = _detail_context(request, rule_id, snooze_errors=errors)
        return render(request, "detection/rules/rule_detail.html", context, status=400)
    messages.success(request, "Snoozed for that subject.")
    return redirect(reverse("detection:rule-detail", args=[rule_id]) + "#snoozes")


@console_view()
@require_POST
def rule_action_intervene_page(request: HttpRequest, rule_action_id: int) -> HttpResponse:
    """Call off (or dismiss) what a rule asked for, from the case page."""
    try:
        action = rule_action_intervene(
            actor=request.user, action_id=rule_action_id, note=request.POST.get("note", "")
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(m for ms in _errors(exc).values() for m in ms))
        case_id = request.POST.get("case_id", "")
        if case_id.isdigit():
            return redirect("cases:case-detail", case_id=int(case_id))
        raise Http404("No such action.") from None
    except ConflictError as exc:
        messages.error(request, str(exc))
        from detection.models import RuleAction

        action = RuleAction.objects.get(pk=rule_action_id)
    else:
        messages.success(
            request, f"The rule's {action.action_type.replace('_', ' ')} will not happen."
        )
    return redirect("cases:case-detail", case_id=action.case_id)
