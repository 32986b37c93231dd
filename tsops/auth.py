"""REST authentication by API key, and the default permission: a role, and the key's scope."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from tsops import roles
from tsops.models import ApiKey
from tsops.permissions import role_of, teams_of
from tsops.services import api_key_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>`` acts as the key's user; ``request.auth`` is the key."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header; expected 'Bearer <key>'.")
        try:
            token = header[1].decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed("The API key contains invalid characters.")
        key = api_key_authenticate(token=token)
        if key is None:
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
