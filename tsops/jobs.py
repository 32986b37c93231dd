"""Background jobs with progress: one helper for every long-running piece of work (waves,
cluster scans, backtests, exports).

A job row is created with the data it needs already committed; a Celery task named by the
owning app runs it. :func:`job_start` claims the job with a conditional update (a second
worker, or a redelivered task, finds it taken unless the first one's heartbeat went stale:
then it resumes). The owning app's work must be idempotent per item, so a resumed job redoes
nothing: it records each item's result as it goes and skips what is recorded.

The apps register how their jobs are shown (``register_job_view``): ``GET /api/v1/jobs/{id}``
asks it for the per-item result, filtered for the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone

from tsops.errors import HiddenObject
from tsops.models import Job
from tsops.permissions import has_capability

# kind -> (who may see the job, what its result holds for that person)
_job_views: dict[str, tuple[Callable[..., bool], Callable[..., dict]]] = {}


def register_job_view(
    kind: str, *, can_view: Callable[..., bool], describe: Callable[..., dict]
) -> None:
    """``can_view(user, job) -> bool`` and ``describe(user, job) -> dict`` for one job kind."""
    _job_views[kind] = (can_view, describe)


def job_create(*, kind: str, subject_id: int | None, created_by, total: int = 0) -> Job:
    """A queued job (call inside the transaction that writes the data it works on)."""
    return Job.objects.create(kind=kind, subject_id=subject_id, created_by=created_by, total=total)


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.TSOPS_JOB_STALE_SECONDS)


def job_start(job_id: int) -> bool:
    """Claim the job for this worker: True when it was queued, or running with a stale
    heartbeat (its worker died); False when another worker has it or it has finished."""
    now = timezone.now()
    claimable = Q(status=Job.Status.QUEUED) | Q(
        status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before()
    )
    updated = Job.objects.filter(claimable, pk=job_id).update(
        status=Job.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    return updated == 1


def job_progress(job_id: int, *, done: int, total: int | None = None, **result) -> None:
    """Record progress (and refresh the heartbeat); ``result`` keys are merged into the
    job's result."""
    job = Job.objects.only("result").get(pk=job_id)
    changes = {"done": done, "heartbeat_at": timezone.now()}
    if total is not None:
        changes["total"] = total
    if result:
        changes["result"] = {**job.result, **result}
    Job.objects.filter(pk=job_id).update(**changes)


def job_finish(job_id: int, *, status: str = Job.Status.DONE, error: str = "", **result) -> None:
    """Mark the job finished, merging ``result`` into what it recorded."""
    job = Job.objects.get(pk=job_id)
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.heartbeat_at = job.finished_at
    if status == Job.Status.DONE:
        job.done = max(job.done, job.total)
    job.result = {**job.result, **result}
    job.save(update_fields=["status", "error", "finished_at", "heartbeat_at", "done", "result"])


def jobs_stalled(*, kind: str) -> list[int]:
    """Ids of running jobs of this kind whose worker stopped beating (to be resumed)."""
    return list(
        Job.objects.filter(
            kind=kind, status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before()
        ).values_list("pk", flat=True)
    )


def can_view_job(user, job: Job) -> bool:
    """The job's creator sees it; so do seniors who approve work, and whoever the owning
    app's rule admits."""
    if not user.is_authenticated:
        return False
    if job.created_by_id == user.pk:
        return True
    view = _job_views.get(job.kind)
    if view is not None:
        return view[0](user, job)
    return has_capability(user, "approve_actions")


def job_get_for(*, actor, job_id: int) -> Job:
    """The job, or 404 when it does not exist or the actor may not see it."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    if not can_view_job(actor, job):
        raise HiddenObject("No such job.", actor=actor, obj=job)
    return job


def job_describe(*, actor, job: Job) -> dict:
    """The job as the API answers it: progress, status and the owning app's result."""
    view = _job_views.get(job.kind)
    result = view[1](actor, job) if view is not None else job.result
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "progress": round(job.fraction, 4),
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "result": result,
    }
