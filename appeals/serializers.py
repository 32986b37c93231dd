from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from appeals.models import Appeal
from enforcement.serializers import action_item_schema
from tsops.json_input import StrictJsonInput


class AppealStatusSerializer(serializers.ModelSerializer):
    """What the platform and support see: never the internal rationale or staff names."""

    outcome = serializers.SerializerMethodField()
    response_to_user = serializers.SerializerMethodField()

    class Meta:
        model = Appeal
        fields = [
            "id",
            "external_id",
            "action_id",
            "status",
            "outcome",
            "response_to_user",
            "filed_at",
            "decided_at",
            "due_at",
            "replacement_action_id",
        ]

    def get_outcome(self, appeal) -> str | None:
        return None if appeal.is_open else appeal.status

    def get_response_to_user(self, appeal) -> str | None:
        return None if appeal.is_open else appeal.response_to_user


class AppealReviewSerializer(serializers.ModelSerializer):
    """What a reviewer gets when claiming: the appeal and the original decision as it was."""

    severity = serializers.SerializerMethodField()
    action = serializers.SerializerMethodField()
    claimed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Appeal
        fields = [
            "id",
            "status",
            "severity",
            "statement",
            "case_id",
            "action",
            "due_at",
            "claimed_by",
            "version",
            "filed_at",
        ]

    def get_severity(self, appeal) -> str:
        return f"P{appeal.severity}"

    def get_action(self, appeal) -> dict:
        action = appeal.action
        decision = action.decision
        section = decision.policy_section
        return {
            "id": action.pk,
            "type": action.action_type,
            "status": action.effective_status(),
            "duration_hours": action.duration_hours,
            "decision": {
                "id": decision.pk,
                "outcome": decision.outcome,
                "policy_section": section.code if section else None,
                "rationale": decision.rationale,
                "statement_of_reasons": decision.statement_of_reasons,
            },
        }


class AppealInputSerializer(StrictJsonInput, serializers.Serializer):
    action_id = serializers.IntegerField()
    statement = serializers.CharField(max_length=10_000)
    appellant_id = serializers.CharField(required=False, allow_blank=True, default="")
    external_id = serializers.CharField(max_length=200)


class AppealDecisionInputSerializer(StrictJsonInput, serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[c for c in Appeal.OUTCOMES])
    rationale = serializers.CharField()
    response_to_user = serializers.CharField()
    replacement_action = serializers.DictField(required=False, allow_null=True)
    version = serializers.IntegerField(required=False, min_value=1)


class AppealDecisionInputScheme(OpenApiSerializerExtension):
    """What ``appeal_decide`` requires beyond each field: a modified outcome names its
    replacement, one action as a decision takes it; the other outcomes take none."""

    target_class = AppealDecisionInputSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        # A pattern rather than an enum: drf-spectacular would merge an enum of one value into
        # the ``outcome`` enum component.
        modified = {"type": "string", "pattern": f"^{Appeal.Status.MODIFIED}$"}
        no_action = {"type": "object", "maxProperties": 0, "nullable": True}
        schema["oneOf"] = [
            {
                "properties": {"outcome": modified, "replacement_action": action_item_schema()},
                "required": ["replacement_action"],
            },
            {"properties": {"outcome": {"not": modified}, "replacement_action": no_action}},
        ]
        return schema
