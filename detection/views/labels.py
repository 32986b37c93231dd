"""The labelled-data page (a download form for seniors) and the download itself.

Thin: the form in, the access-log entry, then the selector's JSON Lines streamed out. The REST
resource (:mod:`detection.api.labels`) sends the same stream through :func:`labels_stream`.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from detection.forms_labels import LabelExportForm
from detection.selectors.labels import SPLITS, label_lines
from detection.services.labels import label_export_record
from tsops.decorators import console_view

CONTENT_TYPE = "application/x-ndjson"


def labels_stream(
    request: HttpRequest, form: LabelExportForm, *, fmt: str
) -> StreamingHttpResponse:
    """Log the export, then stream its rows (call with a valid form)."""
    period, split = form.period(), form.chosen_split()
    label_export_record(
        actor=request.user, period=period, split=split, days=form.days(), fmt=fmt, request=request
    )
    first, last = form.days()
    response = StreamingHttpResponse(
        label_lines(
            actor=request.user,
            period=period,
            split=split,
            chunk_size=settings.TSOPS_LABEL_EXPORT_CHUNK_SIZE,
        ),
        content_type=CONTENT_TYPE,
    )
    filename = f"tsops-labels-{first}-{last}{'-' + split if split else ''}.jsonl"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _page(request: HttpRequest, form: LabelExportForm, status: int = 200) -> HttpResponse:
    shares = settings.TSOPS_LABEL_SPLITS
    context = {
        "form": form,
        "splits": [
            {"name": name, "percent": round(share * 100, 1)}
            for name, share in zip(SPLITS, shares, strict=True)
        ],
        "max_days": settings.TSOPS_LABEL_EXPORT_MAX_DAYS,
    }
    return render(request, "detection/labels/export.html", context, status=status)


@console_view("export_data")
@require_GET
def labels_view(request: HttpRequest) -> HttpResponse:
    """The download form, set to the last 30 days."""
    today = timezone.localdate()
    initial = {"from": today - timedelta(days=29), "to": today}
    return _page(request, LabelExportForm(initial=initial))


@console_view("export_data")
@require_GET
def labels_download_view(request: HttpRequest) -> HttpResponse:
    """The export as a JSON Lines file; bad input shows the form again with what is wrong."""
    form = LabelExportForm(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    return labels_stream(request, form, fmt="jsonl")
