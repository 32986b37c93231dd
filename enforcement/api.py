"""REST views of enforcement: validate input, call one service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from enforcement import selectors, services
from enforcement.models import Decision, EnforcementAction
from enforcement.serializers import (
    ActionSerializer,
    DecisionInputSerializer,
    DecisionSerializer,
    PolicySectionSerializer,
)


class PolicyListApi(APIView):
    """The current policy sections with codes, titles, public summaries and severities."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(responses=PolicySectionSerializer(many=True))
    def get(self, request):
        sections = selectors.policy_sections_current().order_by("code")
        return Response(PolicySectionSerializer(sections, many=True).data)


class CaseDecisionApi(APIView):
    """Decide a case: outcome, policy section, rationale, statement of reasons, actions."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=DecisionInputSerializer, responses={201: DecisionSerializer})
    def post(self, request, case_id: int):
        from cases.selectors import case_get_for

        case_get_for(actor=request.user, case_id=case_id)
        serializer = DecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        decision = services.decision_make(
            actor=request.user,
            case_id=case_id,
            outcome=data["outcome"],
            policy_section=data["policy_section"],
            rationale=data["rationale"],
            statement_of_reasons=data["statement_of_reasons"],
            actions=data["actions"],
            version=data["version"],
        )
        decision = Decision.objects.select_related("case", "policy_section", "decided_by").get(
            pk=decision.pk
        )
        return Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class ActionApproveApi(APIView):
    """Approve a pending action (a senior other than its proposer)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=None, responses=ActionSerializer)
    def post(self, request, action_id: int):
        action = services.action_approve(actor=request.user, action_id=action_id)
        return Response(ActionSerializer(action).data)


ReasonInput = inline_serializer("ReasonInput", {"reason": serializers.CharField()})


class ActionRejectApi(APIView):
    """Reject a pending action with a reason; the case returns to its queue."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=ReasonInput, responses=ActionSerializer)
    def post(self, request, action_id: int):
        data = request.data if isinstance(request.data, dict) else {}
        action = services.action_reject(
            actor=request.user, action_id=action_id, reason=str(data.get("reason", ""))
        )
        return Response(ActionSerializer(action).data)


class ActionReverseApi(APIView):
    """Reverse an active or expired action (seniors), with a reason."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=ReasonInput, responses=ActionSerializer)
    def post(self, request, action_id: int):
        data = request.data if isinstance(request.data, dict) else {}
        action = services.action_reverse(
            actor=request.user, action_id=action_id, reason=str(data.get("reason", ""))
        )
        return Response(ActionSerializer(action).data)


class SubjectEnforcementApi(APIView):
    """The enforcement on a subject, as support may tell the user (public facts only)."""

    required_scopes = {"GET": "enforcement:read"}

    @extend_schema(
        responses=inline_serializer(
            "EnforcementLookup",
            {
                "subject": serializers.DictField(),
                "actions": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request, kind: str, external_id: str):
        from tsops.models import AccessLog
        from tsops.services import access_log_record

        result = selectors.enforcement_lookup(
            actor=request.user, kind=kind, external_id=external_id
        )
        access_log_record(
            actor=request.user,
            action=AccessLog.Action.LOOKED_UP,
            object_type="cases.subject",
            object_id=f"{kind}:{external_id}",
            request=request,
        )
        return Response(result)


__all__ = ["EnforcementAction"]
