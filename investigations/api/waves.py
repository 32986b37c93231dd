"""REST views of waves: submit a wave on a cluster (202 with its job) and read a wave."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from investigations.selectors.waves import wave_describe, wave_get_for
from investigations.services.waves import check_run_waves, wave_submit
from investigations.visibility import cluster_get_for
from tsops.json_input import StrictJsonInput


class WaveInputSerializer(StrictJsonInput, serializers.Serializer):
    policy_section = serializers.CharField(max_length=20, allow_blank=True)
    rationale = serializers.CharField(allow_blank=True, trim_whitespace=False)
    account_action = serializers.CharField(max_length=40, allow_blank=True, required=False)
    duration_hours = serializers.IntegerField(required=False, allow_null=True)
    content_action = serializers.CharField(max_length=40, allow_blank=True, required=False)
    statement_of_reasons = serializers.CharField(
        allow_blank=True, required=False, trim_whitespace=False
    )
    submission_key = serializers.CharField(max_length=64, allow_blank=True, required=False)


WaveSubmitted = inline_serializer(
    "WaveSubmitted",
    {
        "wave_id": serializers.IntegerField(),
        "job_id": serializers.IntegerField(allow_null=True),
        "status": serializers.CharField(),
    },
)


class ClusterEnforcementApi(APIView):
    """Enforce on every visible member of a cluster at once (a wave): 202 with the wave and
    its job (``GET /api/v1/jobs/{id}`` for progress); ``job_id`` is null while the wave
    awaits a senior's approval. The same ``submission_key`` answers the same wave."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=WaveInputSerializer,
        responses={
            202: WaveSubmitted,
            400: OpenApiResponse(description="Invalid input, each error under its field"),
            403: OpenApiResponse(description="Not allowed to run this wave"),
            404: OpenApiResponse(description="No such cluster"),
            409: OpenApiResponse(description="Cluster not open, or a wave already active"),
        },
    )
    def post(self, request, cluster_id: int):
        # Who may is answered before the cluster is looked up and the body read (403, then
        # 404, then 400), as on the wave page.
        check_run_waves(request.user)
        cluster_get_for(actor=request.user, cluster_id=cluster_id)
        serializer = WaveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        wave = wave_submit(
            actor=request.user,
            cluster_id=cluster_id,
            policy_section=data["policy_section"],
            rationale=data["rationale"],
            account_action=data.get("account_action", ""),
            duration_hours=data.get("duration_hours"),
            content_action=data.get("content_action", ""),
            statement_of_reasons=data.get("statement_of_reasons", ""),
            submission_key=data.get("submission_key") or request.headers.get("Idempotency-Key", ""),
        )
        return Response(
            {"wave_id": wave.pk, "job_id": wave.job_id, "status": wave.status},
            status=status.HTTP_202_ACCEPTED,
        )


class WaveDetailApi(APIView):
    """A wave: status, approval, counts and the members the caller may see with what was done
    to each."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(responses={200: OpenApiResponse(description="The wave")})
    def get(self, request, wave_id: int):
        wave = wave_get_for(actor=request.user, wave_id=wave_id)
        return Response(wave_describe(actor=request.user, wave=wave))
