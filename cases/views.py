"""HTML views of queues and cases (thin: forms in, one service or selector, template out).

Errors from services map the same way everywhere: Http404 and PermissionDenied pass
through (404 and 403 pages); a ValidationError becomes form errors or a message; a
ConflictError (stale edit, impossible transition) becomes a message and a redirect back.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from cases import lifecycle, media, selectors, services
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
from cases.models import Case, Identifier
from cases.panels import claim_next_url, queue_panels_context, render_case_page
from cases.permissions import (
    can_bulk_edit,
    check_bulk_edit,
    check_reopen_case,
)
from cases.presentation import mark_deadlines
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.selectors import preferences_for

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
    mark_deadlines(rows, timezone.now())

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
        **queue_panels_context(request, queue),
    }
    return render(request, "cases/queue_detail.html", context)


@console_view()
@require_POST
def queue_claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    queue = selectors.queue_get_for(actor=request.user, slug=slug)
    return redirect(claim_next_url(request, queue))


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
    return render_case_page(request, case)


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
        return render_case_page(request, case, status=400, edit_form=form)
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
        return render_case_page(request, case, status=400, edit_form=form)
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
    return render_case_page(request, case, status=400, note_form=form)


@console_view()
@require_POST
def case_evidence_add(request: HttpRequest, case_id: int) -> HttpResponse:
    """Add evidence: a URL or excerpt, or a media file (413 with the form past a limit)."""
    actor = request.user
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    form = EvidenceForm(request.POST, request.FILES)
    status = 400
    try:
        media.check_request_uploads(request)
        if form.is_valid():
            _evidence_add(actor, case, form.cleaned_data)
            messages.success(request, "Evidence added.")
            return _back_to_case(case.pk, "evidence")
    except media.MediaTooLarge as error:
        form.add_error("file", f"{error.message} (limit {error.setting})")
        status = 413
    except ValidationError as error:
        _add_service_errors(form, error)
    return render_case_page(request, case, status=status, evidence_form=form)


def _evidence_add(actor, case: Case, data: dict) -> None:
    """The service for the form's evidence: a media file, or a URL or excerpt."""
    upload = data.get("file")
    if upload:
        media.check_file_size(upload.size, media.sanitize_filename(upload.name))
        prepared = media.media_prepare(upload.read(), upload.name)
        media.evidence_media_add(
            actor=actor,
            case_id=case.pk,
            prepared=prepared,
            excerpt=data["excerpt"],
            sensitive=data["sensitive"],
        )
        return
    services.evidence_add(
        actor=actor,
        case_id=case.pk,
        kind=data["kind"],
        url=data["url"],
        excerpt=data["excerpt"],
        sensitive=data["sensitive"],
    )


@console_view()
@require_POST
def case_reopen(request: HttpRequest, case_id: int) -> HttpResponse:
    """Reopen a resolved case with the evidence added since its resolution (rework)."""
    actor = request.user
    case = selectors.case_get_for(actor=actor, case_id=case_id)
    check_reopen_case(actor, case)
    try:
        case = lifecycle.case_reopen_with_evidence(
            actor=actor, case_id=case.pk, reason=request.POST.get("reason", "")
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
        return _back_to_case(case_id, "evidence")
    except ConflictError as error:
        messages.error(request, str(error))
        return _back_to_case(case_id)
    if case.pk == case_id:
        messages.success(request, f"Case #{case.pk} is reopened and back in {case.queue.name}.")
    else:
        messages.success(
            request, f"The subject has an open case, #{case.pk}: the reopened work joined it."
        )
    return _back_to_case(case.pk)


@console_view()
@require_POST
def case_evidence_reveal(request: HttpRequest, case_id: int, evidence_id: int) -> HttpResponse:
    """Unblur one piece of sensitive evidence (logged; on a restricted case with a reason);
    htmx swaps in just that item, now showing the unblurred content."""
    case = selectors.case_get_for(actor=request.user, case_id=case_id)
    form = RevealForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    template = "cases/_evidence_item.html" if request.htmx else "cases/evidence_revealed.html"
    # The copy shown with what was reported is swapped back as that copy.
    compact = bool(request.htmx) and request.POST.get("compact") == "1"
    try:
        evidence = services.evidence_reveal(
            actor=request.user, evidence_id=evidence_id, reason=reason, request=request
        )
    except ValidationError as error:
        item = case.evidence.filter(pk=evidence_id).select_related("media", "added_by").first()
        if item is None:
            raise Http404("No such evidence on this case.") from None
        context = {
            "case": case,
            "item": item,
            "revealed": False,
            "reveal_error": error,
            "compact": compact,
        }
        # htmx swaps only successful answers: the item comes back with the error in it.
        return render(request, template, context, status=200 if request.htmx else 400)
    if evidence.case_id != case.pk:
        return _back_to_case(case.pk, "evidence")
    media.reveal_remember(request, evidence.pk)
    context = {"case": case, "item": evidence, "revealed": True, "compact": compact}
    return render(request, template, context)


def _media_evidence_for(request: HttpRequest, case_id: int, evidence_id: int):
    """The case (as the viewer may see it) and its media evidence that may be opened; a
    do-not-open item has nothing to show to anyone (404)."""
    case = selectors.case_get_for(actor=request.user, case_id=case_id)
    evidence = (
        case.evidence.filter(pk=evidence_id, media__isnull=False).select_related("media").first()
    )
    if evidence is None or evidence.do_not_open:
        raise Http404("No such media on this case.")
    return case, evidence


def _media_response(body: bytes, *, content_type: str, filename: str, inline: bool):
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, filename)
    response["X-Content-Type-Options"] = "nosniff"
    # Whatever a file holds, it runs nothing and frames nothing if opened by itself.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "no-store, private"
    return response


@console_view()
@require_GET
def case_media_thumbnail(request: HttpRequest, case_id: int, evidence_id: int) -> HttpResponse:
    """The thumbnail: sensitive media blurred on the server (the member's strength) until this
    member revealed it in this session, in grayscale if they chose it."""
    _case, evidence = _media_evidence_for(request, case_id, evidence_id)
    if not evidence.media.renderable:
        raise Http404("This file is not an image: it is only downloaded.")
    revealed = media.revealed_in_session(request, evidence.pk)
    blur, grayscale = media.thumbnail_look(
        evidence, revealed=revealed, preference=preferences_for(request.user)
    )
    body = media.media_variant(evidence.media, blur=blur, grayscale=grayscale)
    name = f"evidence-{evidence.pk}-{'blurred' if blur else 'thumbnail'}.png"
    return _media_response(body, content_type="image/png", filename=name, inline=True)


@console_view()
@require_GET
def case_media_original(request: HttpRequest, case_id: int, evidence_id: int) -> HttpResponse:
    """The file as received: an image of a web format inline, anything else as a download;
    sensitive media only after this member revealed it (403 before)."""
    _case, evidence = _media_evidence_for(request, case_id, evidence_id)
    if evidence.sensitive and not media.revealed_in_session(request, evidence.pk):
        raise PermissionDenied("Reveal this sensitive media first (the reveal is logged).")
    stored = evidence.media
    inline_type = media.INLINE_TYPES.get(stored.image_format) if stored.renderable else None
    return _media_response(
        media.media_original(stored),
        content_type=inline_type or media.OPAQUE_TYPE,
        filename=stored.original_name,
        inline=inline_type is not None,
    )


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


SEARCH_PAGE_SIZE = 50


@console_view()
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Search the visible cases: a case id or a subject's exact id opens its case; words and
    filters list the matches, 50 to a page. A bad filter is answered 400 naming the field."""
    form = SearchForm(request.GET, queues=selectors.queue_list(actor=request.user))
    if not form.is_valid():
        context = {"form": form, "q": request.GET.get("q", ""), "page": None}
        return render(request, "cases/search.html", context, status=400)
    q = form.cleaned_data["q"].strip()
    data = form.cleaned_data
    filters = selectors.SearchFilters(
        status=data["status"],
        queue=data["queue"],
        reason=data["reason"],
        severity=data["severity"],
        created_from=data["created_from"],
        created_to=data["created_to"],
    )
    if q and not form.has_filters() and not data["page"]:
        direct = selectors.case_search_direct(actor=request.user, q=q)
        if direct is not None:
            return redirect("cases:case-detail", case_id=direct.pk)
    page = None
    if q or form.has_filters():
        cases = selectors.case_search_queryset(actor=request.user, q=q, filters=filters)
        page = Paginator(cases, SEARCH_PAGE_SIZE).get_page(data["page"] or 1)
        mark_deadlines(page.object_list, timezone.now())
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "q": q, "page": page, "page_query": query.urlencode()}
    return render(request, "cases/search.html", context)
