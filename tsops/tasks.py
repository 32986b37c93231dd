"""Project-level Celery tasks."""

from celery import shared_task

from tsops.services import heartbeat_record


@shared_task(name="tsops.tasks.worker_heartbeat", bind=True)
def worker_heartbeat(self) -> str:
    """Record that a worker is alive (beat runs it every 30 seconds)."""
    worker = self.request.hostname or "unknown"
    heartbeat_record(worker=worker)
    return worker
