"""REST views for intake, queues, cases and search: validate, call a service, serialize."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import media, selectors, services
from cases.intake import MAX_BATCH, report_submit, report_submit_batch
from cases.media import Prepared, report_media_attach
from cases.models import Queue, Report, Subject
from cases.permissions import check_submit_reports
from cases.serializers import (
    CaseDetailSerializer,
    CaseListSerializer,
    CaseUpdateSerializer,
    ClaimedCaseSerializer,
    NoteSerializer,
    QueueSerializer,
    ReportReasonField,
    SeverityField,
)
from cases.validation import IDENTIFIER_KINDS, MAX_ID, MAX_IDENTIFIERS, MAX_TEXT, SUBJECT_KINDS
from tsops.api import PayloadTooLarge
from tsops.json_input import StrictJsonInput
from tsops.schema import NO_NUL_PATTERN, NOT_BLANK_PATTERN


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": NO_NUL_PATTERN},
            {"type": "number"},
        ]
    }
)
class ExternalIdField(serializers.CharField):
    """An id on the platform: a string, or a number (taken as its decimal string)."""


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": MAX_ID, "pattern": NO_NUL_PATTERN},
            {"type": "number"},
        ]
    }
)
class OptionalExternalIdField(ExternalIdField):
    """An optional id on the platform: blank is the same as none."""


# What intake checks of a URL: no NUL, and an http or https scheme (as ``urlparse`` reads it,
# which ignores leading controls and spaces and any case).
@extend_schema_field(
    {
        "type": "string",
        "maxLength": 2000,
        "pattern": "^([\\x01-\\x20]*[hH][tT][tT][pP][sS]?:[^\\x00]*)?$",
    }
)
class HttpUrlField(serializers.URLField):
    """An http(s) URL, as intake validates it (``cases.validation``)."""


def _optional(field_class, **kwargs):
    return field_class(required=False, allow_blank=True, allow_null=True, **kwargs)


IntakeAnswer = inline_serializer(
    "IntakeAnswer",
    {
        "report_id": serializers.IntegerField(),
        "case_id": serializers.IntegerField(),
        "case_status": serializers.CharField(),
        "created_case": serializers.BooleanField(),
        "media": inline_serializer(
            "IntakeMedia",
            {
                "evidence_id": serializers.IntegerField(),
                "sha256": serializers.CharField(),
                "renderable": serializers.BooleanField(
                    help_text="An image (thumbnailed); false: kept as an opaque file."
                ),
            },
            many=True,
            help_text="The media attached with this request (none again on a repeat).",
        ),
    },
)


# The report body as the schema states it; intake validates it with ``cases.validation``.
# Optional fields may also be sent blank or null: the same as leaving them out.
class SubjectInput(serializers.Serializer):
    kind = serializers.ChoiceField(sorted(SUBJECT_KINDS))
    external_id = ExternalIdField()
    owner_id = _optional(OptionalExternalIdField)
    text = _optional(serializers.CharField, max_length=MAX_TEXT)
    url = _optional(HttpUrlField, max_length=2000)
    media = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, allow_null=True
    )
    created_at = serializers.DateTimeField(required=False, allow_null=True)


# Base64 exactly as intake decodes it (``base64.b64decode(validate=True)``): no whitespace.
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class AttachmentInput(serializers.Serializer):
    filename = _optional(serializers.CharField, max_length=200)
    content_base64 = serializers.CharField(
        min_length=4,
        max_length=(settings.TSOPS_MEDIA_BASE64_MAX_BYTES + 2) // 3 * 4,
        help_text="The file's bytes in base64 (small images; larger files go as multipart).",
    )
    sensitive = serializers.BooleanField(
        required=False, help_text="Blurred until an analyst reveals it (default true)."
    )


@extend_schema_field(
    {
        "type": "array",
        "nullable": True,
        "maxItems": settings.TSOPS_MEDIA_MAX_FILES,
        "items": {
            "type": "object",
            "properties": {
                "filename": {"type": "string", "maxLength": 200, "nullable": True},
                "content_base64": {
                    "type": "string",
                    "minLength": 4,
                    "maxLength": (settings.TSOPS_MEDIA_BASE64_MAX_BYTES + 2) // 3 * 4,
                    "pattern": BASE64_PATTERN,
                },
                "sensitive": {"type": "boolean"},
            },
            "required": ["content_base64"],
        },
    }
)
class AttachmentField(serializers.ListField):
    """Base64 media of a JSON report, as intake checks it (``_base64_media``)."""


class IdentifierInput(serializers.Serializer):
    kind = serializers.ChoiceField(sorted(IDENTIFIER_KINDS))
    value = serializers.CharField(max_length=500)


class ReportInput(serializers.Serializer):
    source = serializers.ChoiceField(
        ["user_report", "trusted_flagger", "automated_flag", "support", "internal"]
    )
    external_id = ExternalIdField()
    reason = ReportReasonField()
    description = _optional(serializers.CharField, max_length=MAX_TEXT)
    reporter_id = _optional(OptionalExternalIdField)
    subject = SubjectInput()
    identifiers = serializers.ListField(
        child=IdentifierInput(), required=False, allow_null=True, max_length=MAX_IDENTIFIERS
    )
    detector = _optional(serializers.CharField, max_length=100)
    score = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    received_at = serializers.DateTimeField(required=False, allow_null=True)
    attachments = AttachmentField(
        child=AttachmentInput(),
        required=False,
        allow_null=True,
        help_text="Media as base64 (at most TSOPS_MEDIA_MAX_FILES files of "
        "TSOPS_MEDIA_BASE64_MAX_BYTES each; more is answered 413). Larger files: send the "
        "report as multipart/form-data, the report's JSON in the part ``report`` and each file "
        "in a part ``media`` (``sensitive=false`` to send them unblurred).",
    )


# Literal values as patterns, not enums: drf-spectacular would merge an enum of one value into
# the field's enum component.
def _is(value: str) -> dict:
    return {"type": "string", "pattern": f"^{value}$"}


_NOT_BLANK_ID = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "number"}]}
_BLANK = {"type": "string", "maxLength": 0, "nullable": True}


class SubjectInputScheme(OpenApiSerializerExtension):
    """An account subject has no separate owner (``cases.validation``): its ``owner_id`` is
    left out, blank or null (intake also takes the account's own id)."""

    target_class = SubjectInput

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        account = _is(Subject.Kind.ACCOUNT)
        schema["oneOf"] = [
            {"properties": {"kind": account, "owner_id": _BLANK}},
            {"properties": {"kind": {"not": account}}},
        ]
        return schema


class ReportInputScheme(OpenApiSerializerExtension):
    """What intake requires beyond each field (``cases.validation.validate_report``): an
    automated flag names its detector, and identifiers belong to an account, so with a content
    subject they need the subject's ``owner_id``."""

    target_class = ReportInput

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        automated = _is(Report.Source.AUTOMATED_FLAG)
        schema["oneOf"] = [
            {
                "properties": {"source": automated, "detector": {"type": "string", "minLength": 1}},
                "required": ["detector"],
            },
            {"properties": {"source": {"not": automated}}},
        ]
        schema["anyOf"] = [
            {"properties": {"identifiers": {"type": "array", "maxItems": 0, "nullable": True}}},
            {"properties": {"subject": {"properties": {"kind": _is(Subject.Kind.ACCOUNT)}}}},
            {
                "properties": {
                    "subject": {"properties": {"owner_id": _NOT_BLANK_ID}, "required": ["owner_id"]}
                }
            },
        ]
        return schema


class ReportCreateApi(APIView):
    """Take one report or automated flag; the same source + external_id again changes nothing."""

    required_scopes = {"POST": "reports:write"}

    # JSON, or multipart/form-data for reports with larger media (the report's JSON in the
    # part "report", files in "media"); the schema states the JSON form, the text the other.
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        request={"application/json": ReportInput},
        responses={
            201: IntakeAnswer,
            200: IntakeAnswer,
            400: OpenApiResponse(description="Invalid"),
            413: OpenApiResponse(
                description="Media over a limit (files per report, bytes per file, pixels of "
                "an image, base64 size): the message names the setting."
            ),
        },
    )
    def post(self, request):
        check_submit_reports(request.user)  # before anything of the body is read
        data, files = _report_and_media(request)
        result = report_submit(actor=request.user, data=data)
        if result.errors is not None:
            raise ValidationError(result.errors)
        attached = []
        if files:
            attached = report_media_attach(
                actor=request.user, report_id=result.report_id, files=files
            )
        body = result.as_dict()
        body.pop("index")
        body.pop("status")
        body["media"] = [
            {"evidence_id": e.pk, "sha256": e.sha256, "renderable": e.media.renderable}
            for e in attached
        ]
        return Response(body, status=result.status)


def _report_and_media(request) -> tuple[object, list[Prepared]]:
    """The report's JSON and its media, checked against the limits (413) and read; nothing
    is written, so a refused upload leaves no report behind."""
    try:
        body = request.data  # parsed first: the upload handler notes a file over the limit
        media.check_request_uploads(request)
        if isinstance(body, QueryDict):
            return _multipart_report(request)
        data = request.data
        if not isinstance(data, dict) or data.get("attachments") is None:
            return data, []
        data = dict(data)
        return data, _base64_media(data.pop("attachments"))
    except media.MediaTooLarge as error:
        raise PayloadTooLarge(f"{error.message} (limit {error.setting})") from None


def _multipart_report(request) -> tuple[dict, list[Prepared]]:
    form = request.data
    unknown = set(request.FILES) - {"media"}
    if unknown:
        raise ValidationError({name: ["Files go in parts named media."] for name in unknown})
    try:
        data = json.loads(form.get("report") or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValidationError({"report": ["The part report must hold the report as JSON."]})
    sensitive = form.get("sensitive", "true").strip().lower()
    if sensitive not in ("true", "false"):
        raise ValidationError({"sensitive": ["Must be true or false."]})
    uploads = request.FILES.getlist("media")
    media.check_file_count(len(uploads))
    prepared = []
    for upload in uploads:
        media.check_file_size(upload.size, media.sanitize_filename(upload.name))
        prepared.append(
            media.media_prepare(upload.read(), upload.name, sensitive=sensitive == "true")
        )
    return data, prepared


def _base64_media(attachments) -> list[Prepared]:
    if not isinstance(attachments, list):
        raise ValidationError({"attachments": ["Must be a list of files."]})
    media.check_file_count(len(attachments))
    prepared = []
    for index, item in enumerate(attachments):
        problem = _attachment_problem(item)
        if problem:
            raise ValidationError({"attachments": [f"Item {index}: {problem}"]})
        name = media.sanitize_filename(item.get("filename") or f"attachment-{index + 1}")
        try:
            content = media.base64_decode(item["content_base64"], name)
        except DjangoValidationError as error:
            raise ValidationError({"attachments": [f"Item {index}: {error.messages[0]}"]}) from None
        prepared.append(media.media_prepare(content, name, sensitive=item.get("sensitive", True)))
    return prepared


def _attachment_problem(item) -> str | None:
    """What is wrong with one base64 attachment's JSON shape, or None."""
    if not isinstance(item, dict):
        return "must be an object with content_base64."
    if not isinstance(item.get("content_base64"), str):
        return "content_base64 must be a string."
    filename = item.get("filename")
    if filename is not None and (not isinstance(filename, str) or len(filename) > 200):
        return "filename must be a string of at most 200 characters."
    if "sensitive" in item and not isinstance(item["sensitive"], bool):
        return "sensitive must be true or false."
    return None


class ReportBulkApi(APIView):
    """Take up to 1,000 reports; each gets its own result, in order."""

    required_scopes = {"POST": "reports:write"}

    @extend_schema(
        request=inline_serializer(
            "BulkInput",
            {
                # Any JSON values: each is validated on its own (as ReportInput) and a bad one
                # is answered in its own result, without stopping the rest.
                # No maxItems: a batch over the limit is answered 413 (split it and send the
                # parts), not 400 as a schema constraint would promise.
                "reports": serializers.ListField(
                    child=serializers.JSONField(),
                    help_text="Reports as for POST /api/v1/reports (ReportInput); each is "
                    "validated on its own and answered in ``results`` at the same index. "
                    f"At most {MAX_BATCH} per request: a longer list is answered 413.",
                )
            },
        ),
        responses={
            200: inline_serializer(
                "BulkAnswer",
                {
                    "results": inline_serializer(
                        "BulkResult",
                        {
                            "index": serializers.IntegerField(),
                            "status": serializers.IntegerField(
                                help_text="201 new, 200 repeat, 400 invalid (see errors)"
                            ),
                            "report_id": serializers.IntegerField(required=False),
                            "case_id": serializers.IntegerField(required=False),
                            "case_status": serializers.CharField(required=False),
                            "created_case": serializers.BooleanField(required=False),
                            "errors": serializers.DictField(required=False),
                        },
                        many=True,
                    )
                },
            ),
            413: OpenApiResponse(
                description=f"More than {MAX_BATCH} reports: send them in several requests."
            ),
        },
    )
    def post(self, request):
        check_submit_reports(request.user)  # before anything of the body is read
        reports = request.data.get("reports") if isinstance(request.data, dict) else None
        if not isinstance(reports, list):
            raise ValidationError({"reports": ["Must be a list of reports."]})
        if len(reports) > MAX_BATCH:
            raise PayloadTooLarge(
                f"At most {MAX_BATCH} reports per request; this one has {len(reports)}."
            )
        results = report_submit_batch(actor=request.user, items=reports)
        return Response({"results": [r.as_dict() for r in results]})


class QueueListApi(APIView):
    """The queues the caller may work, with their counts."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(responses=QueueSerializer(many=True))
    def get(self, request):
        return Response(
            QueueSerializer(selectors.queue_summaries(actor=request.user), many=True).data
        )


@dataclass(frozen=True)
class QueueClaimHandler:
    """How a queue kind whose work another app owns is claimed: ``claim(request, queue)``
    answers the request; ``serializer`` is what a 200 carries, for the schema."""

    claim: Callable[[Request, Queue], Response]
    serializer: type[serializers.Serializer]


# Registered by the owning app from its AppConfig.ready() (appeals: the appeals queue), so
# cases never imports it.
_CLAIM_HANDLERS: dict[str, QueueClaimHandler] = {}


def register_queue_claim(*, kind: str, handler: QueueClaimHandler) -> None:
    """Queues of ``kind`` are claimed by ``handler`` instead of as cases."""
    _CLAIM_HANDLERS[kind] = handler


def _claimed_work_serializers() -> list[type[serializers.Serializer]]:
    return [ClaimedCaseSerializer, *(h.serializer for h in _CLAIM_HANDLERS.values())]


class QueueClaimApi(APIView):
    """Claim the top case of a queue: 200 with the case and its subject, 204 when the queue is
    empty. The case comes without its reports and links (``GET /api/v1/cases/{id}`` answers
    them), so a claim reads nothing after the claim statement."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=None,
        responses={
            # A queue of another app's work (appeals) answers with that work, any other
            # queue with the case; the list is read when the schema is built.
            200: PolymorphicProxySerializer(
                component_name="ClaimedWork",
                serializers=_claimed_work_serializers,
                resource_type_field_name=None,
            ),
            204: None,
        },
    )
    def post(self, request, slug: str):
        queue = selectors.queue_get_for(
            actor=request.user, slug=slug, kind=None, related=services.claim_guard_relations()
        )
        handler = _CLAIM_HANDLERS.get(queue.kind)
        if handler is not None:
            return handler.claim(request, queue)
        # The claim records the view (access log) with the claim itself: it answers the case.
        case = services.case_claim_next(actor=request.user, queue=queue, request=request)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ClaimedCaseSerializer(case).data)


class CaseCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    # DRF quietly falls back to the default page size for a bad ``page_size``: invalid input,
    # answered 400 like any other. A cursor is the server's own token: one that is not base64
    # breaks the schema's ``pattern`` (400); a well-formed one that names no page is 404, as
    # DRF answers it, since no schema can tell a client which tokens name a page.
    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    CURSOR_PATTERN = "^[A-Za-z0-9+/=]*$"

    def decode_cursor(self, request):
        raw = request.query_params.get(self.cursor_query_param, "")
        if not re.fullmatch(self.CURSOR_PATTERN, raw):
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        return super().decode_cursor(request)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            if parameter["name"] == self.cursor_query_param:
                parameter["schema"]["pattern"] = self.CURSOR_PATTERN
        return parameters


class CaseListApi(ListAPIView):
    """Cases the caller may see, newest first, with filters and cursor pagination."""

    serializer_class = CaseListSerializer
    pagination_class = CaseCursor
    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("queue", str),
            OpenApiParameter(
                "status", str, description="new, in_review, …, open, or empty for all"
            ),
            OpenApiParameter("severity", str, enum=["P0", "P1", "P2", "P3"]),
            OpenApiParameter("reason", str),
            OpenApiParameter("source", str, enum=["automated", "human"]),
            OpenApiParameter("tag", str),
            OpenApiParameter("breached", bool),
        ],
        responses={
            200: CaseListSerializer(many=True),
            404: OpenApiResponse(
                description="The queue filter names no queue you may work, or the cursor no page."
            ),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        queue = None
        if params.get("queue"):
            queue = selectors.queue_get_for(actor=self.request.user, slug=params["queue"])
        severity = None
        if params.get("severity"):
            try:
                severity = SeverityField().to_internal_value(params["severity"])
            except serializers.ValidationError as exc:
                raise ValidationError({"severity": exc.detail}) from None
        source = params.get("source", "")
        if source not in ("", "automated", "human"):
            raise ValidationError({"source": ["One of automated, human."]})
        breached = params.get("breached", "").lower()
        if breached not in ("", "true", "false", "1", "0", "yes", "no"):
            raise ValidationError({"breached": ["Must be true or false."]})
        filters = selectors.CaseFilters(
            status=params.get("status", ""),
            severity=severity,
            reason=params.get("reason", ""),
            source=source,
            tag=params.get("tag", ""),
            breached=breached in ("1", "true", "yes"),
        )
        return selectors.case_list(actor=self.request.user, queue=queue, filters=filters).order_by(
            "-id"
        )


class CaseDetailApi(APIView):
    """One case (the view is logged); PATCH edits tags, severity or queue with ``version``."""

    required_scopes = {"GET": "cases:read", "PATCH": "cases:write"}

    @extend_schema(responses=CaseDetailSerializer)
    def get(self, request, case_id: int):
        case = selectors.case_get_for(actor=request.user, case_id=case_id)
        services.case_view_record(actor=request.user, case=case, request=request)
        return Response(CaseDetailSerializer(case, context={"viewer": request.user}).data)

    @extend_schema(request=CaseUpdateSerializer, responses=CaseDetailSerializer)
    def patch(self, request, case_id: int):
        selectors.case_get_for(actor=request.user, case_id=case_id)
        serializer = CaseUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        case = services.case_update(
            actor=request.user,
            case_id=case_id,
            version=data["version"],
            tags=data.get("tags"),
            severity=data.get("severity"),
            queue=data.get("queue"),
        )
        case = selectors.case_get_for(actor=request.user, case_id=case.pk)
        return Response(CaseDetailSerializer(case, context={"viewer": request.user}).data)


class ReleaseInput(StrictJsonInput, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    skip = serializers.BooleanField(required=False, default=False)


class ReleaseScheme(OpenApiSerializerExtension):
    """A skip needs a reason (``services.case_release`` refuses one without): either no skip,
    or ``skip: true`` with a ``reason`` that is not blank."""

    target_class = ReleaseInput

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        # Without ``skip`` or with ``skip: false`` the first branch holds.
        schema["anyOf"] = [
            {"properties": {"skip": {"enum": [False]}}},
            {
                "properties": {
                    "skip": {"enum": [True]},
                    "reason": {"type": "string", "pattern": NOT_BLANK_PATTERN},
                },
                "required": ["skip", "reason"],
            },
        ]
        return schema


class CaseReleaseApi(APIView):
    """Give a claimed case back to its queue (``skip`` with a reason keeps it from you an hour)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=ReleaseInput, responses=CaseListSerializer)
    def post(self, request, case_id: int):
        data = ReleaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.case_release(
            actor=request.user,
            case_id=case_id,
            reason=data.validated_data["reason"],
            skip=data.validated_data["skip"],
        )
        return Response(CaseListSerializer(case).data)


class CaseNoteCreateApi(APIView):
    """Add an internal note to a case."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer})
    def post(self, request, case_id: int):
        selectors.case_get_for(actor=request.user, case_id=case_id)  # 404 before the body
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.note_add(
            actor=request.user, case_id=case_id, body=serializer.validated_data["body"]
        )
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class SearchApi(APIView):
    """Search by case id, subject or owner id, identifier value, or full text."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        operation_id="v1_search_list",
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "pattern": NOT_BLANK_PATTERN},
                required=True,
                description="Something to search for (not blank).",
            )
        ],
        responses=inline_serializer("SearchResults", {"results": CaseListSerializer(many=True)}),
    )
    def get(self, request):
        q = request.query_params.get("q", "").strip()
        if not q:
            raise ValidationError({"q": ["Give something to search for."]})
        results = selectors.case_search(actor=request.user, q=q)
        return Response({"results": CaseListSerializer(results, many=True).data})
