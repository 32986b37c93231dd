"""What reporter reputation plugs into the apps below it: intake's priority hook, the case
page's reporter-mix panel and the timeline's vocabulary for its events."""

from __future__ import annotations


def register() -> None:
    """Called once from the app config."""
    from cases.intake import register_intake_hook
    from detection.services.reputation import reputation_priority_hook

    register_intake_hook(reputation_priority_hook)

    from detection.panels_reputation import register_panels

    register_panels()
