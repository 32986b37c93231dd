"""Reads owned by the project package."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from tsops.models import AccessLog, UserPreference, WorkerHeartbeat
from tsops.permissions import can_view_access_log


def access_log_list(
    *, actor: AbstractBaseUser, object_type: str = "", object_id: str = "", username: str = ""
) -> QuerySet[AccessLog]:
    """The access log, newest first, for those allowed to read it."""
    if not can_view_access_log(actor):
        raise PermissionDenied("reading the access log needs a senior role")
    entries = AccessLog.objects.all()
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if username:
        entries = entries.filter(actor_username=username)
    return entries


def health_status() -> tuple[bool, dict]:
    """Whether the system can serve (database and Redis up) and the state of each part."""
    parts: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        parts["database"] = {"status": "ok"}
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        parts["database"] = {"status": "error", "error": exc.__class__.__name__}
    try:
        import redis

        client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], socket_timeout=2)
        client.ping()
        parts["redis"] = {"status": "ok"}
    except Exception as exc:  # noqa: BLE001
        parts["redis"] = {"status": "error", "error": exc.__class__.__name__}
    worker: dict = {"status": "unknown", "last_heartbeat": None}
    if parts["database"]["status"] == "ok":
        try:
            last = WorkerHeartbeat.objects.order_by("-last_seen").first()
        except Exception:  # noqa: BLE001
            last = None
        if last is not None:
            age = (timezone.now() - last.last_seen).total_seconds()
            stale = age > settings.WORKER_HEARTBEAT_STALE_SECONDS
            worker = {
                "status": "stale" if stale else "ok",
                "last_heartbeat": last.last_seen.isoformat(),
                "age_seconds": round(age, 1),
                "worker": last.worker,
            }
        else:
            worker = {"status": "never_seen", "last_heartbeat": None}
    parts["worker"] = worker
    healthy = parts["database"]["status"] == "ok" and parts["redis"]["status"] == "ok"
    return healthy, parts


def preferences_for(user) -> UserPreference:
    """The member's saved workspace preferences, or the defaults (unsaved) if none."""
    if not getattr(user, "is_authenticated", False):
        return UserPreference()
    cached = getattr(user, "_tsops_preferences", None)
    if cached is None:
        cached = UserPreference.objects.filter(user=user).first() or UserPreference(user=user)
        user._tsops_preferences = cached
    return cached
