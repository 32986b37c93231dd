"""Celery tasks of the detector operating points."""

from __future__ import annotations

from celery import shared_task

from detection.services.operating import detectors_check_drift as check


@shared_task(name="detection.tasks_operating.detectors_check_drift")
def detectors_check_drift() -> int:
    return check()
