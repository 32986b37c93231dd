"""REST views for QA reviews and pass rates: validate, call one service or selector, serialize.

A review is serialized by hand, in two layers: what the reviewer may see before answering
(the case as the analyst saw it) and, only once the review is answered, the decision."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enforcement.catalogue import ACTIONS
from enforcement.models import Decision, PolicySection
from qa import selectors, services
from qa.models import ErrorType, QAReview
from qa.permissions import can_review_qa, can_work_review
from tsops.api import NoSuchPeriod, period_description
from tsops.json_input import StrictJsonInput
from tsops.services import access_log_record


def _blind_case(review: QAReview) -> dict:
    blind = selectors.blind_view(review)
    subject = blind.subject
    return {
        "id": blind.case.pk,
        "severity": f"P{review.severity}",
        "queue": review.queue.slug,
        "reason": blind.case.reason,
        "subject": {
            "kind": subject.kind,
            "external_id": subject.external_id,
            "snapshot_text": subject.snapshot_text,
            "snapshot_url": subject.snapshot_url,
        },
        "reports": [
            {
                "source": r.source,
                "reason": r.reason,
                "description": r.description,
                "detector": r.detector,
                "score": r.score,
                "received_at": r.received_at,
            }
            for r in blind.reports
        ],
        "evidence": [
            {
                "kind": e.kind,
                "sha256": e.sha256,
                "captured_at": e.captured_at,
                # Sensitive and do-not-open content stays out of the API, as on the page.
                "url": "" if e.sensitive or e.do_not_open else e.url,
                "excerpt": "" if e.sensitive or e.do_not_open else e.excerpt,
                "sensitive": e.sensitive,
                "do_not_open": e.do_not_open,
            }
            for e in blind.evidence
        ],
        "history": [{"kind": ev.kind, "at": ev.at} for ev in blind.events],
        "prior_actions": [
            {"action_type": a.action_type, "status": a.status, "created_at": a.created_at}
            for a in blind.prior_actions
        ],
    }


def review_payload(review: QAReview, actor) -> dict:
    """The review as the actor may see it: the decision only once the review is answered."""
    data = {
        "id": review.pk,
        "version": review.version,
        "status": review.status,
        "inclusion": review.inclusion,
        "decided_at": review.decided_at,
        "claimed_by": review.claimed_by.username if review.claimed_by_id else None,
        "can_work": can_work_review(actor, review),
        "case": _blind_case(review),
        "rubric": services.rubric_criteria(review.rubric),
        "answer": None,
        "decision": None,
        "score": None,
        "feedback": None,
    }
    if review.answered_at:
        data["answer"] = {
            "reviewer": review.reviewer.username if review.reviewer_id else None,
            "outcome": review.blind_outcome,
            "policy_section": review.blind_policy_section,
            "action": review.blind_action,
            "notes": review.blind_notes,
            "answered_at": review.answered_at,
        }
    original = selectors.original_decision(review)
    if original is not None:
        data["decision"] = {
            "id": original["decision"].pk,
            "decided_by": original["decided_by"].username,
            "outcome": original["outcome"],
            "policy_section": original["policy_section"].code
            if original["policy_section"]
            else None,
            "rationale": original["rationale"],
            "automated": original["automated"],
            "actions": [
                {"id": a.pk, "action_type": a.action_type, "status": a.status}
                for a in original["actions"]
            ],
        }
    if review.status == QAReview.Status.SCORED:
        data["score"] = {
            "criteria": review.scores,
            "score": review.score,
            "passed": review.passed,
            "error_types": review.error_types,
            "notes": review.reviewer_notes,
            "scored_at": review.scored_at,
        }
        data["feedback"] = {
            "status": review.feedback,
            "dispute_reason": review.dispute_reason,
            "adjudicated_by": review.adjudicated_by.username if review.adjudicated_by_id else None,
            "adjudication_notes": review.adjudication_notes,
        }
    return data


ReviewOut = inline_serializer(
    "QAReview",
    {
        "id": serializers.IntegerField(),
        "version": serializers.IntegerField(),
        "status": serializers.CharField(),
        "inclusion": serializers.CharField(),
        "decided_at": serializers.DateTimeField(),
        "claimed_by": serializers.CharField(allow_null=True),
        "can_work": serializers.BooleanField(),
        "case": serializers.DictField(),
        "rubric": serializers.ListField(child=serializers.DictField()),
        "answer": serializers.DictField(allow_null=True),
        "decision": serializers.DictField(allow_null=True),
        "score": serializers.DictField(allow_null=True),
        "feedback": serializers.DictField(allow_null=True),
    },
)

REVIEW_SUMMARY_FIELDS = (
    "QAReviewSummary",
    {
        "id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "severity": serializers.CharField(),
        "queue": serializers.CharField(),
        "case_id": serializers.IntegerField(),
        "decided_at": serializers.DateTimeField(),
        "passed": serializers.BooleanField(allow_null=True),
    },
)


class PolicySectionCodeField(serializers.CharField):
    """A policy section by code, any version (``review_answer`` looks it up), or blank."""


class PolicySectionCodeScheme(OpenApiSerializerFieldExtension):
    """The enum is read when the schema is generated, from the table the service looks codes
    up in, so the served schema names the codes the server accepts."""

    target_class = PolicySectionCodeField

    def map_serializer_field(self, auto_schema, direction):
        codes = sorted(set(PolicySection.objects.values_list("code", flat=True)))
        return {"type": "string", "enum": ["", *codes]}


class ReviewAnswerInput(StrictJsonInput, serializers.Serializer):
    outcome = serializers.ChoiceField(Decision.Outcome.choices)
    policy_section = PolicySectionCodeField(required=False, allow_blank=True, default="")
    # The action the reviewer would have taken, from the catalogue (blank: none).
    action = serializers.ChoiceField(list(ACTIONS), required=False, allow_blank=True, default="")
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReviewScoreInput(StrictJsonInput, serializers.Serializer):
    criteria = serializers.DictField(child=serializers.BooleanField())
    error_types = serializers.ListField(
        child=serializers.ChoiceField(ErrorType.values), required=False, default=list
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReviewPostInput(StrictJsonInput, serializers.Serializer):
    """Send ``answer`` first (blind), then ``score`` once the decision is revealed."""

    answer = ReviewAnswerInput(required=False)
    score = ReviewScoreInput(required=False)
    version = serializers.IntegerField(required=False)

    STEPS = ("answer", "score")

    def validate(self, attrs):
        if ("answer" in attrs) == ("score" in attrs):
            raise serializers.ValidationError("Send exactly one of answer or score.")
        return attrs


class ReviewPostScheme(OpenApiSerializerExtension):
    """The body is one step: exactly one of ``answer`` or ``score`` (what
    ``ReviewPostInput.validate`` requires), stated as a ``oneOf``."""

    target_class = ReviewPostInput

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        steps = ReviewPostInput.STEPS
        schema["oneOf"] = [
            {"required": [step], "not": {"required": [other]}}
            for step in steps
            for other in steps
            if other != step
        ]
        return schema


class ReviewListApi(APIView):
    """QA reviews: open ones waiting for a reviewer (never your own decisions), yours in
    progress, or those you scored."""

    required_scopes = {"GET": "qa:read"}

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["open", "mine", "scored"])],
        responses={200: inline_serializer(*REVIEW_SUMMARY_FIELDS, many=True)},
    )
    def get(self, request):
        # Blank is the same as leaving it out, as for every optional query parameter.
        status = request.query_params.get("status") or "open"
        if status not in ("open", "mine", "scored"):
            raise serializers.ValidationError({"status": "One of open, mine, scored."})
        if not can_review_qa(request.user):
            raise PermissionDenied("QA reviews need the reviewer capability.")
        reviews = selectors.review_queue(actor=request.user, status=status)
        return Response(
            [
                {
                    "id": r.pk,
                    "status": r.status,
                    "severity": f"P{r.severity}",
                    "queue": r.queue.slug,
                    "case_id": r.case_id,
                    "decided_at": r.decided_at,
                    "passed": r.passed,
                }
                for r in reviews
            ]
        )


class ReviewClaimNextApi(APIView):
    """Claim the most urgent QA review you may do; 204 when none waits."""

    required_scopes = {"POST": "qa:write"}

    @extend_schema(request=None, responses={200: ReviewOut, 204: None})
    def post(self, request):
        review = services.review_claim_next(actor=request.user)
        if review is None:
            return Response(status=204)
        review = selectors.review_get_for(actor=request.user, review_id=review.pk)
        return Response(review_payload(review, request.user))


class ReviewDetailApi(APIView):
    """One QA review. Before the reviewer answers it holds nothing of the decision.
    POST ``{"answer": {...}}`` records the blind answer and reveals the decision; then POST
    ``{"score": {"criteria": {key: true|false}, "error_types": [...], "notes": ""}}``."""

    required_scopes = {"GET": "qa:read", "POST": "qa:write"}

    @extend_schema(responses={200: ReviewOut})
    def get(self, request, review_id: int):
        review = selectors.review_get_for(actor=request.user, review_id=review_id)
        access_log_record(actor=request.user, action="viewed", obj=review, request=request)
        return Response(review_payload(review, request.user))

    # Exactly one of answer or score, with the optional version (ReviewPostScheme).
    @extend_schema(request=ReviewPostInput, responses={200: ReviewOut})
    def post(self, request, review_id: int):
        selectors.review_get_for(actor=request.user, review_id=review_id)
        data = ReviewPostInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = data.validated_data.get("version")
        if "answer" in data.validated_data:
            services.review_answer(
                actor=request.user,
                review_id=review_id,
                version=version,
                **data.validated_data["answer"],
            )
        else:
            score = data.validated_data["score"]
            services.review_score(
                actor=request.user,
                review_id=review_id,
                scores=score["criteria"],
                error_types=score["error_types"],
                notes=score["notes"],
                version=version,
            )
        review = selectors.review_get_for(actor=request.user, review_id=review_id)
        return Response(review_payload(review, request.user))


class PassRatesQuery(serializers.Serializer):
    group_by = serializers.ChoiceField(list(selectors.GROUPINGS), required=False, default="analyst")
    include_targeted = serializers.BooleanField(required=False, default=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so these two are added here rather than declared.
        self.fields["from"] = serializers.DateField(required=False, allow_null=True, default=None)
        self.fields["to"] = serializers.DateField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        if attrs["from"] and attrs["to"] and attrs["from"] > attrs["to"]:
            raise NoSuchPeriod("The end is before the start.")
        return attrs


# A group's key is what it is grouped by: a member's id, or a queue's or reason's code.
@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True})
class GroupKeyField(serializers.Field):
    """A pass-rate group's key: an integer id or a text code."""

    def to_representation(self, value):
        return value


class RateOut(serializers.Serializer):
    key = GroupKeyField(allow_null=True)
    label = serializers.CharField()
    n = serializers.IntegerField()
    passed = serializers.IntegerField()
    pass_rate = serializers.FloatField(allow_null=True)
    interval_low = serializers.FloatField(allow_null=True)
    interval_high = serializers.FloatField(allow_null=True)


class PassRatesApi(APIView):
    """QA pass rates with their sample size and 95% Wilson interval: the team's for seniors,
    your own otherwise. ``from``/``to`` are inclusive dates of scoring."""

    required_scopes = {"GET": "qa:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("group_by", str, enum=list(selectors.GROUPINGS)),
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (YYYY-MM-DD)"),
            OpenApiParameter("include_targeted", bool),
        ],
        description=period_description(),
        responses={
            404: OpenApiResponse(description="No such period (see the description)."),
            200: inline_serializer(
                "QAPassRates",
                {
                    "group_by": serializers.CharField(),
                    "include_targeted": serializers.BooleanField(),
                    "overall": RateOut(),
                    "groups": RateOut(many=True),
                    "errors": serializers.ListField(child=serializers.DictField()),
                },
            ),
        },
    )
    def get(self, request):
        query = PassRatesQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        rates = selectors.pass_rates(
            actor=request.user,
            group_by=params["group_by"],
            start=params["from"],
            end=params["to"],
            include_targeted=params["include_targeted"],
        )
        return Response(
            {
                "group_by": rates["group_by"],
                "include_targeted": rates["include_targeted"],
                "overall": rates["overall"].as_dict(),
                "groups": [row.as_dict() for row in rates["groups"]],
                "errors": rates["errors"],
            }
        )
