"""REST views of alerts: the list (open first), one alert, acknowledging and resolving.

Reading takes the ``metrics:read`` scope (alerts are monitoring figures); acknowledging and
resolving take ``cases:write`` (the scope of working things, as escalations are worked)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from detection.models import Alert
from detection.permissions_alerts import can_view_alerts
from detection.selectors.alerts import alert_get_for, alert_list
from detection.services import alerts as services
from tsops.json_input import StrictJsonInput

LIST_LIMIT = 500


class AlertSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    resolved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "kind_label",
            "key",
            "status",
            "title",
            "detail",
            "team",
            "opened_at",
            "last_seen_at",
            "evaluations",
            "quiet_hours",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution",
        ]


class AlertResolveInput(StrictJsonInput, serializers.Serializer):
    resolution = serializers.CharField(max_length=services.MAX_RESOLUTION)


def _check_alerts(user) -> None:
    if not can_view_alerts(user):
        raise PermissionDenied("Alerts are for analysts, seniors and specialist teams.")


def _choice(params, name: str, values: list[str]) -> str:
    value = params.get(name, "")
    if value and value not in values:
        raise serializers.ValidationError({name: [f"One of: {', '.join(values)}."]})
    return value


class AlertListApi(APIView):
    """The alerts the caller may see: open first, then acknowledged, then resolved."""

    required_scopes = {"GET": "metrics:read"}

    @extend_schema(
        operation_id="v1_alerts_list",
        parameters=[
            OpenApiParameter("status", str, enum=Alert.Status.values),
            OpenApiParameter("kind", str, enum=Alert.Kind.values),
        ],
        responses={
            200: AlertSerializer(many=True),
            400: OpenApiResponse(description="An unknown status or kind, named"),
            403: OpenApiResponse(description="Alerts are not for the caller's role"),
        },
    )
    def get(self, request):
        _check_alerts(request.user)
        status = _choice(request.query_params, "status", Alert.Status.values)
        kind = _choice(request.query_params, "kind", Alert.Kind.values)
        alerts = alert_list(actor=request.user, status=status, kind=kind)[:LIST_LIMIT]
        return Response(AlertSerializer(alerts, many=True).data)


class AlertDetailApi(APIView):
    """One alert (404 for one the caller may not see)."""

    required_scopes = {"GET": "metrics:read"}

    @extend_schema(responses={200: AlertSerializer, 404: OpenApiResponse(description="No such")})
    def get(self, request, alert_id: int):
        return Response(AlertSerializer(alert_get_for(actor=request.user, id=alert_id)).data)


class AlertAcknowledgeApi(APIView):
    """Take the alert: it stops ending by itself and waits for a person to resolve it."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=None,
        responses={
            200: AlertSerializer,
            404: OpenApiResponse(description="No such alert"),
            409: OpenApiResponse(description="The alert is not open"),
        },
    )
    def post(self, request, alert_id: int):
        alert = alert_get_for(actor=request.user, id=alert_id)
        alert = services.alert_acknowledge(actor=request.user, alert=alert)
        return Response(AlertSerializer(alert).data)


class AlertResolveApi(APIView):
    """End the episode with what was found (``resolution`` required)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=AlertResolveInput,
        responses={
            200: AlertSerializer,
            400: OpenApiResponse(description="`resolution` missing or blank"),
            404: OpenApiResponse(description="No such alert"),
            409: OpenApiResponse(description="The alert is already resolved"),
        },
    )
    def post(self, request, alert_id: int):
        alert = alert_get_for(actor=request.user, id=alert_id)
        data = AlertResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.alert_resolve(
            actor=request.user, alert=alert, resolution=data.validated_data["resolution"]
        )
        return Response(AlertSerializer(alert).data)
