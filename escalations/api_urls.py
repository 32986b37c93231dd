from django.urls import path

from escalations import api

urlpatterns = [
    path(
        "cases/<int:case_id>/escalations",
        api.CaseEscalationCreateApi.as_view(),
        name="case-escalations",
    ),
    path("escalations", api.EscalationListApi.as_view(), name="escalation-list"),
    path(
        "escalations/<int:escalation_id>",
        api.EscalationDetailApi.as_view(),
        name="escalation-detail",
    ),
    path(
        "escalations/<int:escalation_id>/acknowledge",
        api.EscalationAcknowledgeApi.as_view(),
        name="escalation-acknowledge",
    ),
    path(
        "escalations/<int:escalation_id>/resolve",
        api.EscalationResolveApi.as_view(),
        name="escalation-resolve",
    ),
    path(
        "escalations/<int:escalation_id>/return",
        api.EscalationReturnApi.as_view(),
        name="escalation-return",
    ),
]
