"""HTML views of the metrics: the leads' dashboard, live operations and an analyst's figures.

Thin: the filter form in, one selector, a template or a CSV out. Every table on these pages
downloads as CSV with ``?format=csv&table=<name>`` (logged in the access log). The live
operations table reads the cases table and is loaded (and refreshed every minute) as its
own fragment, so the dashboard page itself reads only the rollups and stays as fast at a
million cases as at ten thousand.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from metrics import presentation, selectors
from metrics.forms import RANGE_PRESETS, MetricsFilterForm, MetricsFilters, default_period
from tsops.csv import csv_response
from tsops.decorators import console_view
from tsops.models import AccessLog
from tsops.services import access_log_record

LIVE_REFRESH_SECONDS = 60


def _filter_form(request: HttpRequest) -> MetricsFilterForm:
    """The filters of the request, with the default period where none was given."""
    data = request.GET.copy()
    for name in ("format", "table"):
        data.pop(name, None)
    default_from, default_to = default_period()
    if not data.get("to"):
        data["to"] = default_to.isoformat()
    if not data.get("from") and data["to"] == default_to.isoformat():
        data["from"] = default_from.isoformat()
    return MetricsFilterForm(data, actor=request.user)


def _live_filters(form: MetricsFilterForm) -> selectors.LiveFilters:
    """The valid part of the filters (live operations ignore the period)."""
    data = getattr(form, "cleaned_data", {})
    return selectors.LiveFilters(
        queue=data.get("queue") if "queue" not in form.errors else None,
        severity=data.get("severity") if "severity" not in form.errors else None,
        reason=(data.get("reason") or "") if "reason" not in form.errors else "",
    )


def _export(
    request: HttpRequest, *, page: str, table: str, filters: dict, data: presentation.CsvTable
) -> HttpResponse:
    """Log the export in the access log, then send the table."""
    access_log_record(
        actor=request.user,
        action=AccessLog.Action.EXPORTED,
        object_type=f"metrics.{page}",
        object_id=table,
        request=request,
        detail={"filters": filters},
    )
    stamp = "_".join(str(v) for v in (filters.get("from"), filters.get("to")) if v)
    filename = f"tsops-{page}-{table}{'-' + stamp if stamp else ''}.csv"
    return csv_response(filename=filename, header=data.header, rows=data.rows)


def _csv_links(request: HttpRequest, tables: tuple[str, ...]) -> dict[str, str]:
    query = request.GET.copy()
    links = {}
    for table in tables:
        query["format"] = "csv"
        query["table"] = table
        links[table] = f"?{query.urlencode()}"
    return links


def _csv_base(request: HttpRequest) -> str:
    """The page's query without format/table, for per-table CSV links."""
    query = request.GET.copy()
    for name in ("format", "table"):
        query.pop(name, None)
    return query.urlencode()


def _presets(request: HttpRequest, filters: MetricsFilters | None) -> list[dict]:
    """Quick links for the last 7, 30 and 90 days, keeping the other filters."""
    _, today = default_period()
    presets = []
    for days in RANGE_PRESETS:
        query = request.GET.copy()
        for name in ("format", "table"):
            query.pop(name, None)
        start = today - timedelta(days=days - 1)
        query["from"], query["to"] = start.isoformat(), today.isoformat()
        presets.append(
            {
                "days": days,
                "query": query.urlencode(),
                "active": filters is not None and filters.date_to == today and filters.days == days,
            }
        )
    return presets


@console_view("view_team_metrics")
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = request.user
    form = _filter_form(request)
    valid = form.is_valid()
    filters = form.filters() if valid else None
    wants_csv = request.GET.get("format") == "csv"
    table = request.GET.get("table", "")

    if wants_csv and table == "live":
        live = selectors.live_operations(actor=actor, filters=_live_filters(form))
        described = filters.describe() if filters else {}
        return _export(
            request,
            page="dashboard",
            table="live",
            filters=described,
            data=presentation.live_csv(live),
        )

    report = selectors.team_report(actor=actor, filters=filters) if filters else None
    # With bad filters a CSV link shows the page instead, which explains what is wrong.
    if wants_csv and report is not None:
        exported = presentation.report_csv(report, table)
        if exported is None:
            raise Http404("No such table.")
        return _export(
            request, page="dashboard", table=table, filters=filters.describe(), data=exported
        )

    live_query = QueryDict(mutable=True)
    for name in ("queue", "severity", "reason"):
        if value := request.GET.get(name):
            live_query[name] = value
    context = {
        "form": form,
        "filters": filters,
        "presets": _presets(request, filters),
        "live_url": f"{reverse('metrics:live')}?{live_query.urlencode()}".rstrip("?"),
        "live_refresh": LIVE_REFRESH_SECONDS,
        "csv_links": _csv_links(request, presentation.REPORT_TABLES),
        "csv_base": _csv_base(request),
        "page": presentation.report_page(report) if report else None,
    }
    return render(request, "metrics/dashboard.html", context)


@console_view("view_team_metrics")
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """Live operations: the fragment the dashboard loads and refreshes (a page without htmx)."""
    form = _filter_form(request)
    form.is_valid()
    live_filters = _live_filters(form)
    live_ops = selectors.live_operations(actor=request.user, filters=live_filters)
    if request.GET.get("format") == "csv":
        described = {
            "queue": live_filters.queue.slug if live_filters.queue else None,
            "severity": live_filters.severity,
            "reason": live_filters.reason or None,
        }
        return _export(
            request,
            page="live",
            table="live",
            filters=described,
            data=presentation.live_csv(live_ops),
        )
    query = {k: v for k, v in request.GET.items() if k in ("queue", "severity", "reason") and v}
    context = {
        "live": live_ops,
        "csv_url": f"{reverse('metrics:live')}?{urlencode({**query, 'format': 'csv'})}",
    }
    template = "metrics/_live.html" if request.htmx else "metrics/live.html"
    return render(request, template, context)


@console_view()
@require_GET
def my_figures(request: HttpRequest) -> HttpResponse:
    """The signed-in analyst's own figures over a period."""
    actor = request.user
    if not selectors.can_view_own_figures(actor):
        raise PermissionDenied("Only members who decide cases have figures of their own.")
    form = _filter_form(request)
    valid = form.is_valid()
    filters = form.filters() if valid else None
    report = selectors.own_report(actor=actor, filters=filters) if filters else None
    if request.GET.get("format") == "csv" and report is not None:
        exported = presentation.report_csv(
            report, request.GET.get("table", ""), keys=selectors.OWN_KPIS
        )
        if exported is None:
            raise Http404("No such table.")
        return _export(
            request,
            page="my-figures",
            table=request.GET.get("table", ""),
            filters=filters.describe(),
            data=exported,
        )
    context = {
        "form": form,
        "filters": filters,
        "presets": _presets(request, filters),
        "csv_links": _csv_links(request, presentation.REPORT_TABLES),
        "csv_base": _csv_base(request),
        "page": presentation.report_page(report, keys=selectors.OWN_KPIS) if report else None,
    }
    return render(request, "metrics/my_figures.html", context)
