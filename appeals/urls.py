from django.urls import path

from appeals import views

app_name = "appeals"

urlpatterns = [
    path("appeals/", views.appeal_list, name="appeal-list"),
    path("appeals/next/", views.appeal_claim_next, name="appeal-claim-next"),
    path("appeals/overview/", views.overview, name="overview"),
    path("appeals/file/", views.appeal_file, name="appeal-file"),
    path("appeals/<int:appeal_id>/", views.appeal_detail, name="appeal-detail"),
    path("appeals/<int:appeal_id>/claim/", views.appeal_claim, name="appeal-claim"),
    path("appeals/<int:appeal_id>/release/", views.appeal_release, name="appeal-release"),
    path("appeals/<int:appeal_id>/lease/", views.appeal_lease_renew, name="appeal-lease-renew"),
    path("appeals/<int:appeal_id>/decide/", views.appeal_decide, name="appeal-decide"),
    path("appeals/<int:appeal_id>/status/", views.appeal_status, name="appeal-status"),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read,
        name="notification-read",
    ),
]
