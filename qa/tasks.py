"""Celery tasks for QA: each calls one service."""

from celery import shared_task

from qa import services


@shared_task(name="qa.tasks.samples_draw_due")
def samples_draw_due() -> int:
    """Draw the previous period of every active plan (beat: hourly; a drawn period is skipped)."""
    return services.samples_draw_due()
