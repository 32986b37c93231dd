"""REST views for escalations: validate, call one service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from escalations import selectors, services
from escalations.models import Escalation, ReferralKind, Team
from escalations.permissions import check_raise_escalation
from tsops.json_input import StrictJsonInput


class EscalationSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")
    severity = serializers.CharField(source="severity_code")
    raised_by = serializers.CharField(source="raised_by.username", default=None, allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", default=None, allow_null=True
    )
    resolved_by = serializers.CharField(
        source="resolved_by.username", default=None, allow_null=True
    )

    class Meta:
        model = Escalation
        fields = [
            "id",
            "case_id",
            "team",
            "severity",
            "status",
            "summary",
            "criteria",
            "next_steps",
            "raised_by",
            "raised_at",
            "ack_due",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "outcome",
            "referral_kind",
            "referral_agency",
            "referral_reference",
            "referral_date",
            "referral",
            "decision_id",
            "returned_note",
        ]


class TeamSlugField(serializers.SlugField):
    """A specialist team, by slug (``services.escalation_raise`` looks it up)."""


class TeamSlugScheme(OpenApiSerializerFieldExtension):
    """The enum is read when the schema is generated, from the table the service looks teams
    up in, so the served schema names the teams the server accepts."""

    target_class = TeamSlugField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": sorted(Team.objects.values_list("slug", flat=True))}


class EscalationRaiseInput(StrictJsonInput, serializers.Serializer):
    team = TeamSlugField()
    severity = serializers.ChoiceField(["P0", "P1", "P2", "P3"])
    summary = serializers.CharField()
    criteria = serializers.CharField()
    next_steps = serializers.CharField(required=False, allow_blank=True, default="")


class EscalationResolveInput(StrictJsonInput, serializers.Serializer):
    outcome = serializers.CharField()
    referral_kind = serializers.ChoiceField(
        choices=ReferralKind.choices, required=False, allow_blank=True, default=""
    )
    referral_agency = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    referral_reference = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    referral_date = serializers.DateField(required=False, allow_null=True, default=None)
    referral = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Deprecated free-text note; use referral_kind, referral_agency, "
        "referral_reference and referral_date.",
    )
    decision = serializers.DictField(required=False, allow_null=True, default=None)


class EscalationReturnInput(StrictJsonInput, serializers.Serializer):
    note = serializers.CharField()
    unrestrict = serializers.BooleanField(required=False, default=False)


class EscalationAnswer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


class CaseEscalationCreateApi(APIView):
    """Escalate a case to a specialist team; answers with the escalation's id and status."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=EscalationRaiseInput, responses={201: EscalationAnswer})
    def post(self, request, case_id: int):
        from cases.selectors import case_get_for

        # 404, then 403, before the body is read.
        check_raise_escalation(request.user, case_get_for(actor=request.user, case_id=case_id))
        data = EscalationRaiseInput(data=request.data)
        data.is_valid(raise_exception=True)
        escalation = services.escalation_raise(
            actor=request.user, case_id=case_id, **data.validated_data
        )
        return Response(
            {"id": escalation.pk, "status": escalation.status}, status=status.HTTP_201_CREATED
        )


class EscalationListApi(APIView):
    """Escalations on cases the caller may see, newest first, by team and status."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        operation_id="v1_escalations_list",
        parameters=[
            OpenApiParameter("team", str),
            OpenApiParameter("status", str, enum=Escalation.Status.values),
        ],
        responses=inline_serializer("EscalationList", {"results": EscalationSerializer(many=True)}),
    )
    def get(self, request):
        params = request.query_params
        if params.get("status") and params["status"] not in Escalation.Status.values:
            raise serializers.ValidationError(
                {"status": [f"One of: {', '.join(Escalation.Status.values)}."]}
            )
        escalations = selectors.escalation_list(
            actor=request.user, team=params.get("team", ""), status=params.get("status", "")
        )[:200]
        return Response({"results": EscalationSerializer(escalations, many=True).data})


class EscalationDetailApi(APIView):
    """One escalation (without its packet)."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(responses=EscalationSerializer)
    def get(self, request, escalation_id: int):
        escalation = selectors.escalation_get_for(actor=request.user, escalation_id=escalation_id)
        return Response(EscalationSerializer(escalation).data)


class EscalationAcknowledgeApi(APIView):
    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=None, responses=EscalationSerializer)
    def post(self, request, escalation_id: int):
        escalation = services.escalation_acknowledge(
            actor=request.user, escalation_id=escalation_id
        )
        return Response(EscalationSerializer(escalation).data)


class EscalationResolveApi(APIView):
    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=EscalationResolveInput, responses=EscalationSerializer)
    def post(self, request, escalation_id: int):
        selectors.escalation_get_for_work(actor=request.user, escalation_id=escalation_id)
        data = EscalationResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        escalation = services.escalation_resolve(
            actor=request.user, escalation_id=escalation_id, **data.validated_data
        )
        return Response(EscalationSerializer(escalation).data)


class EscalationReturnApi(APIView):
    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=EscalationReturnInput, responses=EscalationSerializer)
    def post(self, request, escalation_id: int):
        selectors.escalation_get_for_work(actor=request.user, escalation_id=escalation_id)
        data = EscalationReturnInput(data=request.data)
        data.is_valid(raise_exception=True)
        escalation = services.escalation_return(
            actor=request.user, escalation_id=escalation_id, **data.validated_data
        )
        return Response(EscalationSerializer(escalation).data)
