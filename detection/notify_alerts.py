"""Telling the on-call about a newly opened alert: in-app notification, e-mail and a signed
``detection.alert`` webhook event, through the same outbox (and its signer) as the escalations'
on-call alerts. Registered as an ``alert_raise`` hook, so it runs once per episode."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from detection.models import Alert
from detection.permissions_alerts import can_view_alert
from enforcement import events
from escalations.models import Team
from tsops import roles
from tsops.services import notification_send

log = logging.getLogger(__name__)

EVENT_ALERT = "detection.alert"


def alert_payload(alert: Alert) -> dict:
    """What leaves the system about an alert: its kind, title and figures, never a case."""
    detail = alert.detail or {}
    return {
        "alert_id": alert.pk,
        "kind": alert.kind,
        "key": alert.key,
        "title": alert.title,
        "team": alert.team,
        "status": alert.status,
        "opened_at": alert.opened_at.isoformat(),
        "observed": detail.get("observed"),
        "expected": detail.get("expected"),
        "p_value": detail.get("p_value"),
        "link": settings.TSOPS_BASE_URL + reverse("detection:alert-detail", args=[alert.pk]),
    }


def alert_on_call(alert: Alert) -> list:
    """Who is paged: the team's on-call member for a team's alert; otherwise the member named
    by ``TSOPS_ALERT_ONCALL``, or every senior when nobody is. Only people who may open it."""
    user_model = get_user_model()
    if alert.team:
        team = Team.objects.select_related("on_call").filter(slug=alert.team).first()
        candidates = [team.on_call] if team and team.on_call else []
    elif settings.TSOPS_ALERT_ONCALL:
        candidates = list(
            user_model.objects.filter(username=settings.TSOPS_ALERT_ONCALL, is_active=True)
        )
    else:
        candidates = list(
            user_model.objects.filter(groups__name=roles.SENIOR, is_active=True).distinct()
        )
    return [user for user in candidates if user.is_active and can_view_alert(user, alert)]


def alert_notify(alert: Alert) -> None:
    """Page the on-call about a newly opened alert (inside the opener's transaction)."""
    payload = alert_payload(alert)
    recipients = alert_on_call(alert)
    notification_send(
        actor=None,
        recipients=recipients,
        kind="detection_alert",
        title=f"Alert: {alert.title}",
        link=reverse("detection:alert-detail", args=[alert.pk]),
    )
    addresses = [user.email for user in recipients if user.email]
    if addresses:
        subject = f"TSOps alert: {alert.title}"[:200]
        body = f"{alert.title}\n\nOpen it in TSOps: {payload['link']}\n"

        # After commit: an e-mail can't be taken back if the transaction rolls back.
        def send() -> None:
            for address in addresses:
                try:
                    send_mail(subject, body, None, [address])
                except Exception:  # noqa: BLE001 - the notification and webhook still go out
                    log.exception("on-call e-mail for alert %s failed", alert.pk)

        transaction.on_commit(send)
    events.emit(EVENT_ALERT, payload)
