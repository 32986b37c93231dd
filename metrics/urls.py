from django.urls import path

from metrics import transparency_views, views

app_name = "metrics"

urlpatterns: list = [
    path("metrics/", views.dashboard, name="dashboard"),
    path("metrics/live/", views.live, name="live"),
    path("metrics/me/", views.my_figures, name="my-figures"),
    path("metrics/transparency/", transparency_views.transparency, name="transparency"),
    path(
        "metrics/transparency/csv/",
        transparency_views.transparency_csv,
        name="transparency-csv",
    ),
]
