"""Console pages of alerts: the list (open first, by status and kind) and an alert's page with
its acknowledge and resolve forms."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from detection.models import Alert
from detection.permissions_alerts import can_view_alerts, can_work_alert
from detection.selectors.alerts import alert_get_for, alert_list
from detection.services import alerts as services
from tsops.decorators import console_view
from tsops.errors import ConflictError
from tsops.presentation import label_for

LIST_LIMIT = 300


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Alert.Status.choices]
    )
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "Any kind"), *Alert.Kind.choices]
    )


class AlertResolveForm(forms.Form):
    resolution = forms.CharField(
        label="Resolution",
        max_length=services.MAX_RESOLUTION,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was found or done; it stays with the alert.",
    )


def _check_alerts(user) -> None:
    if not can_view_alerts(user):
        raise PermissionDenied("Alerts are for analysts, seniors and specialist teams.")


def _safe_link(detail) -> str:
    """A detector's link to follow, only when it is a path inside the console."""
    link = detail.get("link") if isinstance(detail, dict) else None
    if isinstance(link, str) and link.startswith("/") and not link.startswith("//"):
        return link if "\\" not in link else ""
    return ""


# The detail entries shown as figures on the alert's page, in this order.
_FIGURES = (
    ("reason", "Reason"),
    ("subject_kind", "Subject kind"),
    ("source", "Source"),
    ("hour", "Hour"),
    ("observed", "Observed"),
    ("expected", "Expected"),
    ("baseline", "Past weeks"),
    ("p_value", "p-value"),
    ("alpha", "Significance level"),
    ("test", "Test"),
)


# Detail entries holding codes a person reads in words.
_VOCABULARIES = {"reason": "reason", "source": "source"}


def _figures(detail) -> list[tuple[str, object]]:
    if not isinstance(detail, dict):
        return []
    known = [
        (
            label,
            label_for(_VOCABULARIES[name], detail[name]) if name in _VOCABULARIES else detail[name],
        )
        for name, label in _FIGURES
        if name in detail
    ]
    shown = {name for name, _ in _FIGURES} | {"link"}
    others = [
        (name.replace("_", " ").capitalize(), v) for name, v in detail.items() if name not in shown
    ]
    # A list (the past weeks' counts) reads as numbers, not as Python's brackets.
    return [
        (label, ", ".join(str(item) for item in value) if isinstance(value, list) else value)
        for label, value in known + others
    ]


@console_view()
@require_GET
def alert_list_view(request: HttpRequest) -> HttpResponse:
    _check_alerts(request.user)
    form = AlertFilterForm(request.GET or None)
    status = kind = ""
    if form.is_valid():
        status, kind = form.cleaned_data["status"], form.cleaned_data["kind"]
    alerts = list(alert_list(actor=request.user, status=status, kind=kind)[:LIST_LIMIT])
    open_count = sum(1 for a in alerts if a.status == Alert.Status.OPEN)
    return render(
        request,
        "detection/alerts/alert_list.html",
        {"alerts": alerts, "form": form, "open_count": open_count},
        status=200 if form.is_valid() or not request.GET else 400,
    )


def _render_detail(
    request: HttpRequest, alert: Alert, *, form: AlertResolveForm | None = None, status=200
) -> HttpResponse:
    return render(
        request,
        "detection/alerts/alert_detail.html",
        {
            "alert": alert,
            "link": _safe_link(alert.detail),
            "figures": _figures(alert.detail),
            "can_work": can_work_alert(request.user, alert),
            "can_acknowledge": Alert.Status.ACKNOWLEDGED in Alert.TRANSITIONS[alert.status],
            "can_resolve": Alert.Status.RESOLVED in Alert.TRANSITIONS[alert.status],
            "resolve_form": form or AlertResolveForm(auto_id="resolve-%s"),
        },
        status=status,
    )


@console_view()
@require_GET
def alert_detail_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    return _render_detail(request, alert_get_for(actor=request.user, id=alert_id))


@console_view()
@require_POST
def alert_acknowledge_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = alert_get_for(actor=request.user, id=alert_id)
    try:
        services.alert_acknowledge(actor=request.user, alert=alert)
    except ConflictError as error:
        messages.error(request, str(error))
        return _render_detail(request, alert_get_for(actor=request.user, id=alert_id), status=409)
    messages.success(request, "Alert acknowledged.")
    return redirect("detection:alert-detail", alert.pk)


@console_view()
@require_POST
def alert_resolve_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = alert_get_for(actor=request.user, id=alert_id)
    form = AlertResolveForm(request.POST, auto_id="resolve-%s")
    if not form.is_valid():
        return _render_detail(request, alert, form=form, status=400)
    try:
        services.alert_resolve(
            actor=request.user, alert=alert, resolution=form.cleaned_data["resolution"]
        )
    except ValidationError as error:
        for message in error.message_dict.get("resolution", error.messages):
            form.add_error("resolution", message)
        return _render_detail(request, alert, form=form, status=400)
    except ConflictError as error:
        messages.error(request, str(error))
        return _render_detail(request, alert_get_for(actor=request.user, id=alert_id), status=409)
    messages.success(request, "Alert resolved.")
    return redirect("detection:alert-detail", alert.pk)
