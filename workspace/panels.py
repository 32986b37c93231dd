"""The presence line on the case page (a panel the cases app composes)."""

from __future__ import annotations

from django.urls import reverse

from cases.panels import register_case_panel
from workspace import presence


def presence_panel(request, case) -> dict:
    """What the line needs to start polling; who is here comes with its first poll."""
    return {
        "url": reverse("workspace:case-presence", args=[case.pk]),
        "interval": presence.interval(),
        "case_id": case.pk,
    }


def register() -> None:
    register_case_panel(
        key="presence",
        template="workspace/_presence.html",
        slot="header",
        build=presence_panel,
        order=5,
    )
