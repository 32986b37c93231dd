"""REST views of the metrics: every KPI over a period, with its definition's version."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.serializers import ReportReasonField
from metrics import selectors
from metrics.forms import MAX_DAYS, MetricsFilterForm, queue_slugs
from metrics.kpis import REGISTRY
from tsops.api import period_description

_POINT = inline_serializer(
    "KpiSeriesPoint",
    {"date": serializers.DateField(), "value": serializers.FloatField(allow_null=True)},
)
_BREAKDOWN_ROW = inline_serializer(
    "KpiBreakdownRow",
    {
        "label": serializers.CharField(),
        "value": serializers.FloatField(allow_null=True),
    },
)
_KPI_VALUE = inline_serializer(
    "KpiValue",
    {
        "name": serializers.CharField(),
        "group": serializers.CharField(),
        "version": serializers.IntegerField(),
        "unit": serializers.CharField(),
        "value": serializers.FloatField(allow_null=True),
        "interval": serializers.ListField(
            child=serializers.FloatField(), min_length=2, max_length=2, allow_null=True
        ),
        "n": serializers.IntegerField(allow_null=True),
        "as_of": serializers.DateField(
            allow_null=True,
            help_text="The day a snapshot figure (the backlog) was taken; null for the others.",
        ),
        "series": serializers.ListField(child=_POINT),
        "breakdown": serializers.ListField(
            child=_BREAKDOWN_ROW, help_text="Rows may carry further columns."
        ),
    },
)
_KPI_REPORT = inline_serializer(
    "KpiReport",
    {
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "filters": inline_serializer(
            "KpiFilters",
            {
                "queue": serializers.CharField(allow_null=True),
                "severity": serializers.IntegerField(allow_null=True),
                "reason": serializers.CharField(allow_null=True),
            },
        ),
        "kpis": serializers.DictField(child=_KPI_VALUE),
    },
)


class QueueSlugField(serializers.CharField):
    """A case queue, by slug."""


class QueueSlugScheme(OpenApiSerializerFieldExtension):
    """The enum is read when the schema is generated, from the queues the filter form chooses
    among (``metrics.forms.queue_slugs``); one the caller may not work is answered 404."""

    target_class = QueueSlugField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": queue_slugs()}


# The query parameters whose values are stored rows: their enums are read when the schema is
# served, as the form reads its choices.
KpiFilterQuery = inline_serializer(
    "KpiFilterQuery",
    {
        "queue": QueueSlugField(required=False, help_text="Queue slug"),
        "reason": ReportReasonField(required=False, help_text="Report reason code"),
    },
)


class KpiListApi(APIView):
    """Every KPI over a period (inclusive days), read from the rollups, for leads.

    Restricted cases count only for the teams entitled to see them. Each KPI carries its
    definition's ``version``; the definitions themselves are shown on the dashboard."""

    required_scopes = {"GET": "metrics:read"}

    @extend_schema(
        description=period_description(max_days=MAX_DAYS, until_today=True),
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description=f"First day (default: 29 days before `to`; at most {MAX_DAYS} days)",
            ),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: today)"),
            OpenApiParameter("severity", OpenApiTypes.INT, enum=[0, 1, 2, 3]),
            KpiFilterQuery,
        ],
        responses={
            200: _KPI_REPORT,
            404: OpenApiResponse(
                description="No such period (see the description), or a queue you may not work."
            ),
        },
    )
    def get(self, request):
        if not selectors.can_view_team_metrics(request.user):
            raise exceptions.PermissionDenied("Your role does not show team metrics.")
        form = MetricsFilterForm(request.query_params, actor=request.user)
        if not form.is_valid():
            if missing := form.not_found():
                raise exceptions.NotFound(missing)
            raise exceptions.ValidationError(form.api_errors())
        filters = form.filters()
        report = selectors.team_report(actor=request.user, filters=filters)
        return Response(kpi_report_json(report, filters))


def kpi_report_json(report: dict, filters) -> dict:
    """The report as the API answers it: each KPI with its name, group and version."""
    kpis = {}
    for key, entry in report.get("kpis", {}).items():
        kpi = REGISTRY.get(key)
        entry = entry or {}
        kpis[key] = {
            "name": kpi.name if kpi else key,
            "group": kpi.group if kpi else "",
            "version": kpi.version if kpi else None,
            "unit": entry.get("unit") or (kpi.unit if kpi else ""),
            "value": entry.get("value"),
            "interval": entry.get("interval"),
            "n": entry.get("n"),
            "as_of": entry.get("as_of"),
            "series": entry.get("series") or [],
            "breakdown": entry.get("breakdown") or [],
        }
    described = filters.describe()
    return {
        "from": report.get("from", described["from"]),
        "to": report.get("to", described["to"]),
        "filters": {k: described[k] for k in ("queue", "severity", "reason")},
        "kpis": kpis,
    }
