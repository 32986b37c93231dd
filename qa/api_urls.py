from django.urls import path

from qa import api, calibration_api

urlpatterns = [
    path("qa/reviews", api.ReviewListApi.as_view(), name="qa-review-list"),
    path("qa/reviews/next", api.ReviewClaimNextApi.as_view(), name="qa-review-claim-next"),
    path("qa/reviews/<int:review_id>", api.ReviewDetailApi.as_view(), name="qa-review-detail"),
    path("qa/pass-rates", api.PassRatesApi.as_view(), name="qa-pass-rates"),
    path(
        "calibration/sessions",
        calibration_api.CalibrationSessionListApi.as_view(),
        name="calibration-session-list",
    ),
    path(
        "calibration/sessions/<int:session_id>/results",
        calibration_api.CalibrationResultsApi.as_view(),
        name="calibration-results",
    ),
]
