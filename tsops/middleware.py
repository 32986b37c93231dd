"""Middleware of the project: the headers every response carries, and the idle sign-out."""

import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers


class ServerTimingMiddleware:
    """``Server-Timing: app;dur=…, db;dur=…``: the milliseconds the request spent in the
    application and, of those, waiting on the database (what a browser's developer tools and
    the benchmarks read to tell the server's own time from queueing in front of it). Outermost,
    so the application's time covers the other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.db import connection

        waited = [0.0]

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                waited[0] += time.perf_counter() - started

        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            response = self.get_response(request)
        app = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={app:.2f}, db;dur={waited[0] * 1000:.2f}"
        return response


class ContentSecurityPolicyMiddleware:
    """Send the Content-Security-Policy from settings (no inline scripts, no other origins)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class NoStoreMiddleware:
    """Console pages, API answers and exports hold reporter identities, evidence and notes:
    tell browsers and proxies to keep no copy (``Cache-Control: no-store``), so nothing is read
    back from a cache after sign-out. Static files are answered by WhiteNoise before this runs
    and keep their long cache lifetimes; a view that sets its own Cache-Control keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Cache-Control" not in response.headers:
            add_never_cache_headers(response)
        return response


# The session's time of the member's last own request, and the header polls send instead.
IDLE_SESSION_KEY = "_tsops_last_activity"
POLL_HEADER = "X-TSOps-Poll"


class IdleTimeoutMiddleware:
    """Sign a member out after SESSION_IDLE_MINUTES without a request of their own.

    The session's age (renewed on every request) is not enough on its own: a case page or the
    dashboard left open polls the server through htmx every few minutes and would keep the
    session alive for ever at an unattended desk. Polls send the ``X-TSOps-Poll`` header and
    don't count as activity. The first request after the idle time signs the member out; an
    htmx request is answered with a redirect of the whole page to the sign-in form, which
    takes whatever was on the screen away.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            last = request.session.get(IDLE_SESSION_KEY)
            if last is not None and now - last > settings.SESSION_IDLE_MINUTES * 60:
                logout(request)
                messages.info(
                    request,
                    f"You were signed out after {settings.SESSION_IDLE_MINUTES} minutes "
                    "without activity.",
                )
                if request.headers.get("HX-Request"):
                    page = urlsplit(request.headers.get("HX-Current-URL", "")).path or "/"
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = (
                        f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page})}"
                    )
                    return response
            elif last is None or not request.headers.get(POLL_HEADER):
                request.session[IDLE_SESSION_KEY] = now
        return self.get_response(request)
