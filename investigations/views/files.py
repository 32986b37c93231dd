"""Console pages of investigation files: the list, the form that opens one, the file's page
(edit form, links, notes, findings), its POST routes and the PDF report."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from investigations.models import Investigation
from investigations.permissions import can_open_investigations
from investigations.selectors.files import investigation_get, investigation_list, investigation_view
from investigations.services import files as services
from tsops.decorators import console_view

_SPLIT = re.compile(r"[\s,]+")


def _words(text: str) -> list[str]:
    return [w for w in _SPLIT.split(text or "") if w]


def _numbers(text: str, field: str) -> list[int]:
    values = []
    for word in _words(text):
        word = word.lstrip("#")
        if not word.isdigit() or len(word) > 18:
            raise ValidationError({field: f"{word!r} is not a number."})
        values.append(int(word))
    return values


class LinksField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 2})


class InvestigationCreateForm(forms.Form):
    title = forms.CharField(label="Title", max_length=services.MAX_TITLE)
    hypothesis = forms.CharField(
        label="Hypothesis",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you think is going on, to be confirmed or refuted.",
    )
    accounts = LinksField(
        label="Accounts", required=False, help_text="External account ids, one per line."
    )
    clusters = LinksField(label="Clusters", required=False, help_text="Cluster numbers.")
    cases = LinksField(label="Cases", required=False, help_text="Case numbers, e.g. 1234.")
    members = LinksField(
        label="Members", required=False, help_text="Usernames of the people working the file."
    )


class InvestigationEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    title = forms.CharField(label="Title", max_length=services.MAX_TITLE)
    status = forms.ChoiceField(label="Status", choices=Investigation.Status.choices)
    hypothesis = forms.CharField(
        label="Hypothesis", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    findings = forms.CharField(
        label="Findings",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What the investigation established; it leads the report.",
    )
    members = forms.CharField(
        label="Members",
        required=False,
        help_text="Usernames, separated by spaces or commas.",
    )

    @classmethod
    def for_investigation(cls, investigation: Investigation, members) -> InvestigationEditForm:
        return cls(
            initial={
                "version": investigation.version,
                "title": investigation.title,
                "status": investigation.status,
                "hypothesis": investigation.hypothesis,
                "findings": investigation.findings,
                "members": " ".join(u.username for u in members),
            },
            auto_id="edit-%s",
        )


class LinkForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    kind = forms.ChoiceField(
        label="Link a",
        choices=[("accounts", "Account"), ("clusters", "Cluster"), ("cases", "Case")],
    )
    values = forms.CharField(
        label="Ids", help_text="Account ids, or cluster or case numbers, separated by spaces."
    )


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Add a note", widget=forms.Textarea(attrs={"rows": 3}), max_length=services.MAX_TEXT
    )


def _form_links(kind: str, text: str) -> services.Links:
    if kind == "accounts":
        return services.Links(accounts=_words(text))
    return services.Links(**{kind: _numbers(text, kind)})


def _service_errors(form: forms.Form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, errors in error.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


@console_view("investigate_accounts")
@require_GET
def investigation_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "investigations/investigation_list.html",
        {
            "investigations": investigation_list(actor=request.user)[:500],
            "can_open": can_open_investigations(request.user),
        },
    )


@console_view("open_investigations")
@require_http_methods(["GET", "POST"])
def investigation_create_view(request: HttpRequest) -> HttpResponse:
    form = InvestigationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            links = services.Links(
                accounts=_words(data["accounts"]),
                clusters=_numbers(data["clusters"], "clusters"),
                cases=_numbers(data["cases"], "cases"),
            )
            investigation = services.investigation_create(
                actor=request.user,
                title=data["title"],
                hypothesis=data["hypothesis"],
                links=links,
                members=_words(data["members"]),
            )
        except ValidationError as error:
            _service_errors(form, error)
        else:
            messages.success(request, "Investigation opened.")
            return redirect("investigations:investigation-detail", investigation.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "investigations/investigation_form.html", {"form": form}, status=status)


def _render_detail(
    request: HttpRequest,
    investigation: Investigation,
    *,
    status: int = 200,
    edit_form: InvestigationEditForm | None = None,
    link_form: LinkForm | None = None,
    note_form: NoteForm | None = None,
) -> HttpResponse:
    view = investigation_view(actor=request.user, investigation=investigation)
    context = {
        "view": view,
        "investigation": investigation,
        "edit_form": edit_form
        or InvestigationEditForm.for_investigation(investigation, view.members),
        "link_form": link_form
        or LinkForm(initial={"version": investigation.version}, auto_id="link-%s"),
        "note_form": note_form or NoteForm(auto_id="note-%s"),
    }
    return render(request, "investigations/investigation_detail.html", context, status=status)


@console_view()
@require_GET
def investigation_detail_view(request: HttpRequest, investigation_id: int) -> HttpResponse:
    investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
    return _render_detail(request, investigation)


def _stale(request, investigation_id: int, error) -> HttpResponse:
    messages.error(request, str(error))
    investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
    return _render_detail(request, investigation, status=409)


@console_view()
@require_POST
def investigation_edit_view(request: HttpRequest, investigation_id: int) -> HttpResponse:
    investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
    form = InvestigationEditForm(request.POST, auto_id="edit-%s")
    if not form.is_valid():
        return _render_detail(request, investigation, status=400, edit_form=form)
    data = form.cleaned_data
    try:
        services.investigation_update(
            actor=request.user,
            investigation_id=investigation.pk,
            version=data["version"],
            title=data["title"],
            status=data["status"],
            hypothesis=data["hypothesis"],
            findings=data["findings"],
            members=_words(data["members"]),
        )
    except services.StaleInvestigationEdit as error:
        return _stale(request, investigation.pk, error)
    except ValidationError as error:
        _service_errors(form, error)
        return _render_detail(request, investigation, status=400, edit_form=form)
    messages.success(request, "Investigation saved.")
    return redirect("investigations:investigation-detail", investigation.pk)


@console_view()
@require_POST
def investigation_links_view(request: HttpRequest, investigation_id: int) -> HttpResponse:
    """Link (the form) or unlink (``remove`` = "<kind>:<id>") accounts, clusters or cases."""
    investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
    removing = request.POST.get("remove", "")
    form = LinkForm(request.POST, auto_id="link-%s")
    if removing:
        form.fields["kind"].required = form.fields["values"].required = False
    if not form.is_valid():
        return _render_detail(request, investigation, status=400, link_form=form)
    data = form.cleaned_data
    try:
        if removing:
            kind, _, value = removing.partition(":")
            if kind not in services.LINK_KINDS:
                raise ValidationError({"kind": "Unknown kind of link."})
            add, remove = None, _form_links(kind, value)
        else:
            add, remove = _form_links(data["kind"], data["values"]), None
        services.investigation_links_change(
            actor=request.user,
            investigation_id=investigation.pk,
            version=data["version"],
            add=add,
            remove=remove,
        )
    except services.StaleInvestigationEdit as error:
        return _stale(request, investigation.pk, error)
    except ValidationError as error:
        _service_errors(form, error)
        return _render_detail(request, investigation, status=400, link_form=form)
    messages.success(request, "Links updated.")
    return redirect(
        reverse("investigations:investigation-detail", args=[investigation.pk]) + "#links"
    )


@console_view()
@require_POST
def investigation_note_view(request: HttpRequest, investigation_id: int) -> HttpResponse:
    investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
    form = NoteForm(request.POST, auto_id="note-%s")
    if form.is_valid():
        try:
            services.investigation_note_add(
                actor=request.user,
                investigation_id=investigation.pk,
                body=form.cleaned_data["body"],
            )
        except ValidationError as error:
            _service_errors(form, error)
    if form.errors:
        return _render_detail(request, investigation, status=400, note_form=form)
    messages.success(request, "Note added.")
    return redirect(
        reverse("investigations:investigation-detail", args=[investigation.pk]) + "#notes"
    )


@console_view()
@require_GET
def investigation_report_view(request: HttpRequest, investigation_id: int) -> HttpResponse:
    """The file's PDF report (an attachment); every export is in the access log."""
    pdf = services.investigation_report_pdf(
        actor=request.user, investigation_id=investigation_id, request=request
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"investigation-{investigation_id}.pdf"
    )
    return response
