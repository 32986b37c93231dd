"""Predicates about people: which role and teams a user has, and what they may do."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from tsops import roles

User = AbstractBaseUser | AnonymousUser


def _group_names(user: User) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_tsops_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._tsops_groups = cached
    return cached


def role_of(user: User) -> str | None:
    """The user's role (the highest, if several), or None for someone without one."""
    names = _group_names(user)
    return next((role for role in roles.ROLE_PRECEDENCE if role in names), None)


def teams_of(user: User) -> list[str]:
    """The specialist teams the user belongs to (built-in ones and those seniors added)."""
    names = _group_names(user)
    return [team for team in roles.team_labels() if team in names]


def capabilities_of(user: User) -> frozenset[str]:
    """The capabilities the user's groups give, read from :mod:`tsops.roles` (the same table
    the migration writes to the database, so no permission queries are needed)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_tsops_capabilities", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(roles.CAPABILITIES)
        else:
            cached = frozenset().union(
                *(roles.GROUP_CAPABILITIES.get(name, set()) for name in _group_names(user))
            )
            if teams_of(user):
                cached |= roles.TEAM_CAPABILITIES
        user._tsops_capabilities = cached
    return cached


def has_capability(user: User, capability: str) -> bool:
    return capability in capabilities_of(user)


def can_use_console(user: User) -> bool:
    return user.is_authenticated and has_capability(user, "use_console")


def can_view_access_log(user: User) -> bool:
    return user.is_authenticated and has_capability(user, "view_access_log")


def can_manage_api_keys(user: User) -> bool:
    return user.is_authenticated and user.is_superuser
