"""HTML views of response templates: the per-section list, creating, revising (a new version)
and retiring, the live preview, and the rationale snippets the decision panel inserts.

Thin like :mod:`enforcement.views`: a form in, one service or selector, a template out.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors as case_selectors
from enforcement import responses, selectors
from enforcement.models import PolicySection, ResponseTemplate
from enforcement.permissions import can_manage_response_templates, can_view_response_templates
from enforcement.response_forms import (
    VARIABLE_HELP,
    PreviewForm,
    ResponseTemplateForm,
    ResponseTemplateReviseForm,
)
from enforcement.services import ActionRequest
from tsops.decorators import console_view
from tsops.errors import ConflictError

# What the preview fills the variables with: a realistic decision.
PREVIEW_ACTIONS = [ActionRequest("suspend", 7 * 24)]


def _check_view(user) -> None:
    if not can_view_response_templates(user):
        raise PermissionDenied("Response templates are for those who decide cases.")


def _check_manage(user) -> None:
    if not can_manage_response_templates(user):
        raise PermissionDenied("Response templates are kept by seniors.")


def _list_url(section_code: str = "") -> str:
    url = reverse("enforcement:response-template-list")
    return f"{url}#section-{section_code}" if section_code else url


@console_view()
@require_GET
def response_template_list(request: HttpRequest) -> HttpResponse:
    """Every current policy section with its templates; seniors get the edit controls."""
    _check_view(request.user)
    context = {
        "catalogue": selectors.response_template_catalogue(),
        "can_manage": can_manage_response_templates(request.user),
        "variables": VARIABLE_HELP,
    }
    return render(request, "enforcement/responses/template_list.html", context)


@console_view()
@require_http_methods(["GET", "POST"])
def response_template_create(request: HttpRequest) -> HttpResponse:
    _check_manage(request.user)
    sections = list(selectors.policy_sections_current().order_by("code"))
    initial = {
        "section_code": request.GET.get("section", ""),
        "kind": request.GET.get("kind", ResponseTemplate.Kind.MESSAGE),
    }
    form = ResponseTemplateForm(request.POST or None, sections=sections, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            template = responses.response_template_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Template “{template.title}” created (version 1).")
            return redirect(_list_url(template.section_code))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "template": None, "variables": VARIABLE_HELP}
    return render(request, "enforcement/responses/template_form.html", context, status=status)


@console_view()
@require_http_methods(["GET", "POST"])
def response_template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    """Revise a template: saving makes a new version, the shown one stays as it was."""
    _check_manage(request.user)
    versions = selectors.response_template_versions(template_id=template_id)
    current = versions[0]
    initial = {"title": current.title, "body": current.body}
    form = ResponseTemplateReviseForm(request.POST or None, template=current, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            revised = responses.response_template_revise(
                actor=request.user, template_id=current.pk, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_service_errors(error)
        except ConflictError as error:
            messages.error(request, str(error))
            return redirect(_list_url(current.section_code))
        else:
            if revised.pk == current.pk:
                messages.info(request, "Nothing changed: the template stays at its version.")
            else:
                messages.success(
                    request, f"Template “{revised.title}” is now version {revised.version}."
                )
            return redirect(_list_url(revised.section_code))
    status = 400 if request.method == "POST" else 200
    context = {
        "form": form,
        "template": current,
        "versions": versions,
        "section": selectors.policy_sections_current().filter(code=current.section_code).first(),
        "variables": VARIABLE_HELP,
    }
    return render(request, "enforcement/responses/template_form.html", context, status=status)


@console_view()
@require_POST
def response_template_retire(request: HttpRequest, template_id: int) -> HttpResponse:
    _check_manage(request.user)
    template = responses.response_template_retire(actor=request.user, template_id=template_id)
    messages.success(request, f"Template “{template.title}” retired; its versions are kept.")
    return redirect(_list_url(template.section_code))


@console_view()
@require_POST
def response_template_preview(request: HttpRequest) -> HttpResponse:
    """The text as a user would read it, with sample values (htmx swaps it in while a senior
    types); a problem with the variables is shown instead."""
    _check_manage(request.user)
    form = PreviewForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    kind = data.get("kind") or ResponseTemplate.Kind.MESSAGE
    body = data.get("body") or ""
    errors = responses.template_errors(kind, body)
    rendered = ""
    if not errors and kind == ResponseTemplate.Kind.MESSAGE:
        section = PolicySection.objects.filter(
            code=data.get("section_code") or "", superseded_at__isnull=True
        ).first() or PolicySection(title="Example section title")
        rendered = responses.template_render(
            body, responses.message_values(section, PREVIEW_ACTIONS, at=timezone.now())
        )
    elif not errors:
        rendered = body
    context = {"errors": errors, "rendered": rendered, "kind": kind}
    return render(request, "enforcement/responses/_preview.html", context)


@console_view()
@require_GET
def case_snippets(request: HttpRequest, case_id: int) -> HttpResponse:
    """The rationale snippets of the chosen section, as buttons the decision panel's script
    inserts into the rationale (``?policy_section=`` a section code or id). Nothing of the
    case is in it: the case only gates who may ask (404 for one the actor may not see)."""
    case_selectors.case_get_for(actor=request.user, case_id=case_id)
    _check_view(request.user)
    value = request.GET.get("policy_section", "").strip()[:40]
    section = None
    if value.isdigit():
        section = PolicySection.objects.filter(pk=int(value)).first()
    elif value:
        section = PolicySection.objects.filter(code=value, superseded_at__isnull=True).first()
    if value and section is None:
        context = {"error": "No such policy section.", "snippets": [], "section": None}
        return render(request, "enforcement/responses/_snippets.html", context, status=400)
    snippets = selectors.response_templates_for(section=section)["rationale"] if section else []
    context = {"snippets": snippets, "section": section, "error": ""}
    return render(request, "enforcement/responses/_snippets.html", context)
