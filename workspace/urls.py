from django.urls import path

from workspace import views

app_name = "workspace"

urlpatterns = [
    path("workspace/exposure/", views.exposure, name="exposure"),
    path("workspace/exposure/overrides/", views.override_grant, name="override-grant"),
    path("workspace/cases/<int:case_id>/presence/", views.case_presence, name="case-presence"),
    path("workspace/queues/<slug:slug>/presence/", views.queue_presence, name="queue-presence"),
]
