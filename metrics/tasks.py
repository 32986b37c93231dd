"""Celery tasks for metrics: each calls one rollup entry point."""

from celery import shared_task

from metrics import rollups


@shared_task(name="metrics.tasks.rollup_incremental")
def rollup_incremental() -> dict:
    """Recompute the 15-minute slices touched since the last run (beat: every five minutes)."""
    run = rollups.rollup_incremental()
    return {"ran": run.ran, "slices": run.slices, "seconds": round(run.seconds, 3)}


@shared_task(name="metrics.tasks.rollup_finalize")
def rollup_finalize() -> str | None:
    """Rebuild yesterday in full with its backlog snapshot, once it is over (beat checks
    every 15 minutes; only the first check after midnight does the work)."""
    day = rollups.rollup_finalize()
    return day.isoformat() if day else None
