"""The transparency report as a page, a CSV download and a REST resource (thin: validate the
period, call :func:`metrics.transparency.transparency_report`, log the export, render)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.transparency import (
    CSV_HEADER,
    DEFINITIONS,
    can_view_transparency_report,
    report_rows,
    transparency_report,
)
from tsops.api import NoSuchPeriod, period_description
from tsops.csv import csv_response
from tsops.decorators import console_view
from tsops.models import AccessLog
from tsops.services import access_log_record

DATE_ERROR = "A date in the format YYYY-MM-DD is required."


class TransparencyPeriodForm(forms.Form):
    """``from`` and ``to`` (both included), as ISO dates; ``from`` not after ``to``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the fields are added here rather than declared.
        for name, label in (("from", "From"), ("to", "To (included)")):
            self.fields[name] = forms.DateField(
                label=label,
                input_formats=["%Y-%m-%d"],
                error_messages={"required": DATE_ERROR, "invalid": DATE_ERROR},
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end:
            # Code "period": the API answers it 404 (tsops.api.NoSuchPeriod).
            self.add_error("to", forms.ValidationError("Must be on or after from.", code="period"))
        return cleaned


def last_full_month(today: date | None = None) -> tuple[date, date]:
    """The last full calendar month: its first and its last day."""
    today = today or timezone.localdate()
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def _log_export(request, start: date, end: date, fmt: str) -> None:
    access_log_record(
        actor=request.user,
        action=AccessLog.Action.EXPORTED,
        object_type="metrics.transparencyreport",
        object_id=f"{start}..{end}",
        request=request,
        detail={"from": start.isoformat(), "to": end.isoformat(), "format": fmt},
    )


def _label(value: str, prefix: str) -> str:
    """``STATEMENT_CATEGORY_SCAMS_AND_FRAUD`` -> ``Scams and fraud``."""
    words = value.removeprefix(prefix).lower()
    if words.endswith("_tc"):
        words = words.removesuffix("_tc") + "_of_the_terms_and_conditions"
    words = words.replace("_", " ")
    return words[:1].upper() + words[1:]


def _restriction_label(row: dict) -> str:
    prefix = {
        "decision_visibility": "DECISION_VISIBILITY_",
        "decision_monetary": "DECISION_MONETARY_",
        "decision_provision": "DECISION_PROVISION_",
        "decision_account": "DECISION_ACCOUNT_",
    }[row["field"]]
    return _label(row["type"].replace("VISIBILITY_CONTENT_", "VISIBILITY_"), prefix)


def _period_from(request: HttpRequest) -> tuple[TransparencyPeriodForm, date | None, date | None]:
    if "from" not in request.GET and "to" not in request.GET:
        start, end = last_full_month()
        form = TransparencyPeriodForm({"from": start.isoformat(), "to": end.isoformat()})
    else:
        form = TransparencyPeriodForm(request.GET)
    if not form.is_valid():
        return form, None, None
    return form, form.cleaned_data["from"], form.cleaned_data["to"]


@console_view("export_data")
@require_GET
def transparency(request: HttpRequest) -> HttpResponse:
    """The report for the chosen period (the last full month unless chosen)."""
    form, start, end = _period_from(request)
    if start is None:
        return render(request, "metrics/transparency.html", {"form": form}, status=400)
    report = transparency_report(actor=request.user, start=start, end=end)
    _log_export(request, start, end, "html")
    query = f"from={start.isoformat()}&to={end.isoformat()}"
    for row in report["notices"]["by_category"]:
        row["label"] = _label(row["category"], "STATEMENT_CATEGORY_")
    for row in report["actions"]["by_restriction"]:
        row["label"] = _restriction_label(row)
    context = {
        "form": form,
        "report": report,
        "start": start,
        "last_day": end,
        "definitions": DEFINITIONS,
        "csv_url": f"{reverse('metrics:transparency-csv')}?{query}",
        "api_url": f"{reverse('api:metrics-transparency-report')}?{query}",
    }
    return render(request, "metrics/transparency.html", context)


@console_view("export_data")
@require_GET
def transparency_csv(request: HttpRequest) -> HttpResponse:
    """The same figures as (section, item, measure, value) rows; text cells formula-safe."""
    form, start, end = _period_from(request)
    if start is None:
        return HttpResponse(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    report = transparency_report(actor=request.user, start=start, end=end)
    _log_export(request, start, end, "csv")
    return csv_response(
        filename=f"transparency-report-{start}-{end}.csv",
        header=CSV_HEADER,
        rows=report_rows(report),
    )


class TransparencyReportApi(APIView):
    """The DSA transparency report's figures from ``from`` to ``to`` (both included), with
    the definition of each. Restricted cases count only for members of their team."""

    required_scopes = {"GET": "metrics:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First day"),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, required=True, description="Last day (included)"
            ),
        ],
        description=period_description(),
        responses={
            200: OpenApiTypes.OBJECT,
            404: OpenApiResponse(description="No such period (see the description)."),
        },
    )
    def get(self, request):
        if not can_view_transparency_report(request.user):
            raise PermissionDenied("The transparency report needs the export permission.")
        form = TransparencyPeriodForm(request.query_params)
        if not form.is_valid() and form.has_error("to", "period") and len(form.errors) == 1:
            raise NoSuchPeriod(form.errors["to"][0])
        if not form.is_valid():
            raise serializers.ValidationError(
                {field: list(errors) for field, errors in form.errors.items()}
            )
        start, end = form.cleaned_data["from"], form.cleaned_data["to"]
        report = transparency_report(actor=request.user, start=start, end=end)
        _log_export(request, start, end, "json")
        return Response(report)
