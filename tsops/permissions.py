"""Predicates about people: which role and teams a user has, and what they may do."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from tsops import roles

User = AbstractBaseUser | AnonymousUser

# What is read about a user below is memoised on the user object, which lives for one
# request (the session's or the API key's user is loaded afresh for each): a change of role,
# team or capability takes effect on the member's next request, with nothing to invalidate.


def groups_remember(user: User, groups: dict[str, int]) -> None:
    """Keep the user's groups (name to id) read with the user by the caller's own query,
    for the life of this user object (the key lookup of the API does)."""
    user._tsops_groups = dict(groups)
    user.__dict__.pop("_tsops_capabilities", None)


def _groups(user: User) -> dict[str, int]:
    """The user's groups, name to id, read once per user object."""
    if not user.is_authenticated:
        return {}
    cached = getattr(user, "_tsops_groups", None)
    if cached is None:
        cached = dict(user.groups.values_list("name", "id"))
        user._tsops_groups = cached
    return cached


def _group_names(user: User) -> set[str]:
    return set(_groups(user))


def role_of(user: User) -> str | None:
    """The user's role (the highest, if several), or None for someone without one."""
    names = _group_names(user)
    return next((role for role in roles.ROLE_PRECEDENCE if role in names), None)


def teams_of(user: User) -> list[str]:
    """The specialist teams the user belongs to (built-in ones and those seniors added)."""
    names = _group_names(user)
    return [team for team in roles.team_labels() if team in names]


def team_group_ids(user: User) -> list[int]:
    """The ids of the groups of the user's specialist teams (whose object permissions on
    cases are theirs)."""
    groups = _groups(user)
    return [groups[team] for team in teams_of(user)]


# A superuser holds what any staff role gives, not a team's work (an admin is a member of a
# specialist team only when made one) nor the platform's (only its service account pushes
# reports and receives events).
_SUPERUSER_CAPABILITIES = frozenset().union(
    *(roles.GROUP_CAPABILITIES[role] for role in roles.ROLES if role != roles.PLATFORM)
)


def capabilities_of(user: User) -> frozenset[str]:
    """The capabilities the user's groups give, read from :mod:`tsops.roles` (the same table
    the migration writes to the database, so no permission queries are needed)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_tsops_capabilities", None)
    if cached is None:
        cached = frozenset().union(
            *(roles.GROUP_CAPABILITIES.get(name, set()) for name in _group_names(user))
        )
        if teams_of(user):
            cached |= roles.TEAM_CAPABILITIES
        if user.is_superuser:
            cached |= _SUPERUSER_CAPABILITIES
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
