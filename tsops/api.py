"""The API's shared pieces: one JSON error shape, the exceptions it knows, and shell endpoints."""

from __future__ import annotations

import copy

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from tsops import jobs, selectors
from tsops.errors import ConflictError, HiddenObject, UnknownReferences
from tsops.models import AccessLog, ApiKey, Job
from tsops.permissions import role_of, teams_of
from tsops.services import access_denied_record


class FieldsBuiltOnce:
    """Serializer mixin: the fields are built once per class and copied for each instance.

    DRF builds a ModelSerializer's fields from the model (field mapping, kwargs, validators)
    every time one is instantiated: most of the CPU of serializing one case. Copying the
    built fields is what DRF itself does for declared fields. Only for serializers whose
    ``get_fields`` depends on neither the instance nor the context."""

    def get_fields(self):
        built = type(self).__dict__.get("_fields_built_once")
        if built is None:
            built = super().get_fields()
            type(self)._fields_built_once = built
        return copy.deepcopy(built)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object was changed meanwhile; reload and try again."
    default_code = "conflict"


class NoSuchPeriod(exceptions.NotFound):
    """A period no report covers: one that ends before it starts, is longer than its report
    allows or ends after today. JSON Schema cannot relate two query parameters, so a request
    the schema accepts can still name such a period; it is answered 404 (the period names no
    report), never 400 (which promises a schema violation), and never answered with a swapped
    or clipped period, which a transparency figure must not silently be."""

    default_detail = "No such period."
    default_code = "no_such_period"


PERIOD_RULES = (
    "A period is `from` to `to`, both days included: `to` on or after `from`{limit}. "
    "A period that breaks this (which the schema cannot state: it relates two parameters) "
    "names no report and is answered 404."
)


def period_description(*, max_days: int | None = None, until_today: bool = False) -> str:
    """The operation description's sentence about its period rules (see ``NoSuchPeriod``)."""
    limit = f", at most {max_days} days" if max_days else ""
    if until_today:
        limit += ", ending today at the latest"
    return PERIOD_RULES.format(limit=limit)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def _django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for e in errors for m in e.messages]
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    """Answer every API error as ``{"error": {"status", "code", "message", "fields"?}}``."""
    if isinstance(exc, ConflictError):
        exc = Conflict(str(exc))
    elif isinstance(exc, UnknownReferences):
        fields = _django_validation_detail(exc)
        exc = exceptions.NotFound(
            {"detail": f"Nothing you may see: {', '.join(sorted(fields))}.", "fields": fields}
        )
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, Http404):
        if isinstance(exc, HiddenObject):
            access_denied_record(request=context["request"], exc=exc)
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = response.status_code
    body: dict = {"status": code, "code": _CODES.get(code, "error")}
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            body["message"] = "Invalid input: " + ", ".join(sorted(str(k) for k in detail))
            body["fields"] = detail
        else:
            body["message"] = "Invalid input."
            body["fields"] = {"non_field_errors": detail}
    elif isinstance(detail, dict) and "detail" in detail:
        body["message"] = str(detail["detail"])
        extra = {k: v for k, v in detail.items() if k != "detail"}
        if extra:
            body.update(extra)
    else:
        body["message"] = str(detail)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after_seconds"] = int(exc.wait)
    response.data = {"error": body}
    return response


class MeApi(APIView):
    """Who the caller is: username, role, teams, and the key's scopes when using a key."""

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "role": serializers.CharField(allow_null=True),
                "teams": serializers.ListField(child=serializers.CharField()),
                "scopes": serializers.ListField(child=serializers.CharField(), allow_null=True),
            },
        )
    )
    def get(self, request):
        key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response(
            {
                "username": request.user.username,
                "role": role_of(request.user),
                "teams": teams_of(request.user),
                "scopes": key.scopes if key else None,
            }
        )


class AccessLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessLog
        fields = [
            "id",
            "actor_username",
            "action",
            "object_type",
            "object_id",
            "reason",
            "ip_address",
            "at",
        ]


class AccessLogListApi(ListAPIView):
    """The access log, newest first (seniors; scope ``metrics:read``)."""

    serializer_class = AccessLogSerializer
    required_scopes = {"GET": "metrics:read"}

    def get_queryset(self):
        params = self.request.query_params
        return selectors.access_log_list(
            actor=self.request.user,
            object_type=params.get("object_type", ""),
            object_id=params.get("object_id", ""),
            username=params.get("username", ""),
        )[:500]


class JobDetailApi(APIView):
    """A background job's progress and its per-item result (scope ``cases:read``): a wave's
    members with what was done to each, a scan's counts. Its creator and the seniors who
    approve work see it; anyone else is answered 404."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        responses=inline_serializer(
            "Job",
            {
                "id": serializers.IntegerField(),
                "kind": serializers.CharField(),
                "status": serializers.ChoiceField(choices=Job.Status.choices),
                "total": serializers.IntegerField(),
                "done": serializers.IntegerField(),
                "progress": serializers.FloatField(),
                "attempts": serializers.IntegerField(),
                "created_at": serializers.DateTimeField(),
                "started_at": serializers.DateTimeField(allow_null=True),
                "finished_at": serializers.DateTimeField(allow_null=True),
                "error": serializers.CharField(),
                "result": serializers.DictField(),
            },
        )
    )
    def get(self, request, job_id: int):
        job = jobs.job_get_for(actor=request.user, job_id=job_id)
        return Response(jobs.job_describe(actor=request.user, job=job))
