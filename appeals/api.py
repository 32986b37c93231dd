"""REST views of appeals."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from appeals import selectors, services
from appeals.permissions import check_file_appeal
from appeals.serializers import (
    AppealDecisionInputSerializer,
    AppealInputSerializer,
    AppealReviewSerializer,
    AppealStatusSerializer,
)
from cases.api import QueueClaimHandler, register_queue_claim
from cases.models import Queue
from tsops.api import Conflict


class AppealCreateApi(APIView):
    """File an appeal on a user's behalf (idempotent on ``external_id``)."""

    required_scopes = {"POST": "appeals:write"}

    @extend_schema(
        request=AppealInputSerializer,
        responses={
            201: AppealStatusSerializer,
            200: AppealStatusSerializer,
            404: OpenApiResponse(description="No such action."),
            409: OpenApiResponse(
                description="The action cannot be appealed now: it has an open appeal, its "
                "appeal window has passed, or it is not in force."
            ),
        },
    )
    def post(self, request):
        check_file_appeal(request.user)  # before the body is read
        serializer = AppealInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            appeal, created = services.appeal_file(actor=request.user, **serializer.validated_data)
        except services.NoSuchAction as error:
            raise NotFound(error.message_dict["action_id"][0]) from error
        except services.ActionNotAppealable as error:
            raise Conflict(error.message_dict["action_id"][0]) from error
        return Response(
            AppealStatusSerializer(appeal).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AppealDetailApi(APIView):
    """An appeal's status and, once decided, its outcome and the response to the user."""

    required_scopes = {"GET": "appeals:write"}

    @extend_schema(responses=AppealStatusSerializer)
    def get(self, request, appeal_id: int):
        appeal = selectors.appeal_get_for_filer(actor=request.user, appeal_id=appeal_id)
        return Response(AppealStatusSerializer(appeal).data)


class AppealDecisionApi(APIView):
    """Decide an appeal: upheld, overturned or modified (with a replacement action)."""

    required_scopes = {"POST": "cases:write"}

    @extend_schema(request=AppealDecisionInputSerializer, responses=AppealReviewSerializer)
    def post(self, request, appeal_id: int):
        selectors.appeal_get_for(actor=request.user, appeal_id=appeal_id)
        serializer = AppealDecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        appeal = services.appeal_decide(
            actor=request.user,
            appeal_id=appeal_id,
            outcome=data["outcome"],
            rationale=data["rationale"],
            response_to_user=data["response_to_user"],
            replacement_action=data.get("replacement_action"),
            version=data.get("version"),
        )
        appeal = selectors.appeal_get_for(actor=request.user, appeal_id=appeal.pk)
        return Response(AppealReviewSerializer(appeal).data)


def _claim_from_queue(request, queue: Queue) -> Response:
    """``POST /api/v1/queues/appeals/claim`` (cases' claim endpoint): the top appeal, or 204."""
    appeal = services.appeal_claim_next(actor=request.user, queue=queue)
    if appeal is None:
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(AppealReviewSerializer(appeal).data)


def register() -> None:
    """Called from ``AppealsConfig.ready()``: the appeals queue is claimed as appeals."""
    register_queue_claim(
        kind=Queue.Kind.APPEALS,
        handler=QueueClaimHandler(claim=_claim_from_queue, serializer=AppealReviewSerializer),
    )
