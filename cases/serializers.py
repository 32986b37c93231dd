"""Output shapes of cases over REST, and the input of edits and notes."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import Case, CaseLink, Note, Queue, Report, Severity, Subject
from cases.validation import report_reason_codes
from tsops.api import FieldsBuiltOnce
from tsops.json_input import StrictJsonInput


@extend_schema_field({"type": "string", "enum": ["P0", "P1", "P2", "P3"]})
class SeverityField(serializers.Field):
    """Severity as "P0".."P3" on the wire, 0..3 in the database."""

    def to_representation(self, value: int) -> str:
        return f"P{value}"

    def to_internal_value(self, data) -> int:
        if isinstance(data, str) and data.upper() in {"P0", "P1", "P2", "P3"}:
            return int(data[1])
        raise serializers.ValidationError("Must be one of P0, P1, P2, P3.")


class ReportReasonField(serializers.CharField):
    """A report reason: one of the taxonomy's codes (validated by ``cases.validation``)."""


class ReportReasonScheme(OpenApiSerializerFieldExtension):
    """The enum is read when the schema is generated (per request of ``/api/schema/``), from the
    table intake validates against, so the served schema names the codes the server accepts."""

    target_class = ReportReasonField
    priority = 1

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": report_reason_codes()}


class SubjectSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    owner_id = serializers.CharField(
        source="owner.external_id", default=None, read_only=True, allow_null=True
    )
    text = serializers.CharField(source="snapshot_text")
    url = serializers.CharField(source="snapshot_url")
    media = serializers.JSONField(source="snapshot_media")
    created_at = serializers.DateTimeField(source="content_created_at", allow_null=True)

    class Meta:
        model = Subject
        fields = ["kind", "external_id", "owner_id", "text", "url", "media", "created_at"]


class ReportSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = Report
        fields = [
            "id",
            "source",
            "external_id",
            "reason",
            "description",
            "detector",
            "score",
            "received_at",
        ]


class CaseListSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    severity = SeverityField()
    queue = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    subject = serializers.SerializerMethodField()
    claimed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    breached = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "id",
            "status",
            "severity",
            "queue",
            "reason",
            "subject",
            "tags",
            "report_count",
            "automated_count",
            "human_count",
            "claimed_by",
            "first_action_due",
            "resolve_due",
            "breached",
            "version",
            "created_at",
        ]

    def get_subject(self, case: Case) -> str:
        return f"{case.subject.kind}:{case.subject.external_id}"

    def get_breached(self, case: Case) -> bool:
        return case.is_breached()


class CaseLinkSerializer(serializers.Serializer):
    """A link from (``direction`` "out") or to ("in") the case, with the other case's id."""

    kind = serializers.CharField()
    label = serializers.CharField()
    direction = serializers.ChoiceField(choices=["out", "in"])
    case_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ClaimedCaseSerializer(CaseListSerializer):
    """The case as a claim answers it: every field of the case and its subject, without the
    case's reports and links, which cost two more reads: ``GET /api/v1/cases/{id}`` answers
    the whole case when the client needs it."""

    subject = SubjectSerializer()

    class Meta(CaseListSerializer.Meta):
        fields = [
            *CaseListSerializer.Meta.fields,
            "claimed_at",
            "lease_expires_at",
            "first_action_at",
            "resolved_at",
            "restricted",
        ]


class CaseDetailSerializer(ClaimedCaseSerializer):
    reports = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta(ClaimedCaseSerializer.Meta):
        fields = [*ClaimedCaseSerializer.Meta.fields, "reports", "links"]

    @extend_schema_field(CaseLinkSerializer(many=True))
    def get_links(self, case: Case) -> list[dict]:
        """Links to cases the reader may see; without a reader (``context["viewer"]``) only
        links to unrestricted cases, so a restricted case never shows through a link."""
        from cases.visibility import visible_cases

        # Most cases have no link: read them first, then which of the other cases the reader
        # may see (none of it when there is no link).
        links = sorted(
            (
                ("out", link.to_case_id, link)
                if link.from_case_id == case.pk
                else ("in", link.from_case_id, link)
                for link in CaseLink.objects.filter(Q(from_case=case) | Q(to_case=case))
            ),
            key=lambda item: (item[0] != "out", item[2].created_at, item[2].pk),
        )
        if links:
            viewer = self.context.get("viewer")
            others = (
                visible_cases(viewer)
                if viewer is not None
                else Case.objects.filter(restricted=False)
            )
            seen = set(
                others.filter(pk__in={other for _, other, _ in links}).values_list("pk", flat=True)
            )
            links = [item for item in links if item[1] in seen]
        return [
            {
                "kind": link.kind,
                "label": link.get_kind_display(),
                "direction": direction,
                "case_id": other,
                "created_at": link.created_at,
            }
            for direction, other, link in links
        ]

    def get_reports(self, case: Case) -> list[dict]:
        reports = self.context.get("reports")
        if reports is None:
            reports = case.reports.order_by("-received_at", "-id")[:100]
        return ReportSerializer(reports, many=True).data


class ActiveQueueField(serializers.SlugRelatedField):
    """An active queue, by slug."""


class ActiveQueueScheme(OpenApiSerializerFieldExtension):
    """The enum is read when the schema is generated, from the queryset the field validates
    against, so the served schema names the queues the server accepts."""

    target_class = ActiveQueueField

    def map_serializer_field(self, auto_schema, direction):
        slugs = self.target.get_queryset().order_by("slug").values_list("slug", flat=True)
        return {"type": "string", "enum": list(slugs)}


class CaseUpdateSerializer(StrictJsonInput, serializers.Serializer):
    """A case edit: ``version`` and at least one of the editable fields."""

    EDITABLE = ("tags", "severity", "queue")

    version = serializers.IntegerField(min_value=1)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=50
    )
    severity = SeverityField(required=False)
    queue = ActiveQueueField(
        slug_field="slug", queryset=Queue.objects.filter(active=True), required=False
    )

    def validate(self, attrs):
        if not any(name in attrs for name in self.EDITABLE):
            raise serializers.ValidationError(
                f"Give at least one of {', '.join(self.EDITABLE)} to change."
            )
        return attrs


class CaseUpdateScheme(OpenApiSerializerExtension):
    """PATCH takes ``version`` and at least one editable field, even though a PATCH body is
    otherwise partial: the schema says what ``CaseUpdateSerializer.validate`` requires."""

    target_class = CaseUpdateSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["required"] = ["version"]
        schema["anyOf"] = [{"required": [name]} for name in CaseUpdateSerializer.EDITABLE]
        return schema


class NoteSerializer(StrictJsonInput, serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Note
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class QueueSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    restricted = serializers.BooleanField()
    open = serializers.IntegerField()
    new = serializers.IntegerField()
    in_review = serializers.IntegerField()
    due_within_hour = serializers.IntegerField()
    breached = serializers.IntegerField()
    oldest_age_seconds = serializers.SerializerMethodField()

    def get_oldest_age_seconds(self, summary) -> int | None:
        return int(summary.oldest.total_seconds()) if summary.oldest else None


SEVERITY_CHOICES = [f"P{value}" for value in Severity.values]
