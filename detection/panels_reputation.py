"""The case page's reporter-mix panel: the case's reports by their reporters' standing, never
who reported (registered with ``cases.panels``)."""

from __future__ import annotations

from django.http import HttpRequest

from cases.models import Case
from cases.panels import register_case_panel
from detection.permissions_reputation import can_view_reporters
from detection.selectors.reputation import reporter_mix


def case_panel(request: HttpRequest, case: Case) -> dict:
    """Counts of the case's reports by reporter band (seniors also get the reporters page)."""
    return {"mix": reporter_mix(case=case), "can_view_reporters": can_view_reporters(request.user)}


def register_panels() -> None:
    register_case_panel(
        key="reporter_mix",
        template="detection/reputation/_case_panel.html",
        build=case_panel,
        order=40,
    )
