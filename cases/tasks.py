"""Celery tasks for cases: each calls one service."""

from celery import shared_task

from cases import services, sla


@shared_task(name="cases.tasks.case_expire_leases")
def case_expire_leases() -> int:
    """Return expired claims to their queues (beat runs it every minute)."""
    return services.case_expire_leases()


@shared_task(name="cases.tasks.case_sla_sweep")
def case_sla_sweep() -> dict:
    """Due-soon warnings and breaches of case deadlines (beat runs it every minute)."""
    return sla.case_sla_sweep().as_dict()
