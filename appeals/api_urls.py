from django.urls import path

from appeals import api

urlpatterns = [
    path("appeals", api.AppealCreateApi.as_view(), name="appeal-create"),
    path("appeals/<int:appeal_id>", api.AppealDetailApi.as_view(), name="appeal-detail"),
    path(
        "appeals/<int:appeal_id>/decision", api.AppealDecisionApi.as_view(), name="appeal-decision"
    ),
]
