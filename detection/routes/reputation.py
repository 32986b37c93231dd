"""Routes of reporter reputation (pages and API), collected by detection.urls and .api_urls."""

from django.urls import path

from detection.api.reputation import ReporterDetailApi, ReporterInvalidateApi, ReporterRestoreApi
from detection.views import reputation as views

pages: list = [
    path("reporters/", views.reporter_list_view, name="reporter-list"),
    path("reporters/<str:reporter_hash>/", views.reporter_detail_view, name="reporter"),
    path(
        "reporters/<str:reporter_hash>/invalidate/",
        views.reporter_invalidate_view,
        name="reporter-invalidate",
    ),
    path(
        "reporters/<str:reporter_hash>/restore/",
        views.reporter_restore_view,
        name="reporter-restore",
    ),
]
api: list = [
    path("reporters/<str:reporter_id>", ReporterDetailApi.as_view(), name="reporter-detail"),
    path(
        "reporters/<str:reporter_id>/invalidate",
        ReporterInvalidateApi.as_view(),
        name="reporter-invalidate",
    ),
    path(
        "reporters/<str:reporter_id>/restore", ReporterRestoreApi.as_view(), name="reporter-restore"
    ),
]
