"""The console's shell pages: home per role, health, access log, error pages."""

from __future__ import annotations

import sys

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tsops import home as home_sections
from tsops import selectors, services
from tsops.decorators import console_view
from tsops.errors import HiddenObject
from tsops.forms import PreferencesForm
from tsops.models import UserPreference
from tsops.permissions import role_of, teams_of
from tsops.services import access_denied_record


@console_view()
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in member's home page: what their role works on first."""
    user = request.user
    context = {
        "role": role_of(user),
        "teams": teams_of(user),
        "sections": home_sections.sections_for(user),
    }
    return render(request, "tsops/home.html", context)


@console_view()
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    """The signed-in member's own workspace preferences (nobody edits anyone else's)."""
    current = selectors.preferences_for(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST, instance=UserPreference(user=request.user))
        if form.is_valid():
            services.preferences_update(actor=request.user, **form.cleaned_data)
            messages.success(request, "Preferences saved.")
            return redirect("preferences")
        return render(request, "tsops/preferences.html", {"form": form}, status=400)
    form = PreferencesForm(instance=current)
    return render(request, "tsops/preferences.html", {"form": form})


@console_view()
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    """Mark every unread notification of the viewer's read, and go back home."""
    count = services.notifications_mark_all_read(actor=request.user)
    if count:
        messages.success(request, f"{count} notification{pluralize(count)} marked read.")
    return redirect("home")


@console_view("view_access_log")
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    entries = selectors.access_log_list(
        actor=request.user,
        object_type=request.GET.get("object_type", ""),
        object_id=request.GET.get("object_id", ""),
        username=request.GET.get("username", ""),
    )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "tsops/access_log.html", {"page": page, "filters": request.GET})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis answer, 503 naming what fails; worker heartbeat age."""
    healthy, parts = selectors.health_status()
    body = {"status": "ok" if healthy else "error", **parts}
    if not healthy:
        body["failing"] = [name for name, part in parts.items() if part["status"] == "error"]
    return JsonResponse(body, status=200 if healthy else 503)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    """The API's one error shape, for errors raised before a DRF view runs."""
    return JsonResponse(
        {"error": {"status": status, "code": code, "message": message}}, status=status
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: JSON under /api/ (an unknown endpoint), the console's page everywhere else."""
    if isinstance(exception, HiddenObject):
        access_denied_record(request=request, exc=exception)
    if _is_api(request):
        return _api_error(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot be reached (stopped, restarting, failing
    over) rather than that a statement went wrong."""
    from django.db import DatabaseError, InterfaceError, OperationalError

    if isinstance(exc, InterfaceError):
        return True
    # Only the connection-level classes (psycopg2 reports "server closed the connection
    # unexpectedly" as a bare DatabaseError); integrity, data and programming errors are bugs.
    if type(exc) not in (DatabaseError, OperationalError):
        return False
    code = getattr(exc.__cause__, "pgcode", None)
    # No SQLSTATE: the connection failed or dropped. 08: connection exception. 57P01-03:
    # the server is shutting down, crashed, or not accepting connections yet.
    return code is None or code.startswith("08") or code in ("57P01", "57P02", "57P03")


_UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>TSOps is briefly unavailable"
    "</title><h1>TSOps is briefly unavailable</h1><p>The database cannot be reached right "
    "now. Please try again in a few seconds.</p></html>"
)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: JSON under /api/, the console's page everywhere else. When the database could
    not be reached (a restart, a failover) the answer is 503 with Retry-After instead: the
    client did nothing wrong and may try again (found by the reliability harness, issue 9)."""
    if database_unavailable(sys.exc_info()[1]):
        if _is_api(request):
            response = _api_error(
                503, "unavailable", "The database is briefly unavailable; retry shortly."
            )
        else:
            response = HttpResponse(_UNAVAILABLE_PAGE, status=503)
        response["Retry-After"] = "5"
        return response
    if _is_api(request):
        return _api_error(500, "server_error", "Something went wrong on our side.")
    return defaults.server_error(request)
