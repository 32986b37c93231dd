"""HTML views of queues and cases (thin: forms in, one service or selector, template out).

Errors from services map the same way everywhere: Http404 and PermissionDenied pass
through (404 and 403 pages); a ValidationError becomes form errors or a message; a
ConflictError (stale edit, impossible transition) becomes a message and a redirect back.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cases import selectors, services, timeline
from cases.forms import (
    BulkForm,
    CaseEditForm,
    Cursor,
    EvidenceForm,
    NoteForm,
    QueueFilterForm,
    ReleaseForm,
    RevealForm,
    SearchForm,
)
from cases.models import Case, CaseLink, Identifier, Note, Report
from cases.permissions import (
    can_bulk_edit,
    can_claim_case,
    can_reveal_pii,
    can_view_pii,
    check_bulk_edit,
)
from cases.timeline import EventKind
from enforcement.views import case_enforcement_context, queue_enforcement_context
from escalations.views import case_escalation_context
from tsops.decorators import console_view
from tsops.errors import ConflictError

PAGE_SIZE = 50


def _error_text(error: ValidationError) -> str:
    """A service's ValidationError as one sentence for a message."""
    return " ".join(error.messages)


def _form_errors(form) -> str:
    """A bound form's errors as one line for a message ("Reason: This field is required.")."""
    parts = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        prefix = f"{field.label or name.capitalize()}: " if field is not None else ""
        parts.extend(prefix + str(message) for message in errors)
    return " ".join(parts)


def _add_service_errors(form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form fields it names (else on the form)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _short_duration(delta: timedelta) -> str:
    """A compact duration for a table cell: "2 d 4 h", "3 h 20 m", "12 m"."""
    minutes = max(int(abs(delta.total_seconds()) // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m"


def _mark_deadlines(cases, now) -> None:
    """Per row: the deadline that matters next, and whether it is breached or due soon."""
    for case in cases:
        waiting_first = case.first_action_at is None and case.first_action_due < case.resolve_due
        case.next_deadline = case.first_action_due if waiting_first else case.resolve_due
        case.next_deadline_label = "first action" if waiting_first else "resolve"
        case.breached = case.is_breached(now)
        case.due_soon = case.is_due_soon(now)
        left = _short_duration(case.next_deadline - now)
        case.next_deadline_text = f"{left} ago" if case.next_deadline < now else f"in {left}"


# --- Queues ---------------------------------------------------------------------------------


@console_view()
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "cases/queue_list.html", {"queues": selectors.queue_summaries(actor=request.user)}
    )


@console_view()
@require_GET
def queue_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One page of a queue in priority order; "next page" starts after the last row (no COUNT)."""
    actor = request.user
    queue = selectors.queue_get_for(actor=actor, slug=slug)
    filter_form = QueueFilterForm(request.GET or None)
    filters = filter_form.filters()
    cases = selectors.case_list(actor=actor, queue=queue, filters=filters)
    cursor = filter_form.cursor()
    if cursor is not None:
        cases = cases.filter(cursor.q())
    rows = list(cases[: PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    _mark_deadlines(rows, timezone.now())

    base = request.GET.copy()
    base.pop("after", None)
    next_query = None
    if has_next:
        next_params = base.copy()
        next_params["after"] = str(Cursor.after(rows[-1]))
        next_query = next_params.urlencode()
    tabs = []
    for value, label in QueueFilterForm.base_fields["status"].choices:
        params = base.copy()
        params["status"] = value
        tabs.append({"value": value, "label": label, "query": params.urlencode()})

    bulk_form = None
    if can_bulk_edit(actor):
        bulk_form = BulkForm(
            queues=selectors.queue_list(actor=actor),
            queue=queue,
            initial={"back": base.urlencode()},
        )
    context = {
        "queue": queue,
        "cases": rows,
        "filter_form": filter_form,
        "filters": filters,
        "tabs": tabs,
        "first_query": base.urlencode() if cursor is not None else None,
        "next_query": next_query,
        "bulk_form": bulk_form,
        **queue_enforcement_context(request),
    }
    return render(request, "cases/queue_detail.html", context)


@console_view()
@require_POST
def queue_claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    queue = selectors.queue_get_for(actor=request.user, slug=slug)
    case = services.case_claim_next(actor=request.user, queue=queue)
    if case is None:
        messages.info(request, "Queue is empty: there is no case waiting for you.")
        return redirect("cases:queue-detail", slug=queue.slug)
    return redirect("cases:case-detail", case_id=case.pk)


@console_view()
@require_POST
def queue_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    actor = request.user
    queue = selectors.queue_get_for(actor=actor, slug=slug)
    check_bulk_edit(actor)  # refused before the form is read
    form = BulkForm(request.POST, queues=selectors.queue_list(actor=actor), queue=queue)
    back = reverse("cases:queue-detail", args=[queue.slug])
    if form.is_valid():
        # Only a query string comes back from the form; the path is always this queue's.
        query = QueryDict(form.cleaned_data["back"]).urlencode()
        back = f"{back}?{query}" if query else back
        data = form.cleaned_data
        try:
            count = services.cases_bulk(
                actor=actor,
                case_ids=data["cases"],
                operation=data["operation"],
                queue=data["queue"],
                tag=data["tag"],
                assignee=data["assignee"],
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        except ConflictError as error:
            messages.error(request, str(error))
        else:
            label = dict(BulkForm.OPERATIONS)[data["operation"]].lower()
            messages.success(request, f"{label.capitalize()}: {count} case(s) done.")
    else:
        messages.error(request, _form_errors(form))
    return redirect(back)


# --- One case --------------------------------------------------------------------------------


def _identifier_rows(actor, account) -> list[dict]:
    """The account's identifiers, masked; with fingerprint and sharers for those with view_pii."""
    if account is None:
        return []
    identifiers = list(Identifier.objects.filter(account=account).order_by("kind", "id"))
    sharers: dict[tuple[str, str], list[str]] = {}
    show_fingerprint = can_view_pii(actor)
    if show_fingerprint and identifiers:
        match = Q()
        for ident in identifiers:
            match |= Q(kind=ident.kind, value_hash=ident.value_hash)
        for kind, value_hash, external_id in (
            Identifier.objects.filter(match)
            .exclude(account=account)
            .values_list("kind", "value_hash", "account__external_id")
            .order_by("account__external_id")[:200]
        ):
            sharers.setdefault((kind, value_hash), []).append(external_id)
    return [
        {
            "identifier": ident,
            "fingerprint": ident.value_hash if show_fingerprint else None,
            "sharing": sharers.get((ident.kind, ident.value_hash), []),
        }
        for ident in identifiers
    ]


def _event_detail(event) -> str:
    """A short plain-text description of a timeline event's data (autoescaped by the template)."""
    data = event.data or {}
    if event.kind == EventKind.REPORT_ADDED and data.get("source"):
        parts = [data["source"].replace("_", " "), data.get("reason") or ""]
        if data.get("detector"):
            score = data.get("score")
            parts.append(f"detector {data['detector']}" + (f" ({score:.2f})" if score else ""))
        return " · ".join(p for p in parts if p)
    if "before" in data and "after" in data:
        before = ", ".join(data["before"]) if isinstance(data["before"], list) else data["before"]
        after = ", ".join(data["after"]) if isinstance(data["after"], list) else data["after"]
        return f"{before or '—'} → {after or '—'}"
    parts = []
    # Decisions and enforcement actions (enforcement.services) say what and under which section.
    if data.get("outcome"):
        section = data.get("policy_section")
        parts.append(data["outcome"].replace("_", " ") + (f" under {section}" if section else ""))
    if data.get("recommended"):
        followed = {True: "followed", False: "not followed"}.get(data.get("followed"), "")
        parts.append(f"ladder recommended {data['recommended']} ({followed})".replace(" ()", ""))
    if data.get("type"):
        hours = data.get("hours")
        parts.append(data["type"].replace("_", " ") + (f" {hours} h" if hours else ""))
    if data.get("reason"):
        parts.append(f"reason: {data['reason']}")
    if data.get("queue"):
        parts.append(f"queue {data['queue']}")
    if data.get("kind") and data.get("case_id"):
        parts.append(f"{data['kind'].replace('_', ' ')} #{data['case_id']}")
    if data.get("sha256"):
        parts.append(f"sha256 {data['sha256'][:12]}…")
    if data.get("deadline"):
        parts.append(data["deadline"].replace("_", " ") + " deadline")
    if data.get("bulk"):
        parts.append("bulk")
    return "; ".join(parts)


def _render_case(
    request: HttpRequest,
    case: Case,
    *,
    status: int = 200,
    edit_form: CaseEditForm | None = None,
    note_form: NoteForm | None = None,
    evidence_form: EvidenceForm | None = None,
    decision_form=None,
) -> HttpResponse:
    """The case page; every rendering is a view of the case and goes to the access log."""
    actor = request.user
    services.case_view_record(actor=actor, case=case, request=request)
    now = timezone.now()
    _mark_deadlines([case], now)
    case.first_breached = (
        case.is_open and case.first_action_at is None and (case.first_action_due < now)
    )
    case.resolve_breached = case.is_open and case.resolve_due < now
    queues = selectors.queue_list(actor=actor)
    visible = selectors.visible_cases(actor)
    events = selectors.timeline_for(case)
    for event in events:
        event.label = timeline.label(event.kind)
        event.detail = _event_detail(event)
    prior = selectors.prior_cases(actor=actor, case=case)
    holds_claim = case.status == Case.Status.IN_REVIEW and case.claimed_by_id == actor.pk
    context = {
        "case": case,
        "subject": case.subject,
        "account": case.subject.account,
        "holds_claim": holds_claim,
        "can_claim": can_claim_case(actor, case)
        and case.status in (Case.Status.NEW, Case.Status.IN_REVIEW)
        and not holds_claim,
        "can_release": case.status == Case.Status.IN_REVIEW
        and (holds_claim or can_bulk_edit(actor)),
        "report_groups": selectors.report_groups(case),
        "reports": selectors.report_list(case),
        "evidence": list(case.evidence.select_related("added_by")),
        "notes": list(Note.objects.filter(case=case).select_related("author")),
        # Links to cases the viewer cannot see (a restricted one) are left out altogether.
        "links_out": list(
            CaseLink.objects.filter(from_case=case, to_case__in=visible).select_related("to_case")
        ),
        "links_in": list(
            CaseLink.objects.filter(to_case=case, from_case__in=visible).select_related("from_case")
        ),
        "prior_cases": prior,
        "linked_accounts": selectors.linked_accounts(actor=actor, case=case),
        "identifiers": _identifier_rows(actor, case.subject.account),
        "can_view_pii": can_view_pii(actor),
        "can_reveal_pii": can_reveal_pii(actor),
        "events": events,
        "edit_form": edit_form or CaseEditForm.for_case(case, queues),
        "note_form": note_form or NoteForm(),
        "evidence_form": evidence_form or EvidenceForm(),
        "release_form": ReleaseForm(),
        "automated_source": Report.Source.AUTOMATED_FLAG,
        **case_enforcement_context(request, case, decision_form=decision_form),
        **case_escalation_context(request, case),
    }
    return render(request, "cases/case_detail.html", context, status=status)


@console_view()
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.case_get_for(actor=request.user, case_id=case_id)
    if case.status == Case.Status.IN_REVIEW and case.claimed_by_id == request.user.pk:
        # Opening the page counts as working on it: the claim's lease is renewed.
        try:
            case = services.case_renew_lease(actor=request.user, case_id=case.pk)
            case = selectors.case_get_for(actor=request.user, case_id=case.pk)
        except ConflictError:
            pass
    return _render_case(request, case)


def _back_to_case(case_id: int, anchor: str = "") -> HttpResponse:
    url = reverse("cases:case-detail", args=[case_id])
    return redirect(f"{url}#{anchor}" if anchor else url)


@console_view()
@require_POST
def case_claim(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        services.case_claim(actor=request.user, case_id=case_id)
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"You hold case #{case_id} for the next 15 minutes.")
    return _back_to_case(case_id)


@console_view()
@require_POST
def case_release(request: HttpRequest, case_id: int) -> HttpResponse:
    """Release the case (or skip it, with a reason) and go back to its queue."""
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back_to_case(case_id)
    skip = form.cleaned_data["skip"]
    try:
        case = services.case_release(
            actor=request.user, case_id=case_id, reason=form.cleaned_data["reason"], skip=skip
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
        return _back_to_case(case_id)
    except ConflictError as error:
        messages.error(request, str(error))
        return _back_to_case(case_id)
    messages.success(request, f"Case #{case.pk} {'skipped' if skip else 'released'}.")
    return redirect("cases:queue-detail", slug=case.queue.slug)


@console_view()
@require_POST
def case_edit(request: HttpRequest, case_id: int) -> HttpResponse:
    """Edit tags, severity and queue; the form's version must still be the case's."""
    actor = request.user
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    form = CaseEditForm(request.POST, queues=selectors.queue_list(actor=actor), case=case)
    if not form.is_valid():
        return _render_case(request, case, status=400, edit_form=form)
    data = form.cleaned_data
    try:
        services.case_update(
            actor=actor,
            case_id=case.pk,
            version=data["version"],
            tags=data["tags"],
            severity=data["severity"],
            queue=data["queue"],
        )
    except services.StaleEdit as error:
        messages.error(
            request,
            f"This case was changed by {error.changed_by} meanwhile — reload to see the "
            "changes. Your edit was not saved.",
        )
        return _back_to_case(case.pk, "edit")
    except ConflictError as error:
        messages.error(request, str(error))
        return _back_to_case(case.pk, "edit")
    except ValidationError as error:
        _add_service_errors(form, error)
        return _render_case(request, case, status=400, edit_form=form)
    messages.success(request, "Case updated.")
    return _back_to_case(case.pk)


@console_view()
@require_POST
def case_note_add(request: HttpRequest, case_id: int) -> HttpResponse:
    actor = request.user
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_add(actor=actor, case_id=case.pk, body=form.cleaned_data["body"])
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, "Note added.")
            return _back_to_case(case.pk, "notes")
    return _render_case(request, case, status=400, note_form=form)


@console_view()
@require_POST
def case_evidence_add(request: HttpRequest, case_id: int) -> HttpResponse:
    actor = request.user
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    form = EvidenceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.evidence_add(
                actor=actor,
                case_id=case.pk,
                kind=data["kind"],
                url=data["url"],
                excerpt=data["excerpt"],
                sensitive=data["sensitive"],
            )
        except ValidationError as error:
            _add_service_errors(form, error)
        else:
            messages.success(request, "Evidence added.")
            return _back_to_case(case.pk, "evidence")
    return _render_case(request, case, status=400, evidence_form=form)


@console_view()
@require_POST
def case_evidence_reveal(request: HttpRequest, case_id: int, evidence_id: int) -> HttpResponse:
    """Unblur one piece of sensitive evidence (logged); htmx swaps in just that item."""
    case = selectors.case_get_for(actor=request.user, case_id=case_id)
    evidence = services.evidence_reveal(
        actor=request.user, evidence_id=evidence_id, request=request
    )
    if evidence.case_id != case.pk:
        return _back_to_case(case.pk, "evidence")
    context = {"case": case, "item": evidence, "revealed": True}
    if request.htmx:
        return render(request, "cases/_evidence_item.html", context)
    return render(request, "cases/evidence_revealed.html", context)


@console_view()
@require_POST
def case_identifier_reveal(request: HttpRequest, case_id: int, identifier_id: int) -> HttpResponse:
    """Show an identifier's fingerprint and who shares it; needs a reason, logged."""
    actor = request.user
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    identifier = Identifier.objects.filter(pk=identifier_id, account=case.subject.account).first()
    if identifier is None:
        raise Http404("No such identifier on this case's account.")
    form = RevealForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    template = "cases/_identifier.html" if request.htmx else "cases/identifier_revealed.html"
    try:
        identifier = services.identifier_reveal(
            actor=actor,
            case_id=case.pk,
            identifier_id=identifier_id,
            reason=reason,
            request=request,
        )
    except ValidationError as error:
        message = _error_text(error)
        if request.htmx:
            row = {"identifier": identifier, "fingerprint": None}
            context = {"case": case, "row": row, "can_reveal_pii": True, "reveal_error": message}
            return render(request, template, context)
        messages.error(request, message)
        return _back_to_case(case.pk, "identifiers")
    sharing = list(
        Identifier.objects.filter(kind=identifier.kind, value_hash=identifier.value_hash)
        .exclude(account_id=identifier.account_id)
        .values_list("account__external_id", flat=True)
        .order_by("account__external_id")[:200]
    )
    row = {"identifier": identifier, "fingerprint": identifier.value_hash, "sharing": sharing}
    return render(request, template, {"case": case, "row": row, "revealed": True})


@console_view()
@require_POST
def case_lease_renew(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case page's heartbeat: 204 while the viewer holds the claim, 409 when they don't."""
    try:
        services.case_renew_lease(actor=request.user, case_id=case_id)
    except ConflictError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain")
    return HttpResponse(status=204)


# --- Search ----------------------------------------------------------------------------------


@console_view()
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    q = form.cleaned_data["q"].strip() if form.is_valid() else ""
    results = selectors.case_search(actor=request.user, q=q) if q else []
    _mark_deadlines(results, timezone.now())
    return render(request, "cases/search.html", {"q": q, "results": results, "form": form})
