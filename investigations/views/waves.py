"""Console pages of waves: the form with its preview (from a cluster), the wave's page with
its approval block and progress, and the list of waves."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from enforcement.catalogue import ACTIONS
from enforcement.selectors import policy_sections_current
from investigations.models import Wave
from investigations.selectors.waves import (
    can_approve_wave,
    wave_counts_for,
    wave_get_for,
    wave_members_for,
    waves_awaiting,
    waves_recent,
)
from investigations.services import waves as services
from investigations.visibility import cluster_get_for
from tsops.decorators import console_view
from tsops.errors import ConflictError

MEMBERS_SHOWN = 500


def _action_choices(target: str) -> list[tuple[str, str]]:
    return [("", "No action")] + [
        (code, spec.label)
        for code, spec in ACTIONS.items()
        if spec.target == target and not spec.needs_feature
    ]


class WaveForm(forms.Form):
    policy_section = forms.ChoiceField(label="Policy section")
    rationale = forms.CharField(
        label="Rationale",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Internal, never shown to the users: why every member breaks the section.",
    )
    account_action = forms.ChoiceField(label="Action on accounts", required=False)
    duration_hours = forms.IntegerField(
        label="Duration (hours)",
        required=False,
        min_value=1,
        help_text="For a suspension: how long, in hours (168 = 7 days).",
    )
    content_action = forms.ChoiceField(label="Action on content", required=False)
    statement_of_reasons = forms.CharField(
        label="Statement of reasons",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What each user is told; leave empty to use the section's drafted statement.",
    )
    submission_key = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy_section"].choices = [
            (s.code, f"{s.code} {s.title}") for s in policy_sections_current().order_by("code")
        ]
        self.fields["account_action"].choices = _action_choices("account")
        self.fields["content_action"].choices = _action_choices("content")


def _service_kwargs(data: dict) -> dict:
    return {
        "policy_section": data["policy_section"],
        "account_action": data.get("account_action") or "",
        "duration_hours": data.get("duration_hours"),
        "content_action": data.get("content_action") or "",
        "statement_of_reasons": data.get("statement_of_reasons") or "",
    }


def _add_errors(form: WaveForm, error: ValidationError) -> None:
    for name, messages_ in error.message_dict.items():
        target = name if name in form.fields else None
        for message in messages_:
            form.add_error(target, message)


@console_view("run_waves")
@require_http_methods(["GET", "POST"])
def wave_new(request: HttpRequest, cluster_id: int) -> HttpResponse:
    """The wave form with the preview of its members (shown before submit)."""
    cluster = cluster_get_for(actor=request.user, cluster_id=cluster_id)
    data = request.POST if request.method == "POST" else (request.GET or None)
    initial = {"submission_key": uuid.uuid4().hex, "account_action": "suspend"}
    form = WaveForm(data, initial=initial)
    preview, status = None, 200
    if data is not None and form.is_valid():
        kwargs = _service_kwargs(form.cleaned_data)
        try:
            if request.method == "POST" and "submit" in request.POST:
                wave = services.wave_submit(
                    actor=request.user,
                    cluster_id=cluster.pk,
                    rationale=form.cleaned_data["rationale"],
                    submission_key=form.cleaned_data.get("submission_key") or "",
                    **kwargs,
                )
                messages.success(request, _submitted_text(wave))
                return redirect("investigations:wave-detail", wave_id=wave.pk)
            preview = services.wave_preview(
                actor=request.user,
                cluster_id=cluster.pk,
                rationale=form.cleaned_data["rationale"],
                **kwargs,
            )
        except ValidationError as error:
            _add_errors(form, error)
            status = 400
        except ConflictError as error:
            form.add_error(None, str(error))
            status = 409
    elif data is not None:
        status = 400
    context = {
        "cluster": cluster,
        "form": form,
        "preview": preview,
        "members": preview.members[:MEMBERS_SHOWN] if preview else [],
        "members_hidden": max(0, len(preview.members) - MEMBERS_SHOWN) if preview else 0,
    }
    return render(request, "investigations/wave_form.html", context, status=status)


def _submitted_text(wave: Wave) -> str:
    if wave.status == Wave.Status.PENDING_APPROVAL:
        return f"Wave #{wave.pk} on {wave.member_count} members awaits a senior's approval."
    return f"Wave #{wave.pk} on {wave.member_count} members is running."


def _detail_context(request: HttpRequest, wave: Wave) -> dict:
    counts = wave_counts_for(actor=request.user, wave=wave)
    total = counts["total"] or 1
    return {
        "wave": wave,
        "counts": counts,
        "percent": round(100 * counts["processed"] / total),
        "running": wave.status == Wave.Status.RUNNING,
    }


@console_view()
@require_http_methods(["GET"])
def wave_detail(request: HttpRequest, wave_id: int) -> HttpResponse:
    """The wave: status, approval block, progress and per-member results."""
    wave = wave_get_for(actor=request.user, wave_id=wave_id)
    members = list(wave_members_for(actor=request.user, wave=wave)[: MEMBERS_SHOWN + 1])
    context = _detail_context(request, wave)
    context.update(
        members=members[:MEMBERS_SHOWN],
        members_more=len(members) > MEMBERS_SHOWN,
        can_approve=can_approve_wave(request.user, wave),
        own_wave=wave.requested_by_id == request.user.pk,
    )
    return render(request, "investigations/wave_detail.html", context)


@console_view()
@require_http_methods(["GET"])
def wave_progress(request: HttpRequest, wave_id: int) -> HttpResponse:
    """The progress bar fragment (polled every 2 s while the wave runs)."""
    wave = wave_get_for(actor=request.user, wave_id=wave_id)
    response = render(request, "investigations/wave_progress.html", _detail_context(request, wave))
    if wave.status != Wave.Status.RUNNING and request.headers.get("HX-Request"):
        # Finished: reload the page once so the per-member results show.
        response["HX-Refresh"] = "true"
    return response


@console_view("run_waves")
@require_http_methods(["GET"])
def wave_list(request: HttpRequest) -> HttpResponse:
    """Waves awaiting approval (for seniors) and the recent ones."""
    context = {
        "awaiting": list(waves_awaiting(actor=request.user)),
        "recent": waves_recent(actor=request.user),
    }
    return render(request, "investigations/wave_list.html", context)


@console_view("approve_actions")
@require_POST
def wave_approve(request: HttpRequest, wave_id: int) -> HttpResponse:
    try:
        wave = services.wave_approve(actor=request.user, wave_id=wave_id)
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"Wave #{wave.pk} approved: its {wave.member_count} members are being actioned.",
        )
    return redirect("investigations:wave-detail", wave_id=wave_id)


@console_view("approve_actions")
@require_POST
def wave_reject(request: HttpRequest, wave_id: int) -> HttpResponse:
    try:
        wave = services.wave_reject(
            actor=request.user, wave_id=wave_id, reason=request.POST.get("reason", "")
        )
    except ValidationError:
        messages.error(request, "Say why the wave is rejected.")
    except ConflictError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Wave #{wave.pk} rejected; nothing was done to its members.")
    return redirect("investigations:wave-detail", wave_id=wave_id)
