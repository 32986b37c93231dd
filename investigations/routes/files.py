"""Routes of the files views (pages and API), collected by investigations.urls and .api_urls."""

from django.urls import path

from investigations.api import files as api_views
from investigations.views import files as views

pages: list = [
    path("investigations/", views.investigation_list_view, name="investigation-list"),
    path("investigations/new/", views.investigation_create_view, name="investigation-create"),
    path(
        "investigations/<int:investigation_id>/",
        views.investigation_detail_view,
        name="investigation-detail",
    ),
    path(
        "investigations/<int:investigation_id>/edit/",
        views.investigation_edit_view,
        name="investigation-edit",
    ),
    path(
        "investigations/<int:investigation_id>/links/",
        views.investigation_links_view,
        name="investigation-links",
    ),
    path(
        "investigations/<int:investigation_id>/notes/",
        views.investigation_note_view,
        name="investigation-note-add",
    ),
    path(
        "investigations/<int:investigation_id>/report.pdf",
        views.investigation_report_view,
        name="investigation-report",
    ),
]
api: list = [
    path("investigations", api_views.InvestigationListApi.as_view(), name="investigation-list"),
    path(
        "investigations/<int:investigation_id>",
        api_views.InvestigationDetailApi.as_view(),
        name="investigation-detail",
    ),
]
