"""Routes of the waves views (pages and API), collected by investigations.urls and .api_urls."""

from django.urls import path

from investigations.api import waves as api_views
from investigations.views import waves as views

pages: list = [
    path("clusters/<int:cluster_id>/wave/", views.wave_new, name="wave-new"),
    path("waves/", views.wave_list, name="wave-list"),
    path("waves/<int:wave_id>/", views.wave_detail, name="wave-detail"),
    path("waves/<int:wave_id>/progress/", views.wave_progress, name="wave-progress"),
    path("waves/<int:wave_id>/approve/", views.wave_approve, name="wave-approve"),
    path("waves/<int:wave_id>/reject/", views.wave_reject, name="wave-reject"),
]
api: list = [
    path(
        "clusters/<int:cluster_id>/enforcement",
        api_views.ClusterEnforcementApi.as_view(),
        name="cluster-enforcement",
    ),
    path("waves/<int:wave_id>", api_views.WaveDetailApi.as_view(), name="wave-detail"),
]
