"""REST views of rules: list and create, one rule, versions, lifecycle, backtests, snoozes.

Reading needs scope ``rules:read`` and writing ``rules:write``; both are for seniors (the
capability ``manage_rules``). Calling off an action a rule asked for on a case is case work
(scope ``cases:write``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models import Subject
from detection.expressions import MAX_LENGTH
from detection.permissions import check_manage_rules
from detection.selectors.rules import (
    STATES,
    backtest_describe,
    backtest_get_for,
    input_reference,
    rule_describe,
    rule_get_for,
    rule_list,
    version_describe,
)
from detection.services.backtests import backtest_request
from detection.services.rule_actions import rule_action_get_for, rule_action_intervene
from detection.services.rules import (
    rule_activate,
    rule_create,
    rule_resume,
    rule_retire,
    rule_shadow,
    rule_snooze,
    rule_version_add,
)
from tsops.json_input import StrictJsonInput

_EFFECTS_HELP = (
    "Effects as JSON objects: route {queue, severity?}, severity {severity}, tag {tag}, "
    "escalate {team}, action {action, delay_hours, section?, duration_hours?}"
)


class RuleInputSerializer(StrictJsonInput, serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    expression = serializers.CharField(max_length=MAX_LENGTH, trim_whitespace=False)
    effects = serializers.ListField(
        child=serializers.DictField(), max_length=20, help_text=_EFFECTS_HELP
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    position = serializers.IntegerField(required=False, min_value=0, max_value=100000)


class VersionInputSerializer(StrictJsonInput, serializers.Serializer):
    expression = serializers.CharField(max_length=MAX_LENGTH, trim_whitespace=False)
    effects = serializers.ListField(
        child=serializers.DictField(), max_length=20, help_text=_EFFECTS_HELP
    )
    note = serializers.CharField(max_length=2000)
    based_on = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you edited (409 if a newer exists)"
    )


class VersionChoiceSerializer(StrictJsonInput, serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version number")


class RetireSerializer(StrictJsonInput, serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why it stops (kept in its history)")


class BacktestInputSerializer(StrictJsonInput, serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1)
    compare_version = serializers.IntegerField(
        required=False, min_value=1, help_text="Run beside it (default: the live version)"
    )
    # "from" is a Python keyword: the field is declared below under its JSON name.
    to = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        return fields


class SnoozeInputSerializer(StrictJsonInput, serializers.Serializer):
    # Checked by the service (no second enum of subject kinds in the schema).
    subject_kind = serializers.CharField(
        max_length=20, help_text="One of: " + ", ".join(Subject.Kind.values)
    )
    external_id = serializers.CharField(max_length=200)
    until = serializers.DateTimeField()
    reason = serializers.CharField(max_length=2000)


class RuleActionNoteSerializer(StrictJsonInput, serializers.Serializer):
    note = serializers.CharField(max_length=2000)


class RuleSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField(help_text="One of: " + ", ".join(STATES))
    position = serializers.IntegerField()
    active_version = serializers.DictField(allow_null=True)
    shadow_version = serializers.DictField(allow_null=True)
    matches_24h = serializers.DictField(child=serializers.IntegerField())


def _summary(rule) -> dict:
    return {
        "id": rule.pk,
        "name": rule.name,
        "state": rule.state,
        "position": rule.position,
        "active_version": version_describe(rule.active_version),
        "shadow_version": version_describe(rule.shadow_version),
        "matches_24h": {
            "live": rule.hits_24h.get("live", 0),
            "shadow": rule.hits_24h.get("shadow", 0),
        },
    }


_ERRORS = {
    400: OpenApiResponse(
        description="Invalid input, each error under its field (an expression's "
        "unknown field or type error is named under `expression`)"
    ),
    403: OpenApiResponse(description="Rules are for senior leads"),
    404: OpenApiResponse(description="No such rule"),
}


class RuleListApi(APIView):
    """Rules in evaluation order with their live and shadow matches of the last 24 hours
    (scope ``rules:read``), and a new draft rule (scope ``rules:write``)."""

    required_scopes = {"GET": "rules:read", "POST": "rules:write"}

    @extend_schema(
        operation_id="rules_list",
        parameters=[OpenApiParameter("state", enum=list(STATES), required=False)],
        responses={
            200: RuleSummarySerializer(many=True),
            **{k: v for k, v in _ERRORS.items() if k != 404},
        },
    )
    def get(self, request):
        state = request.query_params.get("state", "")
        if state and state not in STATES:
            raise serializers.ValidationError({"state": [f"One of: {', '.join(STATES)}."]})
        return Response([_summary(rule) for rule in rule_list(actor=request.user, state=state)])

    @extend_schema(
        operation_id="rules_create",
        request=RuleInputSerializer,
        responses={201: OpenApiResponse(description="The rule, as GET answers it"), **_ERRORS},
    )
    def post(self, request):
        check_manage_rules(request.user)
        serializer = RuleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rule = rule_create(
            actor=request.user,
            name=data["name"],
            expression=data["expression"],
            effects=data["effects"],
            note=data.get("note", ""),
            description=data.get("description", ""),
            position=data.get("position", 100),
        )
        rule = rule_get_for(actor=request.user, rule_id=rule.pk)
        return Response(
            rule_describe(actor=request.user, rule=rule), status=status.HTTP_201_CREATED
        )


class RuleDetailApi(APIView):
    """One rule (scope ``rules:read``): its live, shadow and latest versions, every version
    with who wrote it and why, live and shadow match counts, pending activation, snoozes,
    backtests and the shadow report; and the inputs rules read."""

    required_scopes = {"GET": "rules:read"}

    @extend_schema(
        operation_id="rules_retrieve",
        responses={200: OpenApiResponse(description="The rule"), **_ERRORS},
    )
    def get(self, request, rule_id: int):
        rule = rule_get_for(actor=request.user, rule_id=rule_id)
        body = rule_describe(actor=request.user, rule=rule)
        body["inputs"] = input_reference()
        return Response(body)


class RuleVersionApi(APIView):
    """A new version (scope ``rules:write``): checked like a new rule; 409 when someone
    wrote a newer version than ``based_on`` meanwhile."""

    required_scopes = {"POST": "rules:write"}

    @extend_schema(
        operation_id="rules_versions_create",
        request=VersionInputSerializer,
        responses={
            201: OpenApiResponse(description="The version"),
            409: OpenApiResponse(description="Stale edit, or a retired rule"),
            **_ERRORS,
        },
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        serializer = VersionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = rule_version_add(
            actor=request.user,
            rule_id=rule_id,
            expression=data["expression"],
            effects=data["effects"],
            note=data["note"],
            based_on=data.get("based_on"),
        )
        return Response(version_describe(version), status=status.HTTP_201_CREATED)


class _TransitionApi(APIView):
    required_scopes = {"POST": "rules:write"}

    def _answer(self, request, rule_id: int, **extra) -> Response:
        rule = rule_get_for(actor=request.user, rule_id=rule_id)
        return Response({**rule_describe(actor=request.user, rule=rule), **extra})


_TRANSITION_ERRORS = {
    **_ERRORS,
    409: OpenApiResponse(description="The rule's state does not allow it"),
}


class RuleShadowApi(_TransitionApi):
    """Run a version in shadow (scope ``rules:write``): evaluated on live intake, outcomes
    recorded, no effect; beside the live version when the rule is active."""

    @extend_schema(
        operation_id="rules_shadow",
        request=VersionChoiceSerializer,
        responses={200: OpenApiResponse(description="The rule"), **_TRANSITION_ERRORS},
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        serializer = VersionChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule_shadow(
            actor=request.user, rule_id=rule_id, version=serializer.validated_data.get("version")
        )
        return self._answer(request, rule_id)


class RuleActivateApi(_TransitionApi):
    """Make a version live (scope ``rules:write``). A version with automated actions needs
    a second senior: the first call answers 202 with the pending request, a different
    senior's call activates it (200); the requester's own second call is 403."""

    @extend_schema(
        operation_id="rules_activate",
        request=VersionChoiceSerializer,
        responses={
            200: OpenApiResponse(description="Activated"),
            202: OpenApiResponse(description="Waiting for a second senior"),
            **_TRANSITION_ERRORS,
        },
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        serializer = VersionChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, activated = rule_activate(
            actor=request.user, rule_id=rule_id, version=serializer.validated_data.get("version")
        )
        response = self._answer(request, rule_id, activated=activated)
        if not activated:
            response.status_code = status.HTTP_202_ACCEPTED
        return response


class RuleRetireApi(_TransitionApi):
    """Retire a rule (scope ``rules:write``): nothing of it runs any more."""

    @extend_schema(
        operation_id="rules_retire",
        request=RetireSerializer,
        responses={200: OpenApiResponse(description="The rule"), **_TRANSITION_ERRORS},
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        serializer = RetireSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule_retire(
            actor=request.user, rule_id=rule_id, reason=serializer.validated_data.get("reason", "")
        )
        return self._answer(request, rule_id)


class RuleResumeApi(_TransitionApi):
    """Resume a rule that paused itself after running away (scope ``rules:write``)."""

    @extend_schema(
        operation_id="rules_resume",
        request=None,
        responses={200: OpenApiResponse(description="The rule"), **_TRANSITION_ERRORS},
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        rule_resume(actor=request.user, rule_id=rule_id)
        return self._answer(request, rule_id)


class RuleSnoozeApi(APIView):
    """Silence a rule for one account or item until a date, saying why (scope
    ``rules:write``)."""

    required_scopes = {"POST": "rules:write"}

    @extend_schema(
        operation_id="rules_snoozes_create",
        request=SnoozeInputSerializer,
        responses={201: OpenApiResponse(description="The snooze"), **_ERRORS},
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        serializer = SnoozeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        snooze = rule_snooze(
            actor=request.user,
            rule_id=rule_id,
            subject_kind=data["subject_kind"],
            external_id=data["external_id"],
            until=data["until"],
            reason=data["reason"],
        )
        return Response(
            {"id": snooze.pk, "rule_id": rule_id, "until": snooze.until, "reason": snooze.reason},
            status=status.HTTP_201_CREATED,
        )


class RuleBacktestApi(APIView):
    """Replay a version over stored reports as they were then, scored against human
    decisions (scope ``rules:write``): 202 with the backtest's id and job id; poll
    ``GET /api/v1/backtests/{id}`` (or ``/api/v1/jobs/{id}``) for progress and results."""

    required_scopes = {"POST": "rules:write"}

    @extend_schema(
        operation_id="rules_backtests_create",
        request=BacktestInputSerializer,
        responses={202: OpenApiResponse(description="Queued: {id, job_id, status}"), **_ERRORS},
    )
    def post(self, request, rule_id: int):
        rule_get_for(actor=request.user, rule_id=rule_id)
        serializer = BacktestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        backtest = backtest_request(
            actor=request.user,
            rule_id=rule_id,
            version=data.get("version"),
            period_from=data["from"],
            period_to=data["to"],
            compare_version=data.get("compare_version"),
        )
        return Response(
            {"id": backtest.pk, "job_id": backtest.job_id, "status": backtest.status},
            status=status.HTTP_202_ACCEPTED,
        )


class BacktestDetailApi(APIView):
    """One backtest (scope ``rules:read``): status and progress, then matches per day,
    would-be effects, precision with its Wilson interval, recall, overlap with the live
    rules, and samples of matched and missed reports the caller may see."""

    required_scopes = {"GET": "rules:read"}

    @extend_schema(
        operation_id="backtests_retrieve",
        responses={200: OpenApiResponse(description="The backtest"), **_ERRORS},
    )
    def get(self, request, backtest_id: int):
        backtest = backtest_get_for(actor=request.user, backtest_id=backtest_id)
        return Response(backtest_describe(actor=request.user, backtest=backtest))


class RuleActionInterveneApi(APIView):
    """Call off an automated action a rule scheduled on a case, or dismiss one it proposed,
    saying why (scope ``cases:write``; whoever works the case)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        operation_id="rule_actions_intervene",
        request=RuleActionNoteSerializer,
        responses={
            200: OpenApiResponse(description="The action, now cancelled or dismissed"),
            409: OpenApiResponse(description="Applied or closed already"),
            **_ERRORS,
        },
    )
    def post(self, request, rule_action_id: int):
        rule_action_get_for(actor=request.user, action_id=rule_action_id)
        serializer = RuleActionNoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = rule_action_intervene(
            actor=request.user, action_id=rule_action_id, note=serializer.validated_data["note"]
        )
        return Response({"id": action.pk, "status": action.status, "note": action.note})
