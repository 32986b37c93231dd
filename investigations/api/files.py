"""REST views of investigation files: list and open (seniors), read and edit one."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from investigations.models import Investigation
from investigations.permissions import can_edit_investigation, can_open_investigations
from investigations.selectors.files import (
    InvestigationView,
    investigation_get,
    investigation_list,
    investigation_view,
)
from investigations.services import files as services
from investigations.visibility import can_investigate
from tsops.json_input import StrictJsonInput


class InvestigationSummarySerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Investigation
        fields = [
            "id",
            "title",
            "status",
            "owner",
            "restricted",
            "team",
            "version",
            "created_at",
            "updated_at",
        ]


class InvestigationNoteSerializer(serializers.Serializer):
    author = serializers.CharField(source="author.username")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class LinkedAccountSerializer(serializers.Serializer):
    external_id = serializers.CharField(source="account.external_id")
    standing = serializers.DictField()


class LinkedCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    reason = serializers.CharField()
    subject = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField()

    def get_subject(self, case) -> str:
        return f"{case.subject.kind}:{case.subject.external_id}"

    def get_outcome(self, case) -> str | None:
        decisions = list(case.decisions.all())
        return decisions[0].outcome if decisions else None


class LinkedClusterSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    status = serializers.CharField()
    size = serializers.IntegerField()


class InvestigationDetailSerializer(serializers.Serializer):
    """A file with the links the reader may see."""

    id = serializers.IntegerField(source="investigation.pk")
    title = serializers.CharField(source="investigation.title")
    hypothesis = serializers.CharField(source="investigation.hypothesis")
    findings = serializers.CharField(source="investigation.findings")
    status = serializers.CharField(source="investigation.status")
    owner = serializers.CharField(source="investigation.owner.username")
    restricted = serializers.BooleanField(source="investigation.restricted")
    team = serializers.CharField(source="investigation.team")
    version = serializers.IntegerField(source="investigation.version")
    created_at = serializers.DateTimeField(source="investigation.created_at")
    updated_at = serializers.DateTimeField(source="investigation.updated_at")
    members = serializers.SerializerMethodField()
    accounts = LinkedAccountSerializer(many=True)
    clusters = LinkedClusterSerializer(many=True)
    cases = LinkedCaseSerializer(many=True)
    notes = InvestigationNoteSerializer(many=True)
    can_edit = serializers.BooleanField()

    def get_members(self, view: InvestigationView) -> list[str]:
        return [u.username for u in view.members]


class InvestigationCreateSerializer(StrictJsonInput, serializers.Serializer):
    title = serializers.CharField(max_length=services.MAX_TITLE)
    hypothesis = serializers.CharField(
        max_length=services.MAX_TEXT, required=False, allow_blank=True, default=""
    )
    accounts = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=200
    )
    clusters = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=200
    )
    cases = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list, max_length=200
    )
    members = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list, max_length=50
    )


class InvestigationUpdateSerializer(StrictJsonInput, serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    title = serializers.CharField(max_length=services.MAX_TITLE, required=False)
    hypothesis = serializers.CharField(
        max_length=services.MAX_TEXT, required=False, allow_blank=True
    )
    findings = serializers.CharField(max_length=services.MAX_TEXT, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Investigation.Status.values, required=False)
    members = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, max_length=50
    )


def _detail(request, investigation: Investigation) -> dict:
    view = investigation_view(actor=request.user, investigation=investigation)
    return InvestigationDetailSerializer(view).data


def _check_investigate(user) -> None:
    if not can_investigate(user):
        raise PermissionDenied("Investigation files are for those who investigate accounts.")


class InvestigationListApi(APIView):
    """The files the caller may see (GET); open one (POST, seniors)."""

    required_scopes = {"GET": "cases:read", "POST": "cases:write"}

    @extend_schema(responses=InvestigationSummarySerializer(many=True))
    def get(self, request):
        _check_investigate(request.user)
        files = investigation_list(actor=request.user)[:500]
        return Response(InvestigationSummarySerializer(files, many=True).data)

    @extend_schema(
        request=InvestigationCreateSerializer,
        responses={
            201: InvestigationDetailSerializer,
            400: OpenApiResponse(description="Invalid input, each error under its field"),
            403: OpenApiResponse(description="Only seniors open investigations"),
            404: OpenApiResponse(
                description="A link names no account, cluster or case the caller may see "
                "(named under `fields`)"
            ),
        },
    )
    def post(self, request):
        _check_investigate(request.user)
        if not can_open_investigations(request.user):
            raise PermissionDenied("Opening an investigation needs a senior's role.")
        serializer = InvestigationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        investigation = services.investigation_create(
            actor=request.user,
            title=data["title"],
            hypothesis=data["hypothesis"],
            links=services.Links(
                accounts=data["accounts"], clusters=data["clusters"], cases=data["cases"]
            ),
            members=data["members"],
        )
        return Response(_detail(request, investigation), status=status.HTTP_201_CREATED)


class InvestigationDetailApi(APIView):
    """One file with the links the caller may see (GET); edit it with ``version`` (PATCH)."""

    required_scopes = {"GET": "cases:read", "PATCH": "cases:write"}

    @extend_schema(responses=InvestigationDetailSerializer)
    def get(self, request, investigation_id: int):
        investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
        return Response(_detail(request, investigation))

    @extend_schema(
        request=InvestigationUpdateSerializer,
        responses={
            200: InvestigationDetailSerializer,
            400: OpenApiResponse(description="Invalid input"),
            403: OpenApiResponse(description="Not the file's owner or a senior member"),
            404: OpenApiResponse(description="No such investigation"),
            409: OpenApiResponse(description="The file changed since that version"),
        },
    )
    def patch(self, request, investigation_id: int):
        investigation = investigation_get(actor=request.user, investigation_id=investigation_id)
        # Who may is answered before the body is read (404, then 403, then 400).
        if not can_edit_investigation(request.user, investigation):
            raise PermissionDenied("Only the file's owner and its senior members edit it.")
        serializer = InvestigationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        investigation = services.investigation_update(
            actor=request.user, investigation_id=investigation_id, **data
        )
        return Response(_detail(request, investigation))
