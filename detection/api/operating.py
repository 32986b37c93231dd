"""REST views of the detector operating points (scope ``metrics:read``, as the metrics)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from detection.forms_operating import MAX_DAYS, OperatingWindowForm
from detection.permissions_operating import can_view_operating_points
from detection.selectors.operating import Window, detector_list, detector_operating_points
from tsops.api import NoSuchPeriod, period_description


def _interval(help_text: str = "95% Wilson interval; null when nothing was decided"):
    return serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text=help_text,
    )


def _precision_fields() -> dict:
    return {
        "decided": serializers.IntegerField(help_text="Flags a human decision decided"),
        "confirmed": serializers.IntegerField(help_text="…of which found a violation"),
        "precision": serializers.FloatField(allow_null=True, help_text="confirmed / decided"),
        "interval": _interval(),
    }


_WEEK = inline_serializer(
    "DetectorWeek", {"week": serializers.DateField(help_text="Monday (UTC)"), **_precision_fields()}
)
_PRECISION = inline_serializer("DetectorPrecision", _precision_fields())
_DRIFT = inline_serializer(
    "DetectorDriftTest",
    {
        "week": serializers.DateField(),
        "tested": serializers.BooleanField(help_text="Both sides had enough decided flags"),
        "drift": serializers.BooleanField(),
        "observed": _PRECISION,
        "expected": _PRECISION,
    },
)
_DETECTOR = inline_serializer(
    "Detector",
    {
        "name": serializers.CharField(),
        "volume": serializers.IntegerField(help_text="Scored flags in the window"),
        **_precision_fields(),
        "latest_week": _WEEK,
        "drift": serializers.BooleanField(),
    },
)
_DETECTOR_LIST = inline_serializer(
    "DetectorList",
    {
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "detectors": serializers.ListField(child=_DETECTOR),
    },
)
_GRID_ROW = inline_serializer(
    "OperatingPoint",
    {
        "threshold": serializers.FloatField(),
        "volume": serializers.IntegerField(help_text="Flags scored at or above the threshold"),
        **_precision_fields(),
        "recall": serializers.FloatField(allow_null=True),
    },
)
_OPERATING_POINTS = inline_serializer(
    "DetectorOperatingPoints",
    {
        "name": serializers.CharField(),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "confirmed_violations": serializers.IntegerField(
            help_text="Cases confirmed as violations of the reasons the detector flags (recall's "
            "denominator)"
        ),
        "grid": serializers.ListField(child=_GRID_ROW),
        "thresholds_in_use": serializers.ListField(
            child=inline_serializer(
                "ThresholdInUse",
                {
                    "threshold": serializers.FloatField(),
                    "label": serializers.CharField(),
                    "effect": serializers.CharField(),
                },
            )
        ),
        "recommendations": serializers.ListField(
            child=inline_serializer(
                "ThresholdRecommendation",
                {
                    "severity": serializers.CharField(),
                    "severity_label": serializers.CharField(),
                    "target": serializers.FloatField(),
                    "threshold": serializers.FloatField(allow_null=True),
                    "precision": serializers.FloatField(allow_null=True),
                    "interval": _interval("The recommended threshold's interval"),
                    "volume": serializers.IntegerField(allow_null=True),
                },
            )
        ),
        "weekly": serializers.ListField(child=_WEEK),
        "drift": _DRIFT,
    },
)

_WINDOW_PARAMETERS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.DATE,
        description="First day of flags (default: the configured window before `to`)",
    ),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day of flags (default: today)"),
]
_DESCRIPTION = period_description(max_days=MAX_DAYS, until_today=True)


def _window(request: Request) -> Window:
    """Who may is answered first (403), then the dates (400 naming the field, 404 for a pair
    that names no window)."""
    if not can_view_operating_points(request.user):
        raise exceptions.PermissionDenied("Your role does not show detector figures.")
    form = OperatingWindowForm(request.query_params)
    if not form.is_valid():
        raise exceptions.ValidationError({k: list(v) for k, v in form.errors.items()})
    if problem := form.no_such_period():
        raise NoSuchPeriod(problem)
    return form.window()


class DetectorListApi(APIView):
    """Every detector with scored flags on cases counting in the caller's figures: volume,
    decided, precision with interval over the window, and the latest complete week."""

    required_scopes = {"GET": "metrics:read"}

    @extend_schema(
        description=_DESCRIPTION,
        parameters=_WINDOW_PARAMETERS,
        responses={
            200: _DETECTOR_LIST,
            400: OpenApiResponse(description="A malformed date, named under its field"),
            404: OpenApiResponse(description="No such period (see the description)"),
        },
    )
    def get(self, request):
        window = _window(request)
        return Response(
            {
                "from": window.date_from,
                "to": window.date_to,
                "detectors": detector_list(actor=request.user, window=window),
            }
        )


class DetectorOperatingPointsApi(APIView):
    """One detector by score threshold (every 0.05 from 0 to 1 and each threshold in use):
    volume, decided, confirmed, precision with interval and recall; the thresholds routing
    applies today; the recommended threshold per severity; weekly precision and drift."""

    required_scopes = {"GET": "metrics:read"}

    @extend_schema(
        description=_DESCRIPTION,
        parameters=_WINDOW_PARAMETERS,
        responses={
            200: _OPERATING_POINTS,
            400: OpenApiResponse(description="A malformed date, named under its field"),
            404: OpenApiResponse(description="No such detector, or no such period"),
        },
    )
    def get(self, request, name: str):
        window = _window(request)
        return Response(detector_operating_points(actor=request.user, name=name, window=window))
