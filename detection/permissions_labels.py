"""Who may export decisions as labelled data."""

from __future__ import annotations

from tsops.permissions import has_capability


def can_export_labels(user) -> bool:
    """Exports of case data are for those who may export (seniors); which rows they get is
    still what they see (restricted cases only for their team)."""
    return user.is_authenticated and has_capability(user, "export_data")
