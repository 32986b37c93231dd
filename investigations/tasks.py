"""Celery tasks of the layer above the case: load by id, call one service, nothing else."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="investigations.tasks.wave_run")
def wave_run(job_id: int) -> bool:
    """Run or resume a wave's job (investigations.services.waves.wave_run)."""
    from investigations.services.waves import wave_run as run

    return run(job_id=job_id)


@shared_task(name="investigations.tasks.waves_resume_stalled")
def waves_resume_stalled() -> int:
    """Beat, every 60 s: send the wave jobs whose worker stopped (or never started) again."""
    from investigations.services.waves import waves_resume_stalled as resume

    return resume()


@shared_task(name="investigations.tasks.clusters_find")
def clusters_find() -> dict:
    """Beat, every 600 s: the incremental cluster job (a run already going makes this one
    skip: the service takes an advisory lock)."""
    from investigations.services.clusters import clusters_find as find

    return find()
