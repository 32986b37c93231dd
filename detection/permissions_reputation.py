"""Who may look reporters up and set their reports aside: pure predicates over (user, object)."""

from __future__ import annotations

from tsops.permissions import has_capability


def can_view_reporters(user) -> bool:
    """Look a reporter's record up (the reporters page, the REST answer): seniors, who
    configure operations."""
    return user.is_authenticated and has_capability(user, "configure_operations")


def can_invalidate_reporter(user) -> bool:
    """Set a reporter's open reports aside as mass flagging, and restore them: seniors."""
    return user.is_authenticated and has_capability(user, "configure_operations")
