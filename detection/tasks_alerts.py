"""Celery tasks of the alerts: call one service, nothing else."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="detection.tasks_alerts.alerts_check_volume")
def alerts_check_volume() -> dict | None:
    """Beat, every 600 s: test the last complete hour's report volume (an hour already
    evaluated is skipped, so the repeats within the hour change nothing)."""
    from detection.anomaly import volume_check

    result = volume_check()
    if result is None:
        return None
    return {
        "hour": result.hour.isoformat(),
        "tested": result.tested,
        "departures": len(result.departures),
        "opened": len(result.opened),
        "resolved": result.resolved,
    }
