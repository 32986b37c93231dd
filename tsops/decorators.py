"""View decorators shared by the console's HTML views."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from tsops.permissions import can_use_console, has_capability


def console_view(capability: str | None = None):
    """Require a signed-in member with a console role (and ``capability``, when given)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can_use_console(request.user):
                raise PermissionDenied("Your account has no role in the TSOps console.")
            if capability and not has_capability(request.user, capability):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
