from django.urls import path

from metrics import api

urlpatterns: list = [
    path("metrics/kpis", api.KpiListApi.as_view(), name="metrics-kpis"),
]
