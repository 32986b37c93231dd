from django.urls import path

from escalations import views

app_name = "escalations"

urlpatterns = [
    path("escalations/", views.team_inbox_list, name="team-inbox-list"),
    path("escalations/<int:escalation_id>/", views.escalation_detail, name="escalation-detail"),
    path(
        "escalations/<int:escalation_id>/acknowledge/",
        views.escalation_acknowledge,
        name="escalation-acknowledge",
    ),
    path(
        "escalations/<int:escalation_id>/resolve/",
        views.escalation_resolve,
        name="escalation-resolve",
    ),
    path(
        "escalations/<int:escalation_id>/return/",
        views.escalation_return,
        name="escalation-return",
    ),
    path("cases/<int:case_id>/escalate/", views.case_escalate, name="case-escalate"),
]
