"""Reads of alerts: every list, page and count goes through these (the team rule lives here)."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import Http404

from detection.models import Alert
from detection.permissions_alerts import alert_teams_of, can_view_alert, can_watch_alerts
from tsops.errors import HiddenObject

# Open first, then acknowledged, then resolved; newest departure first within each.
_STATUS_ORDER = Case(
    When(status=Alert.Status.OPEN, then=Value(0)),
    When(status=Alert.Status.ACKNOWLEDGED, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def _visible_q(actor) -> Q | None:
    """The alerts ``actor`` may see, as a filter (None: none at all)."""
    visible = Q(pk__in=[])
    reaches = False
    if can_watch_alerts(actor):
        visible |= Q(team="")
        reaches = True
    if teams := alert_teams_of(actor):
        visible |= Q(team__in=teams)
        reaches = True
    return visible if reaches else None


def alert_list(*, actor, status: str = "", kind: str = "") -> QuerySet[Alert]:
    """The alerts ``actor`` may see, open first (agrees with ``can_view_alert``)."""
    visible = _visible_q(actor)
    if visible is None:
        return Alert.objects.none()
    alerts = Alert.objects.filter(visible)
    if status:
        alerts = alerts.filter(status=status)
    if kind:
        alerts = alerts.filter(kind=kind)
    return alerts.select_related("acknowledged_by", "resolved_by").order_by(
        _STATUS_ORDER, "-last_seen_at", "-id"
    )


def alert_open_count(*, actor) -> int:
    """How many open alerts ``actor`` may see."""
    return alert_list(actor=actor, status=Alert.Status.OPEN).count()


def alert_get_for(*, actor, id: int) -> Alert:  # noqa: A002 - the selector contract's name
    """One alert; a missing one and one ``actor`` may not see are both "not found"."""
    alert = Alert.objects.select_related("acknowledged_by", "resolved_by").filter(pk=id).first()
    if alert is None:
        raise Http404("No such alert.")
    if not can_view_alert(actor, alert):
        raise HiddenObject("No such alert.", actor=actor, obj=alert)
    return alert
