"""Celery: keep reporter reputation current (the beat entry ``detection-reputation-refresh``)."""

from __future__ import annotations

from celery import shared_task

from detection import reputation


@shared_task(name="detection.tasks.reputation_refresh")
def reputation_refresh() -> int:
    return reputation.reputation_refresh()
