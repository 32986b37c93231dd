"""Celery tasks for escalations: each calls one service."""

from celery import shared_task

from escalations import alerts


@shared_task(name="escalations.tasks.alerts_send_overdue")
def alerts_send_overdue() -> int:
    """Page on-call members about overdue acknowledgements (beat runs it every minute)."""
    return alerts.alerts_send_overdue()
