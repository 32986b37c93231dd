"""REST views of calibration sessions: the caller's sessions, and one closed session's results
(scope ``qa:read``). Before the close the results answer 409 for everyone; someone neither
participant nor ``run_qa`` gets 404."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from qa import calibration_selectors
from qa.models import CalibrationSession


class CalibrationSessionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    cases = serializers.IntegerField(source="case_count", read_only=True)
    results_url = serializers.SerializerMethodField()

    class Meta:
        model = CalibrationSession
        fields = [
            "id",
            "name",
            "description",
            "status",
            "created_by",
            "created_at",
            "opened_at",
            "closed_at",
            "low_agreement_threshold",
            "cases",
            "results_url",
        ]

    def get_results_url(self, session: CalibrationSession) -> str | None:
        if session.status != CalibrationSession.Status.CLOSED:
            return None
        return reverse("api:calibration-results", args=[session.pk])


def _field_values(name: str, *, overall: bool, kind=serializers.FloatField):
    """A serializer with one value per answer field (and ``overall`` when asked)."""
    fields = {field: kind(allow_null=True) for field in calibration_selectors.FIELDS}
    if overall:
        fields["overall"] = kind(allow_null=True)
    return type(name, (serializers.Serializer,), fields)


AgreementSerializer = _field_values("CalibrationAgreement", overall=True)
KappaSerializer = _field_values("CalibrationKappa", overall=False)


class AnswerValuesSerializer(serializers.Serializer):
    outcome = serializers.CharField()
    policy_section = serializers.CharField(allow_blank=True)
    action = serializers.CharField(allow_blank=True)
    severity = serializers.CharField(allow_blank=True, help_text='"P0".."P3", or blank')


class CaseAnswerSerializer(AnswerValuesSerializer):
    username = serializers.CharField()
    notes = serializers.CharField(allow_blank=True)


class ResultsSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    created_by = serializers.CharField()
    opened_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    low_agreement_threshold = serializers.IntegerField(help_text="Percent")
    cases = serializers.IntegerField()
    participants = serializers.IntegerField()


class ParticipantResultSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    answered = serializers.IntegerField()
    agreement = AgreementSerializer(help_text="Share of answers equal to gold (0–1)")


class PairResultSerializer(serializers.Serializer):
    first = serializers.CharField()
    second = serializers.CharField()
    cases = serializers.IntegerField(help_text="Cases both answered")
    kappa = KappaSerializer(help_text="Cohen's kappa per field")


class CaseResultSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    case_id = serializers.IntegerField()
    position = serializers.IntegerField()
    gold = AnswerValuesSerializer()
    answers = CaseAnswerSerializer(many=True)
    agreement = AgreementSerializer(help_text="Share of agreeing participant pairs (0–1)")
    gold_agreement = serializers.FloatField(allow_null=True)
    low_agreement = serializers.BooleanField()
    clarification = serializers.CharField(allow_blank=True)


class TrendEntrySerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    name = serializers.CharField()
    closed_at = serializers.DateTimeField()
    answers = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True)


class TrendSerializer(serializers.Serializer):
    username = serializers.CharField()
    sessions = TrendEntrySerializer(many=True)


class CalibrationResultsSerializer(serializers.Serializer):
    session = ResultsSessionSerializer()
    # "fields" would shadow Serializer.fields.
    answer_fields = serializers.ListField(
        source="fields", child=serializers.CharField(), help_text="The fields compared"
    )
    participants = ParticipantResultSerializer(many=True)
    fleiss_kappa = KappaSerializer(help_text="Fleiss' kappa over all participants, per field")
    cohen_kappa = PairResultSerializer(many=True)
    cases = CaseResultSerializer(many=True)
    ambiguity_candidates = serializers.ListField(
        child=serializers.IntegerField(), help_text="item_id of the cases below the threshold"
    )
    trend = TrendSerializer(many=True)


class CalibrationSessionListApi(ListAPIView):
    """The sessions the caller manages or takes part in, newest first."""

    serializer_class = CalibrationSessionSerializer
    required_scopes = {"GET": "qa:read"}

    def get_queryset(self):
        return calibration_selectors.calibration_session_list(actor=self.request.user)[:200]


class CalibrationResultsApi(APIView):
    """A closed session's results: agreement with gold, Fleiss' and Cohen's kappa, per-case
    agreement with the policy-ambiguity candidates, and each participant's trend."""

    required_scopes = {"GET": "qa:read"}

    @extend_schema(
        responses={
            200: CalibrationResultsSerializer,
            409: OpenApiResponse(description="The session is not closed yet."),
        }
    )
    def get(self, request, session_id: int):
        results = calibration_selectors.calibration_results(
            actor=request.user, session_id=session_id
        )
        return Response(CalibrationResultsSerializer(results).data)
