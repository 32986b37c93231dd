"""REST views for intake, queues, cases and search: validate, call a service, serialize."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors, services
from cases.intake import MAX_BATCH, report_submit, report_submit_batch
from cases.serializers import (
    CaseDetailSerializer,
    CaseListSerializer,
    CaseUpdateSerializer,
    NoteSerializer,
    QueueSerializer,
    SeverityField,
)
from tsops.api import PayloadTooLarge

IntakeAnswer = inline_serializer(
    "IntakeAnswer",
    {
        "report_id": serializers.IntegerField(),
        "case_id": serializers.IntegerField(),
        "case_status": serializers.CharField(),
        "created_case": serializers.BooleanField(),
    },
)
ReportInput = inline_serializer(
    "ReportInput",
    {
        "source": serializers.ChoiceField(
            ["user_report", "trusted_flagger", "automated_flag", "support", "internal"]
        ),
        "external_id": serializers.CharField(),
        "reason": serializers.CharField(),
        "description": serializers.CharField(required=False),
        "reporter_id": serializers.CharField(required=False),
        "subject": inline_serializer(
            "SubjectInput",
            {
                "kind": serializers.ChoiceField(
                    ["account", "content", "message", "listing", "profile"]
                ),
                "external_id": serializers.CharField(),
                "owner_id": serializers.CharField(required=False),
                "text": serializers.CharField(required=False),
                "url": serializers.URLField(required=False),
                "media": serializers.ListField(child=serializers.CharField(), required=False),
                "created_at": serializers.DateTimeField(required=False),
            },
        ),
        "identifiers": serializers.ListField(child=serializers.DictField(), required=False),
        "detector": serializers.CharField(required=False, allow_null=True),
        "score": serializers.FloatField(required=False, allow_null=True),
        "received_at": serializers.DateTimeField(required=False),
    },
)


class ReportCreateApi(APIView):
    """Take one report or automated flag; the same source + external_id again changes nothing."""

    required_scopes = {"POST": "reports:write"}

    @extend_schema(
        request=ReportInput,
        responses={
            201: IntakeAnswer,
            200: IntakeAnswer,
            400: OpenApiResponse(description="Invalid"),
        },
    )
    def post(self, request):
        result = report_submit(actor=request.user, data=request.data)
        if result.errors is not None:
            raise ValidationError(result.errors)
        body = result.as_dict()
        body.pop("index")
        body.pop("status")
        return Response(body, status=result.status)


class ReportBulkApi(APIView):
    """Take up to 1,000 reports; each gets its own result, in order."""

    required_scopes = {"POST": "reports:write"}

    @extend_schema(
        request=inline_serializer(
            "BulkInput", {"reports": serializers.ListField(child=ReportInput)}
        ),
        responses={
            200: inline_serializer(
                "BulkAnswer", {"results": serializers.ListField(child=serializers.DictField())}
            )
        },
    )
    def post(self, request):
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


class QueueClaimApi(APIView):
    """Claim the top case of a queue: 200 with the case, 204 when the queue is empty."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=None, responses={200: CaseDetailSerializer, 204: None})
    def post(self, request, slug: str):
        queue = selectors.queue_get_for(actor=request.user, slug=slug, kind=None)
        if queue.kind == queue.Kind.APPEALS:
            # Appeals queues are claimed the same way and answer with the appeal.
            from appeals.serializers import AppealReviewSerializer
            from appeals.services import appeal_claim_next

            appeal = appeal_claim_next(actor=request.user, queue=queue)
            if appeal is None:
                return Response(status=status.HTTP_204_NO_CONTENT)
            return Response(AppealReviewSerializer(appeal).data)
        case = services.case_claim_next(actor=request.user, queue=queue)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        services.case_view_record(actor=request.user, case=case, request=request)
        return Response(CaseDetailSerializer(case).data)


class CaseCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


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
        ]
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
        filters = selectors.CaseFilters(
            status=params.get("status", ""),
            severity=severity,
            reason=params.get("reason", ""),
            source=params.get("source", ""),
            tag=params.get("tag", ""),
            breached=params.get("breached", "").lower() in ("1", "true", "yes"),
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
        return Response(CaseDetailSerializer(case).data)

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
        return Response(CaseDetailSerializer(case).data)


class CaseReleaseApi(APIView):
    """Give a claimed case back to its queue (``skip`` with a reason keeps it from you an hour)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=inline_serializer(
            "ReleaseInput",
            {
                "reason": serializers.CharField(required=False),
                "skip": serializers.BooleanField(required=False),
            },
        ),
        responses=CaseListSerializer,
    )
    def post(self, request, case_id: int):
        data = request.data if isinstance(request.data, dict) else {}
        case = services.case_release(
            actor=request.user,
            case_id=case_id,
            reason=str(data.get("reason", "")),
            skip=bool(data.get("skip", False)),
        )
        return Response(CaseListSerializer(case).data)


class CaseNoteCreateApi(APIView):
    """Add an internal note to a case."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer})
    def post(self, request, case_id: int):
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
        parameters=[OpenApiParameter("q", str, required=True)],
        responses=CaseListSerializer(many=True),
    )
    def get(self, request):
        q = request.query_params.get("q", "").strip()
        if not q:
            raise ValidationError({"q": ["Give something to search for."]})
        results = selectors.case_search(actor=request.user, q=q)
        return Response({"results": CaseListSerializer(results, many=True).data})
