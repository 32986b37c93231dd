"""What this app plugs into the apps below it (intake's evasion check, the case page's panels)."""

from __future__ import annotations


def register() -> None:
    """Called once from the app config."""
