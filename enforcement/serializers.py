from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from cases.serializers import SeverityField
from enforcement.catalogue import ACTIONS, FEATURES
from enforcement.models import Decision, EnforcementAction, PolicySection
from tsops.api import FieldsBuiltOnce
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


class ActionSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """An enforcement action: its type, status now, subject, feature and period."""

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


class DecisionSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """A decision as written: outcome, section, decider, rationale, statement of reasons, the
    ladder's recommendation, its actions and the status its case is in."""

    # None for a decision without a violation.
    policy_section = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
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
    outcome = serializers.ChoiceField(choices=Decision.Outcome.choices)
    policy_section = serializers.CharField(required=False, allow_blank=True, default="")
    rationale = serializers.CharField()
    statement_of_reasons = serializers.CharField(required=False, allow_blank=True, default="")
    actions = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    version = serializers.IntegerField(min_value=1)


def action_item_schema() -> dict:
    """One requested action, as ``services.parse_actions`` takes it: a schema per action type
    of the catalogue (a duration in whole hours where the type needs one and no duration where
    it does not; a feature from ``FEATURES`` where the type restricts one)."""
    variants = []
    for spec in ACTIONS.values():
        properties: dict = {"type": {"type": "string", "enum": [spec.code]}}
        required = ["type"]
        if spec.needs_duration:
            hours: dict = {"type": "integer", "minimum": 1}
            if spec.max_duration_hours:
                hours["maximum"] = spec.max_duration_hours
            properties["duration_hours"] = hours
            required.append("duration_hours")
        else:
            properties["duration_hours"] = {"nullable": True, "enum": [None]}
            properties["duration_days"] = {"nullable": True, "enum": [None]}
        if spec.needs_feature:
            properties["feature"] = {"type": "string", "enum": list(FEATURES)}
            required.append("feature")
        variants.append({"type": "object", "properties": properties, "required": required})
    return {"oneOf": variants}


class DecisionInputScheme(OpenApiSerializerExtension):
    """What ``decision_make`` requires beyond each field: a violation names a current policy
    section and at least one action; any other outcome takes no actions. The section codes
    are read when the schema is generated, from the rows the service looks them up in."""

    target_class = DecisionInputSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return with_decision_rules(schema)


def with_decision_rules(schema: dict) -> dict:
    """``schema`` (a decision body) with what ``decision_make`` requires beyond each field."""
    from enforcement.selectors import policy_sections_current

    codes = sorted(set(policy_sections_current().values_list("code", flat=True)))
    # A pattern rather than an enum: drf-spectacular merges every ``outcome`` enum into one
    # component, which would let both branches take every outcome.
    violation = {"type": "string", "pattern": f"^{Decision.Outcome.VIOLATION}$"}
    schema["properties"]["actions"] = {"type": "array", "items": action_item_schema()}
    schema["oneOf"] = [
        {
            "properties": {
                "outcome": violation,
                "policy_section": {"type": "string", "enum": codes},
                "actions": {"minItems": 1},
            },
            "required": ["policy_section", "actions"],
        },
        {
            "properties": {
                "outcome": {"not": violation},
                # A section given with another outcome is still looked up.
                "policy_section": {"type": "string", "enum": ["", *codes]},
                "actions": {"maxItems": 0},
            }
        },
    ]
    return schema
