"""HTML views of appeals: the appeals queue, one appeal beside its original case, support's
filing and status pages, the seniors' overview, and marking a notification read.

Thin, like ``cases.views``: forms in, one service or selector, template out. Errors map the
same way: Http404 and PermissionDenied pass through (404 and 403 pages); a ValidationError
goes onto the form's fields (400); a ConflictError becomes a message.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from appeals import selectors, services
from appeals.forms import STATUS_TABS, AppealDecisionForm, AppealFileForm, new_external_id
from appeals.models import Appeal
from appeals.permissions import can_review_appeal, is_conflicted
from cases import selectors as case_selectors
from cases import visibility
from cases.models import Queue, Report
from cases.services import case_view_record
from enforcement.appeal_window import appeal_eligibility
from enforcement.models import EnforcementAction
from enforcement.presentation import action_text, describe_action
from enforcement.selectors import account_enforcement_history, enforcement_lookup
from tsops.decorators import console_view
from tsops.errors import ConflictError, HiddenObject
from tsops.models import Notification
from tsops.permissions import has_capability
from tsops.presentation import relative_text

PAGE_SIZE = 50
# Appeals run on days, not minutes: flag those with less than a working shift left.
DUE_SOON = timedelta(hours=6)
APPEALS_QUEUE = "appeals"


def _mark_deadlines(appeals, now) -> None:
    """Per row: breached or due soon (open appeals only), and the deadline in words."""
    for appeal in appeals:
        appeal.breached = appeal.is_open and appeal.due_at < now
        appeal.due_soon = appeal.is_open and not appeal.breached and appeal.due_at < now + DUE_SOON
        appeal.due_text = relative_text(appeal.due_at, now)


def _appeals_queue(actor) -> Queue | None:
    """The appeals queue when the actor may take appeals from it with "next"."""
    queues = case_selectors.queue_list(actor=actor, kind=Queue.Kind.APPEALS)
    return next((q for q in queues if q.slug == APPEALS_QUEUE), None)


# --- The appeals queue -----------------------------------------------------------------------


@console_view("decide_appeals")
@require_GET
def appeal_list(request: HttpRequest) -> HttpResponse:
    """The appeals the actor may review: new and in review by severity and due date; decided
    ones newest first."""
    actor = request.user
    status = request.GET.get("status", Appeal.Status.NEW)
    if status not in dict(STATUS_TABS):
        status = Appeal.Status.NEW
    now = timezone.now()
    visible = selectors.appeal_list(actor=actor, status="")
    counts = visible.order_by().aggregate(
        new=Count("id", filter=Q(status=Appeal.Status.NEW)),
        in_review=Count("id", filter=Q(status=Appeal.Status.IN_REVIEW)),
        decided=Count("id", filter=~Q(status__in=Appeal.OPEN)),
        breached=Count("id", filter=Q(status__in=Appeal.OPEN, due_at__lt=now)),
    )
    appeals = selectors.appeal_list(actor=actor, status=status).select_related(
        "action__subject", "action__decision__policy_section", "decided_by"
    )
    if status == "decided":
        appeals = appeals.order_by("-decided_at", "-id")
    page = Paginator(appeals, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for appeal in rows:
        describe_action(appeal.action, now)
    _mark_deadlines(rows, now)
    tabs = [
        {"value": value, "label": label, "count": counts[value]} for value, label in STATUS_TABS
    ]
    context = {
        "appeals": rows,
        "page": page,
        "status": status,
        "tabs": tabs,
        "breached": counts["breached"],
        "can_take_next": _appeals_queue(actor) is not None,
        "is_senior": has_capability(actor, "approve_actions"),
        "can_see_overview": has_capability(actor, "view_team_metrics"),
    }
    return render(request, "appeals/appeal_list.html", context)


@console_view("decide_appeals")
@require_POST
def appeal_claim_next(request: HttpRequest) -> HttpResponse:
    queue = case_selectors.queue_get_for(
        actor=request.user, slug=APPEALS_QUEUE, kind=Queue.Kind.APPEALS
    )
    appeal = services.appeal_claim_next(actor=request.user, queue=queue)
    if appeal is None:
        messages.info(
            request,
            "No appeal is waiting for you. Appeals on actions you decided or approved go to "
            "other reviewers, and ban appeals to seniors.",
        )
        return redirect("appeals:appeal-list")
    return redirect("appeals:appeal-detail", appeal_id=appeal.pk)


# --- One appeal ------------------------------------------------------------------------------


def _decision_form(appeal: Appeal) -> AppealDecisionForm:
    return AppealDecisionForm(initial={"version": appeal.version, "replacement_unit": "days"})


def _render_appeal(
    request: HttpRequest,
    appeal: Appeal,
    *,
    form: AppealDecisionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The appeal beside the original case as it was; every rendering is a view of the case
    (its content and evidence are on the page) and goes to the access log."""
    actor = request.user
    now = timezone.now()
    case = appeal.case
    case_view_record(actor=actor, case=case, request=request)
    action = describe_action(appeal.action, now)
    decision = action.decision
    decision_actions = [
        describe_action(a, now) for a in decision.actions.select_related("subject", "approved_by")
    ]
    account = case.subject.account
    history = [describe_action(a, now) for a in account_enforcement_history(account)]
    evidence = list(case.evidence.select_related("added_by"))
    for item in evidence:
        # What the decider could not have seen is marked, so the reviewer judges the decision
        # on what it was made from.
        item.after_decision = item.captured_at > decision.created_at
    events = case_selectors.timeline_for(case)
    _mark_deadlines([appeal], now)

    conflicted = is_conflicted(actor, appeal)
    can_review = can_review_appeal(actor, appeal)
    holds_claim = appeal.status == Appeal.Status.IN_REVIEW and appeal.claimed_by_id == actor.pk
    held_by_other = (
        appeal.status == Appeal.Status.IN_REVIEW
        and appeal.claimed_by_id not in (None, actor.pk)
        and appeal.lease_expires_at is not None
        and appeal.lease_expires_at > now
    )
    replacement = appeal.replacement_action
    context = {
        "appeal": appeal,
        "replacement_text": describe_action(replacement, now).text if replacement else "",
        "action": action,
        "decision": decision,
        "section": decision.policy_section,
        "decision_actions": decision_actions,
        "case": case,
        "case_visible": visibility.visible_cases(actor).filter(pk=case.pk).exists(),
        "subject": case.subject,
        "account": account,
        "report_groups": case_selectors.report_groups(case),
        "reports": case_selectors.report_list(case),
        "automated_source": Report.Source.AUTOMATED_FLAG,
        "evidence": evidence,
        "events": events,
        "history": history,
        "conflicted": conflicted,
        "needs_senior_block": appeal.needs_senior and not conflicted and not can_review,
        "can_review": can_review,
        "holds_claim": holds_claim,
        "held_by_other": held_by_other,
        "can_claim": can_review and appeal.is_open and not holds_claim and not held_by_other,
        "form": (form or _decision_form(appeal)) if can_review and holds_claim else None,
    }
    return render(request, "appeals/appeal_detail.html", context, status=status)


@console_view("decide_appeals")
@require_GET
def appeal_detail(request: HttpRequest, appeal_id: int) -> HttpResponse:
    appeal = selectors.appeal_get_for(actor=request.user, appeal_id=appeal_id)
    return _render_appeal(request, appeal)


@console_view("decide_appeals")
@require_POST
def appeal_claim(request: HttpRequest, appeal_id: int) -> HttpResponse:
    try:
        services.appeal_claim(actor=request.user, appeal_id=appeal_id)
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"You hold appeal #{appeal_id} for the next 15 minutes.")
    return redirect("appeals:appeal-detail", appeal_id=appeal_id)


@console_view("decide_appeals")
@require_POST
def appeal_release(request: HttpRequest, appeal_id: int) -> HttpResponse:
    try:
        services.appeal_release(actor=request.user, appeal_id=appeal_id)
    except ConflictError as error:
        messages.error(request, str(error))
        return redirect("appeals:appeal-detail", appeal_id=appeal_id)
    messages.success(request, f"Appeal #{appeal_id} released back to the queue.")
    return redirect("appeals:appeal-list")


OUTCOME_MESSAGES = {
    Appeal.Status.UPHELD: "upheld: the action stands and the user is told so.",
    Appeal.Status.OVERTURNED: "overturned: the action is reversed, its strikes removed, and "
    "the original decider gets your rationale as feedback.",
    Appeal.Status.MODIFIED: "modified: the action is replaced by the lighter one.",
}


@console_view("decide_appeals")
@require_POST
def appeal_decide(request: HttpRequest, appeal_id: int) -> HttpResponse:
    actor = request.user
    appeal = selectors.appeal_get_for(actor=actor, appeal_id=appeal_id)
    form = AppealDecisionForm(request.POST)
    if not form.is_valid():
        return _render_appeal(request, appeal, form=form, status=400)
    data = form.cleaned_data
    try:
        decided = services.appeal_decide(
            actor=actor,
            appeal_id=appeal.pk,
            outcome=data["outcome"],
            rationale=data["rationale"],
            response_to_user=data["response_to_user"],
            replacement_action=form.replacement(),
            version=data["version"],
        )
    except ValidationError as error:
        form.add_service_errors(error)
        return _render_appeal(request, appeal, form=form, status=400)
    except ConflictError as error:
        messages.error(request, str(error))
        return redirect("appeals:appeal-detail", appeal_id=appeal.pk)
    messages.success(request, f"Appeal #{decided.pk} {OUTCOME_MESSAGES[decided.status]}")
    return redirect("appeals:appeal-detail", appeal_id=appeal.pk)


# --- Support: filing an appeal and following it -------------------------------------------


def _public_row(actor, action_id: int | None) -> dict | None:
    """The action as the support lookup shows it (public facts only), or None."""
    if not action_id:
        return None
    subject = (
        EnforcementAction.objects.filter(pk=action_id)
        .values("subject__kind", "subject__external_id")
        .first()
    )
    if subject is None:
        return None
    try:
        result = enforcement_lookup(
            actor=actor, kind=subject["subject__kind"], external_id=subject["subject__external_id"]
        )
    except Http404:
        return None
    return next((row for row in result["actions"] if row["action_id"] == action_id), None)


def _filing_problem(action_id: int | None) -> str | None:
    """Why an appeal can't be filed on this action now (as the service will say), or None."""
    action = EnforcementAction.objects.filter(pk=action_id).first() if action_id else None
    if action is None:
        return "No such action."
    return appeal_eligibility(action).problem or None


def _action_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@console_view("file_appeal")
def appeal_file(request: HttpRequest) -> HttpResponse:
    """Support files an appeal for a user on one action found with the lookup."""
    actor = request.user
    status = 200
    conflict = None
    if request.method == "POST":
        form = AppealFileForm(request.POST)
        action_id = _action_id(request.POST.get("action_id"))
        if form.is_valid():
            data = form.cleaned_data
            try:
                appeal, created = services.appeal_file(
                    actor=actor,
                    action_id=data["action_id"],
                    statement=data["statement"],
                    appellant_id=data["appellant_id"],
                    external_id=data["external_id"],
                )
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
                status = 400
            except ConflictError as error:
                conflict = str(error)
                status = 409
            else:
                if created:
                    messages.success(request, f"Appeal #{appeal.pk} filed.")
                else:
                    messages.info(
                        request, f"Appeal #{appeal.pk} was already filed with this external id."
                    )
                return redirect("appeals:appeal-status", appeal_id=appeal.pk)
        else:
            status = 400
    elif request.method == "GET":
        action_id = _action_id(request.GET.get("action"))
        form = AppealFileForm(initial={"action_id": action_id, "external_id": new_external_id()})
    else:
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    row = _public_row(actor, action_id)
    problem = None
    if row is None:
        problem = "Choose an action: look the account up and pick the action to appeal."
        if action_id is not None:
            problem = "No such action: look the account up and choose one of its actions."
            status = 404 if request.method == "GET" else status
    elif conflict is None:
        problem = _filing_problem(action_id)
    # The action's own error ("not eligible") is shown once, with the action, not on the form.
    action_errors = form.errors.pop("action_id", None) if form.is_bound else None
    if action_errors and not problem:
        problem = " ".join(action_errors)
    context = {
        "form": form,
        "row": row,
        "problem": problem,
        "conflict": conflict,
        "lookup_url": reverse("enforcement:lookup")
        + (f"?{urlencode({'q': row['subject']['external_id']})}" if row else ""),
    }
    return render(request, "appeals/appeal_file.html", context, status=status)


@console_view("decide_appeals")
@require_POST
def appeal_lease_renew(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """The appeal page's heartbeat: 204 while the viewer holds the claim, 409 when not."""
    selectors.appeal_get_for(actor=request.user, appeal_id=appeal_id)
    try:
        services.appeal_renew_lease(actor=request.user, appeal_id=appeal_id)
    except ConflictError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain")
    return HttpResponse(status=204)


@console_view()
@require_GET
def appeal_status(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """What support may tell the user about their appeal: never the internal rationale."""
    appeal = selectors.appeal_get_for_filer(actor=request.user, appeal_id=appeal_id)
    now = timezone.now()
    _mark_deadlines([appeal], now)
    row = (
        _public_row(request.user, appeal.action_id)
        if has_capability(request.user, "lookup_enforcement")
        else None
    )
    replacement = appeal.replacement_action
    context = {
        "appeal": appeal,
        "row": row,
        "action_text": action_text(
            appeal.action.action_type, appeal.action.duration_hours, appeal.action.feature
        ),
        "replacement_text": action_text(
            replacement.action_type, replacement.duration_hours, replacement.feature
        )
        if replacement
        else "",
    }
    return render(request, "appeals/appeal_status.html", context)


# --- Seniors: the overview -------------------------------------------------------------------


LABEL_KEYS = {
    "policy_section": "by_policy_section",
    "queue": "by_queue",
    "decider": "by_decider",
    "automated": "by_automation",
}


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}"


@console_view("view_team_metrics")
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    figures = selectors.overturn_figures(actor=request.user)
    figures["percent"] = _percent(figures["rate"])
    for key, table in LABEL_KEYS.items():
        for row in figures[table]:
            row["label"] = row[key]
            row["percent"] = _percent(row["rate"])
    for row in figures["by_automation"]:
        row["label"] = "Automated" if row["automated"] else "Human"
    # Queues by their names, as everywhere else (their slugs are codes).
    names = dict(Queue.objects.values_list("slug", "name"))
    for row in figures["by_queue"]:
        row["label"] = names.get(row["queue"], row["queue"])
    now = timezone.now()
    backlog = (
        selectors.appeal_list(actor=request.user, status="open")
        .order_by()
        .aggregate(open=Count("id"), breached=Count("id", filter=Q(due_at__lt=now)))
    )
    return render(request, "appeals/overview.html", {"figures": figures, "backlog": backlog})


# --- Notifications ---------------------------------------------------------------------------


@console_view()
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one of the viewer's own notifications read (someone else's is "not found")."""
    updated = Notification.objects.filter(
        pk=notification_id, user=request.user, read_at__isnull=True
    ).update(read_at=timezone.now())
    if not updated:
        notification = Notification.objects.filter(pk=notification_id).first()
        if notification is None:
            raise Http404("No such notification.")
        if notification.user_id != request.user.pk:
            raise HiddenObject("No such notification.", actor=request.user, obj=notification)
    if request.htmx:
        # The home page swaps the item out; nothing replaces it.
        return HttpResponse("")
    return redirect("home")
