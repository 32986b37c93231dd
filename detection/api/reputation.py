"""REST view of one reporter's record, and the mass-flag defence (seniors). The raw reporter
id in the path is hashed before anything is looked up; the answer never carries it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from detection.selectors.reputation import ReporterRecord, reporter_get_for, reporter_hash_of
from detection.services.reputation import reporter_invalidate, reporter_restore
from tsops.models import AccessLog
from tsops.services import access_log_record


class ReporterSerializer(serializers.Serializer):
    reporter_hash_prefix = serializers.CharField(help_text="The first 12 hex digits of the hash")
    reports = serializers.IntegerField(help_text="Reports on cases the caller may see")
    open_reports = serializers.IntegerField(help_text="Of those, on unresolved cases")
    decided = serializers.IntegerField(help_text="Reports with a deciding decision")
    confirmed = serializers.IntegerField(help_text="Of the decided, decided a violation")
    set_aside = serializers.IntegerField(help_text="Reports set aside as mass flagging now")
    reputation = serializers.FloatField(
        help_text="Posterior mean of the Beta prior: (α + confirmed) / (α + β + decided)"
    )
    trusted = serializers.BooleanField(help_text="A trusted flagger (Art. 22 DSA)")
    band = serializers.ChoiceField(choices=["trusted", "good", "mixed", "poor", "new"])
    invalidations = serializers.ListField(child=serializers.DictField())


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why (at least 5 characters)")


def _answer(record: ReporterRecord) -> dict:
    return {
        "reporter_hash_prefix": record.prefix,
        "reports": record.reports,
        "open_reports": record.open_reports,
        "decided": record.decided,
        "confirmed": record.confirmed,
        "set_aside": record.set_aside,
        "reputation": round(record.score, 4),
        "trusted": record.trusted,
        "band": record.band,
        "invalidations": [
            {
                "id": i.pk,
                "reason": i.reason,
                "invalidated_by": i.invalidated_by.get_username(),
                "invalidated_at": i.invalidated_at.isoformat(),
                "restored_by": i.restored_by.get_username() if i.restored_by_id else None,
                "restored_at": i.restored_at.isoformat() if i.restored_at else None,
            }
            for i in record.invalidations
        ],
    }


def _lookup(request, reporter_id: str) -> ReporterRecord:
    """The record (403 for non-seniors, 404 for unknown), the look-up written to the log."""
    reporter_hash = reporter_hash_of(reporter_id)
    record = reporter_get_for(actor=request.user, reporter_hash=reporter_hash)
    access_log_record(
        actor=request.user,
        action=AccessLog.Action.VIEWED,
        object_type="detection.reporter",
        object_id=record.prefix,
        request=request,
        detail={"view": "reporter"},
    )
    return record


_ERRORS = {
    403: OpenApiResponse(description="Only seniors look reporters up"),
    404: OpenApiResponse(description="No reporter with reports on cases you may see"),
}


class ReporterDetailApi(APIView):
    """One reporter's record over the cases the caller may see (scope ``cases:read``,
    seniors; the look-up is logged)."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(responses={200: ReporterSerializer, **_ERRORS})
    def get(self, request, reporter_id: str):
        return Response(_answer(_lookup(request, reporter_id)))


class ReporterInvalidateApi(APIView):
    """Set aside the reporter's open reports as mass flagging (scope ``cases:write``,
    seniors): they stop counting toward their cases, and cases left with none sink."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=ReasonSerializer,
        responses={
            200: ReporterSerializer,
            400: OpenApiResponse(description="No reason, or no open report to set aside"),
            **_ERRORS,
        },
    )
    def post(self, request, reporter_id: str):
        record = _lookup(request, reporter_id)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reporter_invalidate(
            actor=request.user,
            reporter_hash=record.reporter_hash,
            reason=serializer.validated_data["reason"],
        )
        after = reporter_get_for(actor=request.user, reporter_hash=record.reporter_hash)
        return Response(_answer(after))


class ReporterRestoreApi(APIView):
    """Put the reporter's set-aside reports back (scope ``cases:write``, seniors)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(
        request=ReasonSerializer,
        responses={
            200: ReporterSerializer,
            400: OpenApiResponse(description="No reason, or nothing set aside to restore"),
            **_ERRORS,
        },
    )
    def post(self, request, reporter_id: str):
        record = _lookup(request, reporter_id)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reporter_restore(
            actor=request.user,
            reporter_hash=record.reporter_hash,
            reason=serializer.validated_data["reason"],
        )
        after = reporter_get_for(actor=request.user, reporter_hash=record.reporter_hash)
        return Response(_answer(after))
