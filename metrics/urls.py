from django.urls import path

from metrics import views

app_name = "metrics"

urlpatterns: list = [
    path("metrics/", views.dashboard, name="dashboard"),
    path("metrics/live/", views.live, name="live"),
    path("metrics/me/", views.my_figures, name="my-figures"),
]
