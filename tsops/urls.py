from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tsops import api, views

api_v1 = [
    path("me", api.MeApi.as_view(), name="me"),
    path("access-log", api.AccessLogListApi.as_view(), name="access-log"),
    path("jobs/<int:job_id>", api.JobDetailApi.as_view(), name="job-detail"),
    path("", include("cases.api_urls")),
    path("", include("enforcement.api_urls")),
    path("", include("appeals.api_urls")),
    path("", include("escalations.api_urls")),
    path("", include("qa.api_urls")),
    path("", include("metrics.api_urls")),
    path("", include("investigations.api_urls")),
    path("", include("detection.api_urls")),
]

urlpatterns = [
    # First: the API's requests (the platform's, the claimers') resolve without trying every
    # page's pattern before theirs.
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("", views.home, name="home"),
    # Pages that are not the console's own (the admin, the API docs) and browsers that ask
    # anyway find the console's icon here.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("favicon.svg")),
        name="favicon",
    ),
    path("preferences/", views.preferences, name="preferences"),
    path("notifications/read/", views.notifications_read_all, name="notifications-read-all"),
    path("healthz", views.healthz, name="healthz"),
    path("access-log/", views.access_log, name="access-log"),
    path("", include("cases.urls")),
    path("", include("enforcement.urls")),
    path("", include("appeals.urls")),
    path("", include("escalations.urls")),
    path("", include("qa.urls")),
    path("", include("metrics.urls")),
    path("", include("workspace.urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # After login and logout: /accounts/<external_id>/ is an account's page.
    path("", include("investigations.urls")),
    path("detection/", include("detection.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

handler404 = "tsops.views.page_not_found"
handler500 = "tsops.views.server_error"
