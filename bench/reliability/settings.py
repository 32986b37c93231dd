"""Settings for the reliability harness's processes: TSOps's own settings, with beat's
periodic tasks run ``RELIABILITY_BEAT_SCALE`` times more often (the tests use seconds where
production uses minutes; 1, the default, keeps production's schedule)."""

import os

from tsops.settings import *  # noqa: F403
from tsops.settings import CELERY_BEAT_SCHEDULE as _SCHEDULE

_SCALE = float(os.environ.get("RELIABILITY_BEAT_SCALE", "1") or 1)

CELERY_BEAT_SCHEDULE = {
    name: {**entry, "schedule": max(1.0, float(entry["schedule"]) / _SCALE)}
    for name, entry in _SCHEDULE.items()
}
