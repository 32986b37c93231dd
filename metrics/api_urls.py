from django.urls import path

from metrics import api, transparency_views

urlpatterns: list = [
    path("metrics/kpis", api.KpiListApi.as_view(), name="metrics-kpis"),
    path(
        "metrics/transparency-report",
        transparency_views.TransparencyReportApi.as_view(),
        name="metrics-transparency-report",
    ),
]
