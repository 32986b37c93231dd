"""Alerts: one per episode, opened by whatever detects a departure, then acknowledged and
resolved by the people it is meant for (or resolved by its detector when the episode ends)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from detection.models import Alert
from detection.permissions_alerts import can_work_alert
from tsops.errors import ConflictError, HiddenObject

MAX_RESOLUTION = 2000


class AlertConflict(ConflictError):
    """The alert's status does not allow the requested move (HTTP 409)."""


def alert_raise(
    *, kind: str, key: str, title: str, detail: dict, team: str = ""
) -> tuple[Alert, bool]:
    """Open an alert for (kind, key), or update the live one: (alert, opened now).

    Idempotent per episode: a second departure while the alert is open or acknowledged only
    refreshes it (and restarts its count of quiet hours). Concurrent raisers meet the partial
    unique index and the loser updates.
    """
    now = timezone.now()
    key = key[:300]
    live = Alert.objects.filter(kind=kind, key=key).exclude(status=Alert.Status.RESOLVED)
    refresh = {
        "last_seen_at": now,
        "evaluations": F("evaluations") + 1,
        "detail": detail,
        "quiet_hours": 0,
        "updated_at": now,
    }
    if live.update(**refresh):
        return live.get(), False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind,
                key=key,
                title=title[:300],
                detail=detail,
                team=team,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:
        live.update(**refresh)
        return live.get(), False
    for hook in _opened_hooks:
        hook(alert)
    return alert, True


# Called with each newly opened alert inside the caller's transaction (notifications).
_opened_hooks: list[Callable[[Alert], None]] = []


def register_alert_opened(hook: Callable[[Alert], None]) -> None:
    """Run ``hook(alert)`` whenever an episode opens."""
    if hook not in _opened_hooks:
        _opened_hooks.append(hook)


def _lock_alert(actor, alert: Alert) -> Alert:
    """Lock the alert's row; one the actor may not work does not exist for them."""
    locked = Alert.objects.select_for_update().filter(pk=alert.pk).first()
    if locked is None:
        raise Http404("No such alert.")
    if not can_work_alert(actor, locked):
        raise HiddenObject("No such alert.", actor=actor, obj=locked)
    return locked


def _check_transition(alert: Alert, target: str) -> None:
    if target not in Alert.TRANSITIONS[alert.status]:
        raise AlertConflict(
            f"An {alert.get_status_display().lower()} alert cannot become {target}."
            if alert.status != Alert.Status.RESOLVED
            else "The alert is already resolved."
        )


def alert_acknowledge(*, actor, alert: Alert) -> Alert:
    """Someone the alert is meant for takes it: the episode no longer ends by itself."""
    with transaction.atomic():
        locked = _lock_alert(actor, alert)
        _check_transition(locked, Alert.Status.ACKNOWLEDGED)
        locked.status = Alert.Status.ACKNOWLEDGED
        locked.acknowledged_by = actor
        locked.acknowledged_at = timezone.now()
        locked._history_user = actor
        locked._change_reason = "acknowledged"
        locked.save()
    return locked


def alert_resolve(*, actor, alert: Alert, resolution: str) -> Alert:
    """Close the episode with what was found; a later departure opens a new alert."""
    resolution = (resolution or "").strip()
    with transaction.atomic():
        # Who may not work the alert learns nothing of it, not even that the text was wrong.
        locked = _lock_alert(actor, alert)
        if not resolution:
            raise ValidationError({"resolution": "Say what was found or done."})
        if len(resolution) > MAX_RESOLUTION:
            raise ValidationError({"resolution": f"At most {MAX_RESOLUTION} characters."})
        _check_transition(locked, Alert.Status.RESOLVED)
        locked.status = Alert.Status.RESOLVED
        locked.resolved_by = actor
        locked.resolved_at = timezone.now()
        locked.resolution = resolution
        locked._history_user = actor
        locked._change_reason = "resolved"
        locked.save()
    return locked


def alerts_quiet_hour(*, kind: str, departed_keys: set[str], quiet_hours: int) -> int:
    """Count one evaluated hour without departure for each live alert of ``kind`` whose key
    did not depart, and resolve the open ones that reached ``quiet_hours`` in a row.

    Acknowledged alerts keep counting but wait for a person to resolve them. Runs inside the
    detector's transaction, once per evaluated hour; returns how many alerts it resolved.
    """
    live = Alert.objects.filter(kind=kind).exclude(status=Alert.Status.RESOLVED)
    live.exclude(key__in=departed_keys).update(
        quiet_hours=F("quiet_hours") + 1, updated_at=timezone.now()
    )
    ended = list(
        live.select_for_update()
        .filter(status=Alert.Status.OPEN, quiet_hours__gte=quiet_hours)
        .exclude(key__in=departed_keys)
    )
    now = timezone.now()
    for alert in ended:
        alert.status = Alert.Status.RESOLVED
        alert.resolved_at = now
        alert.resolution = f"No departure for {quiet_hours} consecutive hours."
        alert._history_user = None
        alert._change_reason = "resolved: episode ended"
        alert.save()
    return len(ended)
