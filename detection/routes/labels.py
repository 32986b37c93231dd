"""Routes of the labelled-data export (page, download and API), collected by detection.urls
and detection.api_urls."""

from django.urls import path

from detection.api import labels as api_views
from detection.views import labels as views

pages: list = [
    path("labels/", views.labels_view, name="labels"),
    path("labels/export.jsonl", views.labels_download_view, name="labels-download"),
]
api: list = [
    path("exports/labels", api_views.LabelExportApi.as_view(), name="exports-labels"),
]
