"""The labelled-data export's one write: the access-log entry every export leaves."""

from __future__ import annotations

from django.http import HttpRequest

from detection.selectors.labels import LabelPeriod
from tsops.models import AccessLog
from tsops.services import access_log_record


def label_export_record(
    *, actor, period: LabelPeriod, split: str, days: tuple, fmt: str, request: HttpRequest | None
) -> AccessLog:
    """Log an export before its first row is sent: who, when, which period and split.

    The row count is not known until the last row has streamed, and the log is append-only, so
    the entry holds the parameters that reproduce the export instead."""
    first, last = days
    return access_log_record(
        actor=actor,
        action=AccessLog.Action.EXPORTED,
        object_type="detection.labels",
        object_id=f"{first}..{last}",
        request=request,
        detail={
            "from": first.isoformat(),
            "to": last.isoformat(),
            "split": split or "all",
            "shares": list(period.shares),
            "format": fmt,
        },
    )
