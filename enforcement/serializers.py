from __future__ import annotations

from rest_framework import serializers

from cases.serializers import SeverityField
from enforcement.models import Decision, EnforcementAction, PolicySection
from tsops.json_input import StrictJsonInput


class PolicySectionSerializer(serializers.ModelSerializer):
    severity = SeverityField()
    policy = serializers.CharField(source="policy.name")

    class Meta:
        model = PolicySection
        fields = [
            "code",
            "version",
            "title",
            "public_summary",
            "severity",
            "policy",
            "reasons",
            "effective_from",
        ]


class ActionSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="action_type")
    status = serializers.SerializerMethodField()
    subject = serializers.SerializerMethodField()

    class Meta:
        model = EnforcementAction
        fields = [
            "id",
            "type",
            "status",
            "subject",
            "feature",
            "duration_hours",
            "starts_at",
            "expires_at",
            "ended_at",
            "decision_id",
            "case_id",
        ]

    def get_status(self, action) -> str:
        return action.effective_status()

    def get_subject(self, action) -> str:
        return f"{action.subject.kind}:{action.subject.external_id}"


class DecisionSerializer(serializers.ModelSerializer):
    policy_section = serializers.SlugRelatedField(slug_field="code", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    actions = ActionSerializer(many=True, read_only=True)
    case_status = serializers.CharField(source="case.status", read_only=True)

    class Meta:
        model = Decision
        fields = [
            "id",
            "case_id",
            "case_status",
            "outcome",
            "policy_section",
            "decided_by",
            "rationale",
            "statement_of_reasons",
            "recommended_action",
            "followed_recommendation",
            "actions",
            "created_at",
        ]


class ActionInputSerializer(serializers.Serializer):
    type = serializers.CharField()
    duration_hours = serializers.IntegerField(required=False, allow_null=True)
    feature = serializers.CharField(required=False, allow_blank=True)


class DecisionInputSerializer(StrictJsonInput, serializers.Serializer):
    outcome = serializers.ChoiceField(choices=Decision.Outcome.values)
    policy_section = serializers.CharField(required=False, allow_blank=True, default="")
    rationale = serializers.CharField()
    statement_of_reasons = serializers.CharField(required=False, allow_blank=True, default="")
    actions = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    version = serializers.IntegerField(min_value=1)
