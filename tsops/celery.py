"""The Celery app: broker Redis, configuration from Django settings (CELERY_*), tasks discovered."""

import os

from celery import Celery

from tsops.broker import survive_broker_loss

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")

app = Celery("tsops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker must outlive a broker outage (see tsops.broker).
survive_broker_loss()
