"""Celery tasks for enforcement: each calls one service."""

from celery import shared_task

from enforcement import outbox, services


@shared_task(name="enforcement.tasks.actions_expire_due")
def actions_expire_due() -> int:
    """Expire temporary actions whose time is up (beat: every minute)."""
    return services.actions_expire_due()


@shared_task(name="enforcement.tasks.outbox_dispatch", acks_late=True)
def outbox_dispatch() -> int:
    """Fan new events out to endpoints and deliver what is due (beat: every 10 s, and on commit)."""
    return outbox.outbox_dispatch()
