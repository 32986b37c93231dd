"""Alerts: one per episode, opened by whatever detects a departure."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from detection.models import Alert


def alert_raise(
    *, kind: str, key: str, title: str, detail: dict, team: str = ""
) -> tuple[Alert, bool]:
    """Open an alert for (kind, key), or update the live one: (alert, opened now).

    Idempotent per episode: a second departure while the alert is open or acknowledged only
    refreshes it. Concurrent raisers meet the partial unique index and the loser updates.
    """
    now = timezone.now()
    live = Alert.objects.filter(kind=kind, key=key).exclude(status=Alert.Status.RESOLVED)
    if live.update(last_seen_at=now, evaluations=F("evaluations") + 1, detail=detail):
        return live.get(), False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind,
                key=key[:300],
                title=title[:300],
                detail=detail,
                team=team,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:
        live.update(last_seen_at=now, evaluations=F("evaluations") + 1, detail=detail)
        return live.get(), False
    for hook in _opened_hooks:
        hook(alert)
    return alert, True


# Called with each newly opened alert inside the caller's transaction (notifications).
_opened_hooks: list = []


def register_alert_opened(hook) -> None:
    """Run ``hook(alert)`` whenever an episode opens."""
    if hook not in _opened_hooks:
        _opened_hooks.append(hook)
