"""Routes of the alerts (pages and API), collected by detection.urls and .api_urls."""

from django.urls import path

from detection.api import alerts as api_views
from detection.views import alerts as views

pages: list = [
    path("alerts/", views.alert_list_view, name="alert-list"),
    path("alerts/<int:alert_id>/", views.alert_detail_view, name="alert-detail"),
    path(
        "alerts/<int:alert_id>/acknowledge/",
        views.alert_acknowledge_view,
        name="alert-acknowledge",
    ),
    path(
        "alerts/<int:alert_id>/resolve/",
        views.alert_resolve_view,
        name="alert-resolve",
    ),
]
api: list = [
    path("alerts", api_views.AlertListApi.as_view(), name="alert-list"),
    path("alerts/<int:alert_id>", api_views.AlertDetailApi.as_view(), name="alert-detail"),
    path(
        "alerts/<int:alert_id>/acknowledge",
        api_views.AlertAcknowledgeApi.as_view(),
        name="alert-acknowledge",
    ),
    path(
        "alerts/<int:alert_id>/resolve",
        api_views.AlertResolveApi.as_view(),
        name="alert-resolve",
    ),
]
