"""REST authentication by API key, and the default permission: a role, and the key's scope."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tsops import roles
from tsops.models import ApiKey
from tsops.permissions import role_of, teams_of
from tsops.services import api_key_authenticate, client_ip


class FailedKeyThrottle(SimpleRateThrottle):
    """Failed API-key attempts per client address (rate ``api_key_failures``).

    DRF checks its throttles only after authentication has succeeded, so a wrong key is
    answered 401 at once, as often as it is tried. This counts the failures of an address and,
    past the rate, refuses every key from it with 429 before looking the key up. The address is
    REMOTE_ADDR (as in the access log and the sign-in lockout), never a client-supplied
    X-Forwarded-For, which an attacker would rotate.
    """

    scope = "api_key_failures"

    def get_rate(self) -> str | None:
        # Read when used, not at import, so that the configured rate is always the current one.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}

    def blocked(self, request) -> bool:
        """Whether the address is over its failures (loads its recent failures)."""
        self.key = self.get_cache_key(request)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def record_failure(self) -> None:
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>`` acts as the key's user; ``request.auth`` is the key."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        throttle = FailedKeyThrottle()
        if throttle.blocked(request):
            raise Throttled(
                wait=throttle.wait(),
                detail="Too many failed API-key attempts from this address; try again later.",
            )
        if len(header) != 2:
            throttle.record_failure()
            raise AuthenticationFailed("Malformed Authorization header; expected 'Bearer <key>'.")
        try:
            token = header[1].decode()
        except UnicodeDecodeError:
            throttle.record_failure()
            raise AuthenticationFailed("The API key contains invalid characters.")
        key = api_key_authenticate(token=token)
        if key is None:
            throttle.record_failure()
            raise AuthenticationFailed("Invalid or revoked API key.")
        if not key.user.is_active:
            raise AuthenticationFailed("The API key's user is inactive.")
        return key.user, key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tsops"'


def required_scope(view, method: str) -> str | None:
    """The scope a view needs for an HTTP method (``required_scopes`` maps method to scope)."""
    scopes = getattr(view, "required_scopes", None) or {}
    return scopes.get(method.upper()) or scopes.get("*")


class HasRoleAndScope(BasePermission):
    """The caller has a TSOps role or team and, when using an API key, the view's scope."""

    message = "You do not have a TSOps role."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if role_of(user) is None and not teams_of(user):
            self.message = "You do not have a TSOps role."
            return False
        scope = required_scope(view, request.method)
        if isinstance(request.auth, ApiKey) and scope and scope not in request.auth.scopes:
            self.message = f"This API key lacks the scope '{scope}'."
            return False
        return True


__all__ = ["ApiKeyAuthentication", "HasRoleAndScope", "required_scope", "roles"]
