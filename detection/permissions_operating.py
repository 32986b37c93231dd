"""Who may read the detector operating points: whoever reads the operation's metrics."""

from __future__ import annotations

from tsops.permissions import has_capability


def can_view_operating_points(user) -> bool:
    """Leads read detectors' figures as they read the team metrics (restricted work only for
    their teams, which the selectors see to)."""
    return getattr(user, "is_authenticated", False) and has_capability(user, "view_team_metrics")
