"""HTML views of escalations: the team inbox, one escalation with its frozen packet and the
forms that work it, and the "Escalate" form on the case page.

Thin, like ``cases.views``: forms in, one service or selector, template out. Errors map the
same way: Http404 and PermissionDenied pass through (404 and 403 pages); a ValidationError
goes onto the form's fields (400); a ConflictError becomes a message and a redirect back.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from cases import selectors as case_selectors
from cases.panels import render_case_page
from cases.visibility import can_view_case
from enforcement.selectors import policy_sections_current
from escalations import selectors, services
from escalations.forms import STATUS_TABS, EscalateForm, ResolveForm, ReturnForm
from escalations.models import Escalation, Team
from escalations.permissions import can_work_escalation
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.models import AccessLog
from tsops.permissions import teams_of
from tsops.presentation import relative_text
from tsops.services import access_log_record

CLOSED = (Escalation.Status.RESOLVED, Escalation.Status.RETURNED)


def _mark_overdue(escalations, now) -> None:
    """Per row: whether the acknowledgement is overdue, and the deadline in words."""
    for escalation in escalations:
        escalation.overdue = escalation.is_overdue(now)
        escalation.ack_text = relative_text(escalation.ack_due, now)


# --- The team inbox --------------------------------------------------------------------------


@console_view("work_team_cases")
@require_GET
def team_inbox_list(request: HttpRequest) -> HttpResponse:
    """The escalations to the member's teams: open and acknowledged ones by severity, then
    acknowledgement deadline; closed ones newest first."""
    actor = request.user
    status = request.GET.get("status", Escalation.Status.OPEN)
    if status not in dict(STATUS_TABS):
        status = Escalation.Status.OPEN
    now = timezone.now()
    teams = teams_of(actor)
    mine = selectors.escalation_list(actor=actor).filter(team__slug__in=teams)
    counts = mine.order_by().aggregate(
        open=Count("id", filter=Q(status=Escalation.Status.OPEN)),
        acknowledged=Count("id", filter=Q(status=Escalation.Status.ACKNOWLEDGED)),
        closed=Count("id", filter=Q(status__in=CLOSED)),
        overdue=Count("id", filter=Q(status=Escalation.Status.OPEN, ack_due__lt=now)),
    )
    if status == "closed":
        rows = mine.filter(status__in=CLOSED).order_by("-resolved_at", "-id")
    else:
        rows = mine.filter(status=status).order_by("severity", "ack_due", "id")
    rows = list(rows[:200])
    _mark_overdue(rows, now)
    context = {
        "escalations": rows,
        "status": status,
        "tabs": [{"value": v, "label": label, "count": counts[v]} for v, label in STATUS_TABS],
        "overdue": counts["overdue"],
        "teams": list(Team.objects.filter(slug__in=teams).select_related("on_call")),
    }
    return render(request, "escalations/team_inbox_list.html", context)


# --- One escalation --------------------------------------------------------------------------


def _packet_view(packet: dict) -> dict:
    """The frozen packet with its ISO timestamps parsed for the template."""
    view = dict(packet)

    def when(value):
        return parse_datetime(value) if isinstance(value, str) else None

    view["frozen_at"] = when(packet.get("frozen_at"))
    view["reports"] = [{**r, "at": when(r.get("received_at"))} for r in packet.get("reports", [])]
    view["evidence"] = [{**e, "at": when(e.get("captured_at"))} for e in packet.get("evidence", [])]
    view["timeline"] = [{**e, "when": when(e.get("at"))} for e in packet.get("timeline", [])]
    view["prior_enforcement"] = [
        {**a, "when": when(a.get("at"))} for a in packet.get("prior_enforcement", [])
    ]
    return view


def _render_detail(
    request: HttpRequest,
    escalation: Escalation,
    *,
    status: int = 200,
    resolve_form: ResolveForm | None = None,
    return_form: ReturnForm | None = None,
) -> HttpResponse:
    """The escalation page; every rendering is a view of the packet and goes to the access log."""
    actor = request.user
    access_log_record(actor=actor, action=AccessLog.Action.VIEWED, obj=escalation, request=request)
    now = timezone.now()
    _mark_overdue([escalation], now)
    can_work = can_work_escalation(actor, escalation) and escalation.is_active
    sections = list(policy_sections_current().order_by("code")) if can_work else []
    context = {
        "escalation": escalation,
        "packet": _packet_view(escalation.packet or {}),
        "can_work": can_work,
        "can_acknowledge": can_work and escalation.status == Escalation.Status.OPEN,
        "can_open_case": can_view_case(actor, escalation.case),
        "resolve_form": resolve_form or ResolveForm(sections=sections),
        "return_form": return_form or ReturnForm(),
    }
    return render(request, "escalations/escalation_detail.html", context, status=status)


@console_view()
@require_GET
def escalation_detail(request: HttpRequest, escalation_id: int) -> HttpResponse:
    escalation = selectors.escalation_get_for(actor=request.user, escalation_id=escalation_id)
    return _render_detail(request, escalation)


def _back(escalation_id: int) -> HttpResponse:
    return redirect("escalations:escalation-detail", escalation_id)


@console_view()
@require_POST
def escalation_acknowledge(request: HttpRequest, escalation_id: int) -> HttpResponse:
    try:
        services.escalation_acknowledge(actor=request.user, escalation_id=escalation_id)
    except ConflictError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Escalation #{escalation_id} acknowledged.")
    return _back(escalation_id)


@console_view()
@require_POST
def escalation_resolve(request: HttpRequest, escalation_id: int) -> HttpResponse:
    actor = request.user
    escalation = selectors.escalation_get_for_work(actor=actor, escalation_id=escalation_id)
    sections = list(policy_sections_current().order_by("code"))
    form = ResolveForm(request.POST, sections=sections)
    if form.is_valid():
        try:
            resolved = services.escalation_resolve(
                actor=actor,
                escalation_id=escalation.pk,
                outcome=form.cleaned_data["outcome"],
                decision=form.decision(),
                **form.referral(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except ConflictError as exc:
            messages.error(request, str(exc))
            return _back(escalation.pk)
        else:
            text = f"Escalation #{resolved.pk} resolved."
            if resolved.decision_id:
                pending = resolved.decision.actions.filter(status="pending_approval").count()
                if pending == 1:
                    text += " Its action awaits a senior's approval."
                elif pending:
                    text += f" {pending} of its actions await a senior's approval."
            messages.success(request, text)
            return _back(resolved.pk)
    return _render_detail(request, escalation, status=400, resolve_form=form)


@console_view()
@require_POST
def escalation_return(request: HttpRequest, escalation_id: int) -> HttpResponse:
    actor = request.user
    escalation = selectors.escalation_get_for_work(actor=actor, escalation_id=escalation_id)
    form = ReturnForm(request.POST)
    if form.is_valid():
        try:
            services.escalation_return(
                actor=actor,
                escalation_id=escalation.pk,
                note=form.cleaned_data["note"],
                unrestrict=form.cleaned_data["unrestrict"],
            )
        except ValidationError as exc:
            for key, errors in getattr(exc, "message_dict", {"note": exc.messages}).items():
                form.add_error(key if key in form.fields else None, errors)
        except ConflictError as exc:
            messages.error(request, str(exc))
            return _back(escalation.pk)
        else:
            messages.success(request, f"Case #{escalation.case_id} returned to its queue.")
            return _back(escalation.pk)
    return _render_detail(request, escalation, status=400, return_form=form)


# --- Escalating from the case page -----------------------------------------------------------


@console_view("raise_escalations")
@require_POST
def case_escalate(request: HttpRequest, case_id: int) -> HttpResponse:
    """Escalate the case. After escalating to a restricted team the raiser can no longer open
    the case, so they go home with the one line they keep."""
    actor = request.user
    case = case_selectors.case_get_for(actor=actor, case_id=case_id)
    case_url = reverse("cases:case-detail", args=[case.pk])
    form = EscalateForm(request.POST, teams=list(Team.objects.all()))
    if not form.is_valid():
        return _escalate_refused(request, case, form)
    try:
        escalation = services.escalation_raise(actor=actor, case_id=case.pk, **form.cleaned_data)
    except ValidationError as exc:
        items = exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]
        for name, errors in items:
            form.add_error(name if name in form.fields else None, errors)
        return _escalate_refused(request, case, form)
    except ConflictError as exc:
        messages.error(request, str(exc))
        return redirect(case_url)
    at = timezone.localtime(escalation.raised_at)
    messages.success(request, f"Escalated to {escalation.team.slug} at {at:%H:%M}")
    try:
        case_selectors.case_get_for(actor=actor, case_id=case.pk)
    except Http404:
        return redirect("home")
    return redirect(case_url)


def _escalate_refused(request: HttpRequest, case, form: EscalateForm) -> HttpResponse:
    """The case page again (400), the escalation form open with what was wrong."""
    messages.error(request, "Not escalated. " + _errors_line(form.errors.items(), form))
    return render_case_page(request, case, status=400, panel_options={"escalation": {"form": form}})


def _errors_line(items, form) -> str:
    parts = []
    for name, errors in items:
        field = form.fields.get(name)
        prefix = f"{field.label}: " if field is not None else ""
        parts.extend(prefix + str(message) for message in errors)
    return " ".join(parts)
