"""Routes of the detector operating points (pages and API), collected by detection.urls and
.api_urls."""

from django.urls import path

from detection.api import operating as api_views
from detection.views import operating as views

pages: list = [
    path("detectors/", views.detector_list_page, name="detector-list"),
    path("detectors/<str:name>/", views.detector_detail_page, name="detector-detail"),
]
api: list = [
    path("detectors", api_views.DetectorListApi.as_view(), name="detector-list"),
    path(
        "detectors/<str:name>/operating-points",
        api_views.DetectorOperatingPointsApi.as_view(),
        name="detector-operating-points",
    ),
]
