"""REST views of enforcement: validate input, call one service or selector, serialize."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from enforcement import selectors, services
from enforcement.models import Decision, EnforcementAction
from enforcement.permissions import (
    check_bulk_decide,
    check_decide_case,
    check_reverse_action,
    check_review_action,
)
from enforcement.serializers import (
    ActionSerializer,
    DecisionInputSerializer,
    DecisionSerializer,
    PolicySectionSerializer,
    with_decision_rules,
)
from tsops.api import NoSuchPeriod, period_description
from tsops.json_input import StrictJsonInput


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

        try:
            serializer = DecisionInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
        except exceptions.APIException:
            # Who may decide is answered before what the body says (404, then 403, then 400),
            # as the service answers a valid body: a refused body costs the check here.
            check_decide_case(request.user, case_get_for(actor=request.user, case_id=case_id))
            raise
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
        # The decision comes back with its case, section, decider and actions in hand.
        return Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class ActionApproveApi(APIView):
    """Approve a pending action (a senior other than its proposer)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=None, responses=ActionSerializer)
    def post(self, request, action_id: int):
        action = services.action_approve(actor=request.user, action_id=action_id)
        return Response(ActionSerializer(action).data)


class ReasonInput(StrictJsonInput, serializers.Serializer):
    reason = serializers.CharField()


class ActionRejectApi(APIView):
    """Reject a pending action with a reason; the case returns to its queue."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=ReasonInput, responses=ActionSerializer)
    def post(self, request, action_id: int):
        check_review_action(
            request.user,
            selectors.action_get_for_case_worker(actor=request.user, action_id=action_id),
        )
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        action = services.action_reject(
            actor=request.user, action_id=action_id, reason=data.validated_data["reason"]
        )
        return Response(ActionSerializer(action).data)


class ActionReverseApi(APIView):
    """Reverse an active or expired action (seniors), with a reason."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=ReasonInput, responses=ActionSerializer)
    def post(self, request, action_id: int):
        check_reverse_action(
            request.user,
            selectors.action_get_for_case_worker(actor=request.user, action_id=action_id),
        )
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        action = services.action_reverse(
            actor=request.user, action_id=action_id, reason=data.validated_data["reason"]
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


class BulkDecisionInput(StrictJsonInput, serializers.Serializer):
    case_ids = serializers.ListField(child=serializers.IntegerField(), min_length=1)
    outcome = serializers.ChoiceField(choices=Decision.Outcome.choices)
    policy_section = serializers.CharField(required=False, allow_blank=True, default="")
    rationale = serializers.CharField()
    statement_of_reasons = serializers.CharField(required=False, allow_blank=True, default="")
    actions = serializers.ListField(child=serializers.DictField(), required=False, default=list)


class BulkDecisionScheme(OpenApiSerializerExtension):
    """Each case is decided as ``decision_make`` decides one: the same rules between outcome,
    policy section and actions as a single decision's body."""

    target_class = BulkDecisionInput

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return with_decision_rules(schema)


class DecisionBulkApi(APIView):
    """Decide many cases alike (a spam wave): each gets its own decision and actions."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=BulkDecisionInput,
        responses={
            201: DecisionSerializer(many=True),
            404: OpenApiResponse(description="One of the cases does not exist (or is hidden)."),
        },
    )
    def post(self, request):
        check_bulk_decide(request.user)
        data = BulkDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        decisions = services.decisions_bulk(
            actor=request.user,
            case_ids=values["case_ids"],
            outcome=values["outcome"],
            rationale=values["rationale"],
            policy_section=values["policy_section"],
            statement_of_reasons=values["statement_of_reasons"],
            actions=values["actions"],
        )
        decisions = Decision.objects.filter(pk__in=[d.pk for d in decisions]).select_related(
            "case", "policy_section", "decided_by"
        )
        return Response(
            DecisionSerializer(decisions, many=True).data, status=status.HTTP_201_CREATED
        )


__all__ = ["EnforcementAction"]


_STATEMENT_OF_REASONS = inline_serializer(
    "StatementOfReasons",
    {
        "decision_ground": serializers.CharField(),
        "category": serializers.CharField(),
        "content_type": serializers.ListField(child=serializers.CharField()),
        "source_type": serializers.CharField(),
        "automated_detection": serializers.CharField(),
        "automated_decision": serializers.CharField(),
        "content_date": serializers.DateField(),
        "application_date": serializers.DateField(),
        "decision_facts": serializers.CharField(),
        "territorial_scope": serializers.ListField(child=serializers.CharField()),
        "puid": serializers.CharField(),
    },
)


class ActionStatementOfReasonsApi(APIView):
    """The DSA Transparency Database statement of reasons for one applied action."""

    required_scopes = {"GET": "enforcement:read"}

    @extend_schema(
        responses={
            200: _STATEMENT_OF_REASONS,
            409: OpenApiResponse(
                description="The action was never applied (pending approval or rejected)."
            ),
        }
    )
    def get(self, request, action_id: int):
        from enforcement.statements import statement_get_for

        return Response(statement_get_for(actor=request.user, action_id=action_id))


class StatementExportRenderer(JSONRenderer):
    """Lets clients ask for JSON Lines (errors are still answered as one JSON object)."""

    media_type = "application/x-ndjson"
    format = "jsonl"


class StatementExportApi(APIView):
    """A period's statements of reasons as JSON Lines, one per applied action, for bulk
    submission to the Transparency Database."""

    required_scopes = {"GET": "enforcement:read"}
    renderer_classes = [JSONRenderer, StatementExportRenderer]

    def handle_exception(self, exc):
        # An error is one JSON object, answered as application/json whatever format was asked.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First day"),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="Last day"),
        ],
        description=period_description(),
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            # DRF answers an unknown ``format`` as 404.
            404: OpenApiResponse(description="Unknown ``format``, or no such period."),
        },
    )
    def get(self, request):
        import json
        from datetime import date

        from django.http import StreamingHttpResponse

        from enforcement.statements import statements_export
        from tsops.models import AccessLog
        from tsops.services import access_log_record

        days: dict[str, date] = {}
        errors: dict[str, list[str]] = {}
        for name in ("from", "to"):
            raw = request.query_params.get(name, "")
            try:
                days[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = ["A date in the format YYYY-MM-DD is required."]
        if errors:
            raise serializers.ValidationError(errors)
        if days["from"] > days["to"]:
            raise NoSuchPeriod("Must be on or after from.")
        rows = statements_export(actor=request.user, start=days["from"], end=days["to"])
        access_log_record(
            actor=request.user,
            action=AccessLog.Action.EXPORTED,
            object_type="enforcement.statementofreasons",
            object_id=f"{days['from']}..{days['to']}",
            request=request,
            detail={"from": days["from"].isoformat(), "to": days["to"].isoformat()},
        )
        response = StreamingHttpResponse(
            (json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
            content_type="application/x-ndjson; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="statements-of-reasons-{days["from"]}-{days["to"]}.jsonl"'
        )
        return response
