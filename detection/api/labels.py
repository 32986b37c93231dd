"""REST resource of the labelled-data export: decisions as JSON Lines, streamed."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from detection.forms_labels import LabelExportForm
from detection.permissions_labels import can_export_labels
from detection.selectors.labels import SPLITS
from detection.views.labels import CONTENT_TYPE, labels_stream
from tsops.api import NoSuchPeriod, period_description

ROW_DESCRIPTION = (
    "One JSON object per line and per decision, oldest first: `decision_id`, `decided_at`, "
    "`split` (train, validation or test: the period cut in time order at the shares of "
    "TSOPS_LABEL_SPLITS), `case_id`, `severity`, `subject` (`kind`, `id_hash` and "
    "`account_hash` — keyed hashes of the platform ids —, the snapshot `text`, `url_hash`, "
    "`media_hashes`, `created_at`), `reasons`, `sources`, `detectors` (`detector`, highest "
    "`score`), `policy_section` (`code`, `version`, `policy`) or null, `outcome`, `actions`, "
    "`automated`, and `qa_label`: null, or the answer of a failed QA review once it is settled "
    "(`outcome`, `policy_section`, `error_types`, `settled`: acknowledged or upheld). Nothing "
    "identifies a reporter."
)


class LabelExportApi(APIView):
    """Decisions of a period as labelled data for classifiers, streamed as JSON Lines.

    Only decisions on cases the caller sees: a restricted case only for members of its team.
    Every export is written to the access log before its first row."""

    required_scopes = {"GET": "metrics:read"}
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        # The rows go out as JSON Lines whatever the client accepts, and an error as the API's
        # one JSON shape, so a client asking for application/x-ndjson is never answered 406.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        operation_id="exports_labels",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First day"),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, required=True, description="Last day (included)"
            ),
            OpenApiParameter(
                "split",
                OpenApiTypes.STR,
                enum=list(SPLITS),
                description="Only the rows of this split (default: every row, each marked)",
            ),
        ],
        description=period_description(max_days=settings.TSOPS_LABEL_EXPORT_MAX_DAYS)
        + "\n\n"
        + ROW_DESCRIPTION,
        responses={
            (200, CONTENT_TYPE): OpenApiResponse(
                response=OpenApiTypes.STR, description=ROW_DESCRIPTION
            ),
            404: OpenApiResponse(description="No such period (see the description)."),
        },
    )
    def get(self, request):
        if not can_export_labels(request.user):
            raise exceptions.PermissionDenied(
                "Exporting labelled data needs the export permission."
            )
        form = LabelExportForm(request.query_params)
        if not form.is_valid():
            if form.only_period_errors():
                raise NoSuchPeriod(next(iter(form.errors.values()))[0])
            raise serializers.ValidationError(
                {field: list(errors) for field, errors in form.errors.items()}
            )
        return labels_stream(request, form, fmt="api")
