"""Celery tasks of detection, collected from each area's module (autodiscovery reads this)."""

from detection.tasks_reputation import reputation_refresh

__all__ = ["reputation_refresh"]
