"""How durations read on every page: one wording for deadlines, leases and ages."""

from __future__ import annotations

from datetime import datetime, timedelta


def short_duration(delta: timedelta) -> str:
    """A compact duration for a table cell: "2 d 4 h", "3 h 20 m", "12 m" (sign dropped)."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m"


def relative_text(moment: datetime, now: datetime) -> str:
    """A deadline against now: "in 3 h 20 m" or "2 d 4 h ago"."""
    left = short_duration(moment - now)
    return f"{left} ago" if moment < now else f"in {left}"


def hours_text(hours: int | None) -> str:
    """A whole number of hours in words: "72 hours", "7 days" (whole days read as days)."""
    if not hours:
        return ""
    days, rest = divmod(hours, 24)
    if days and not rest:
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{hours} hour" + ("s" if hours != 1 else "")
