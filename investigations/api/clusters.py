"""REST views of clusters: the list (and building one by hand) and one cluster."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from investigations.models import Cluster, ClusterMember
from investigations.selectors.clusters import (
    ORIGINS,
    SORTS,
    STATUSES,
    cluster_describe,
    cluster_detail,
    cluster_list,
    cluster_summary,
)
from investigations.services.clusters import check_manage_clusters, cluster_create
from investigations.visibility import can_investigate
from tsops.json_input import StrictJsonInput
from tsops.schema import NOT_BLANK_PATTERN

PAGE_SIZE = 50


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "maxLength": 200, "pattern": NOT_BLANK_PATTERN},
        "minItems": 2,
        "uniqueItems": True,
        "description": "External ids of accounts the caller may see (at least two, each once)",
    }
)
class MemberIdsField(serializers.ListField):
    """Account ids, each once (a repeated id is refused: two members are two accounts)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each account once.")
        return value


class ClusterInputSerializer(StrictJsonInput, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    members = MemberIdsField(child=serializers.CharField(max_length=200), min_length=2)


class ClusterSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    origin = serializers.CharField(help_text="One of: " + ", ".join(Cluster.Origin.values))
    status = serializers.CharField(help_text="One of: " + ", ".join(Cluster.Status.values))
    size = serializers.IntegerField(help_text="Member accounts the caller may see")
    content_count = serializers.IntegerField(help_text="Content members the caller may see")
    dominant_reasons = serializers.ListField(child=serializers.CharField())
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    restricted_to_team = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()


class ClusterPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = ClusterSummarySerializer(many=True)


class ClusterMemberSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    kind = serializers.CharField()
    role = serializers.CharField(help_text="One of: " + ", ".join(ClusterMember.Role.values))
    owner = serializers.CharField(allow_null=True, required=False)
    evidence = serializers.DictField()
    standing = serializers.DictField(required=False)
    text = serializers.CharField(required=False)


class ClusterDetailSerializer(ClusterSummarySerializer):
    status_changed_by = serializers.CharField(allow_null=True)
    status_changed_at = serializers.DateTimeField(allow_null=True)
    status_reason = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    evidence = serializers.DictField()
    members = ClusterMemberSerializer(many=True)
    waves = serializers.ListField(child=serializers.DictField())


class ClusterListApi(APIView):
    """Clusters the caller may see, newest activity first (scope ``cases:read``), and a
    cluster built by hand from accounts (scope ``cases:write``; analysts, seniors, team
    members). Counts are of the members the caller may see."""

    required_scopes = {"GET": "cases:read", "POST": "cases:write"}

    @extend_schema(
        operation_id="clusters_list",
        parameters=[
            OpenApiParameter("status", enum=list(STATUSES), required=False),
            OpenApiParameter("origin", enum=list(ORIGINS), required=False),
            OpenApiParameter("sort", enum=list(SORTS), required=False),
            OpenApiParameter("page", int, required=False),
        ],
        responses={
            200: ClusterPageSerializer,
            400: OpenApiResponse(description="A filter out of its values, named"),
            403: OpenApiResponse(description="The role does not read clusters"),
        },
    )
    def get(self, request):
        if not can_investigate(request.user):
            raise PermissionDenied("Your role does not read clusters.")
        params = request.query_params
        errors = {}
        for name, allowed in (("status", STATUSES), ("origin", ORIGINS), ("sort", SORTS)):
            if params.get(name) and params[name] not in allowed:
                errors[name] = [f"One of: {', '.join(allowed)}."]
        # Blank is left out, as HTML forms send it (the schema says allowEmptyValue).
        page_number = params.get("page") or "1"
        if not page_number.isdigit() or int(page_number) < 1:
            errors["page"] = ["A page number from 1."]
        if errors:
            raise serializers.ValidationError(errors)
        clusters = cluster_list(
            actor=request.user,
            status=params.get("status", ""),
            origin=params.get("origin", ""),
            sort=params.get("sort", "last_seen"),
        )
        paginator = Paginator(clusters, PAGE_SIZE)
        page = paginator.get_page(int(page_number))
        return Response(
            {
                "count": paginator.count,
                "page": page.number,
                "pages": paginator.num_pages,
                "results": [cluster_summary(c) for c in page.object_list],
            }
        )

    @extend_schema(
        operation_id="clusters_create",
        request=ClusterInputSerializer,
        responses={
            201: ClusterDetailSerializer,
            400: OpenApiResponse(description="Invalid input, each error under its field"),
            403: OpenApiResponse(description="Not allowed to build clusters"),
            404: OpenApiResponse(
                description="A member names no account the caller may see (named under "
                "`fields.members`)"
            ),
        },
    )
    def post(self, request):
        check_manage_clusters(request.user)
        serializer = ClusterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cluster = cluster_create(
            actor=request.user,
            name=serializer.validated_data["name"],
            members=serializer.validated_data["members"],
        )
        detail = cluster_detail(actor=request.user, cluster_id=cluster.pk)
        return Response(cluster_describe(detail), status=status.HTTP_201_CREATED)


class ClusterDetailApi(APIView):
    """One cluster (scope ``cases:read``): its members the caller may see with their
    external ids, roles and evidence, what links them, its status with who and why."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        operation_id="clusters_retrieve",
        responses={
            200: ClusterDetailSerializer,
            404: OpenApiResponse(description="No such cluster"),
        },
    )
    def get(self, request, cluster_id: int):
        if not can_investigate(request.user):
            raise PermissionDenied("Your role does not read clusters.")
        detail = cluster_detail(actor=request.user, cluster_id=cluster_id)
        return Response(cluster_describe(detail))
