"""Response headers every page carries."""

from django.conf import settings
from django.utils.cache import add_never_cache_headers


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
