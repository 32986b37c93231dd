"""Who may do what with detection rules: pure predicates over (user, object)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from tsops.permissions import has_capability


def can_manage_rules(user) -> bool:
    """Seniors read and change rules (they route, tag and act on every report)."""
    return bool(user and user.is_authenticated) and has_capability(user, "manage_rules")


def check_manage_rules(user) -> None:
    if not can_manage_rules(user):
        raise PermissionDenied("Rules are read and changed by senior leads.")
