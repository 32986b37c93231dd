"""Celery tasks for cases: each calls one service."""

from celery import shared_task

from cases import services


@shared_task(name="cases.tasks.case_expire_leases")
def case_expire_leases() -> int:
    """Return expired claims to their queues (beat runs it every minute)."""
    return services.case_expire_leases()
