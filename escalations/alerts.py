"""On-call alerts for escalations: the team's alert webhook endpoint, kept in step with the
team's settings, and the alerts themselves — at most one per escalation and kind, by email,
in-app notification and a signed webhook event that never carries the case's content."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from enforcement import events
from enforcement.models import WebhookEndpoint
from escalations.models import Escalation, EscalationAlert, Team
from tsops.services import notification_send

log = logging.getLogger(__name__)

EVENT_ALERT = "escalation.alert"
# What a team's on-call endpoint hears: the escalations' alerts, and the events other apps
# register for teams (detection: a team's anomaly alerts), each only for that team's payloads.
_TEAM_ALERT_EVENTS: list[str] = [EVENT_ALERT]


def register_team_alert_event(event_type: str) -> None:
    """Subscribe every team's on-call endpoint to ``event_type`` (from AppConfig.ready())."""
    if event_type not in _TEAM_ALERT_EVENTS:
        _TEAM_ALERT_EVENTS.append(event_type)


def team_alert_events() -> list[str]:
    return list(_TEAM_ALERT_EVENTS)


# Severities whose new escalations page the on-call member at once.
ALERT_ON_RAISE = (0, 1)


def alert_payload(escalation: Escalation, kind: str) -> dict:
    """What leaves the system about an escalation: never any content of the case."""
    return {
        "escalation_id": escalation.pk,
        "kind": kind,
        "team": escalation.team.slug,
        "severity": escalation.severity_code,
        "link": _absolute(reverse("escalations:escalation-detail", args=[escalation.pk])),
    }


def _absolute(path: str) -> str:
    return settings.TSOPS_BASE_URL + path


def team_alert_endpoint_name(slug: str) -> str:
    return f"team:{slug} on-call"


def team_alert_url_problem(url: str) -> str:
    """Why ``url`` can't be a team's alert webhook ('' when it can, or when it's blank)."""
    if not url:
        return ""
    if not url.lower().startswith(("http://", "https://")):
        return "Alerts are sent to http or https URLs only."
    limit = WebhookEndpoint._meta.get_field("url").max_length
    if len(url) > limit:
        return f"Alert webhook URLs have at most {limit} characters."
    return ""


def _endpoint_in_step(endpoints: list[WebhookEndpoint], team: Team, url: str) -> bool:
    if not url:
        return not any(endpoint.active for endpoint in endpoints)
    if len(endpoints) != 1:
        return False
    (endpoint,) = endpoints
    return (
        endpoint.active
        and endpoint.url == url
        and endpoint.team == team.slug
        and list(endpoint.event_types) == team_alert_events()
        and bool(endpoint.secret)
    )


def team_alert_endpoint_sync(team: Team, *, previous_slug: str = "") -> WebhookEndpoint | None:
    """Keep exactly one webhook endpoint for the team's alert URL: ``team:<slug> on-call``,
    subscribed to ``escalation.alert`` (and the events registered with
    :func:`register_team_alert_event`) for this team only, with a generated secret, and active
    only while the URL is set (the outbox then delivers, signs and retries the alerts).

    ``previous_slug`` carries the endpoint over when the team's slug changed. Returns the
    endpoint, or None when the team has no URL and never had one. Raises ValidationError for
    a URL that can't receive alerts (before writing anything)."""
    url = (team.alert_webhook_url or "").strip()
    problem = team_alert_url_problem(url)
    if problem:
        raise ValidationError({"alert_webhook_url": problem})
    name = team_alert_endpoint_name(team.slug)
    old_name = team_alert_endpoint_name(previous_slug) if previous_slug else name
    names = {name, old_name}
    current = list(WebhookEndpoint.objects.filter(name__in=names).order_by("pk"))
    if old_name == name and _endpoint_in_step(current, team, url):
        return current[0] if current else None
    with transaction.atomic():
        # Two syncs of one team never both create its endpoint.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"team-alert:{name}"])
        endpoints = list(
            WebhookEndpoint.objects.select_for_update().filter(name__in=names).order_by("pk")
        )
        endpoints.sort(key=lambda endpoint: (endpoint.name != name, endpoint.pk))
        if not endpoints:
            if not url:
                return None
            return WebhookEndpoint.objects.create(
                name=name,
                url=url,
                secret=secrets.token_urlsafe(32),
                event_types=team_alert_events(),
                team=team.slug,
                active=True,
            )
        endpoint, extras = endpoints[0], endpoints[1:]
        wanted = {"name": name, "team": team.slug, "event_types": team_alert_events()}
        wanted["active"] = bool(url)
        if url:
            wanted["url"] = url
        if not endpoint.secret:
            wanted["secret"] = secrets.token_urlsafe(32)
        changed = [field for field, value in wanted.items() if getattr(endpoint, field) != value]
        if changed:
            for field in changed:
                setattr(endpoint, field, wanted[field])
            endpoint._change_reason = f"synced from team {team.slug}'s alert webhook URL"
            endpoint.save(update_fields=[*changed, "updated_at"])
        for extra in extras:
            if extra.active:
                extra.active = False
                extra._change_reason = f"duplicate of {name}"
                extra.save(update_fields=["active", "updated_at"])
    return endpoint


def _claim_alert(escalation: Escalation, kind: str, now: datetime) -> bool:
    """Insert the alert row; False when this kind already went out (concurrent runs too)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO escalations_escalationalert (escalation_id, kind, recipient_id, sent_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (escalation_id, kind) DO NOTHING",
            [escalation.pk, kind, escalation.team.on_call_id, now],
        )
        return cursor.rowcount == 1


def alert_send(escalation: Escalation, kind: str, now: datetime) -> bool:
    """Page the on-call member once per escalation and kind: in-app notification, e-mail and
    an ``escalation.alert`` outbox event, which the team's own endpoint (kept in step with its
    alert URL here) receives. Must run inside the caller's transaction."""
    if not _claim_alert(escalation, kind, now):
        return False
    payload = alert_payload(escalation, kind)
    title = f"{payload['severity']} escalation #{escalation.pk} to {payload['team']}" + (
        " — acknowledgement overdue" if kind == EscalationAlert.Kind.OVERDUE else ""
    )
    try:
        team_alert_endpoint_sync(escalation.team)
    except ValidationError as exc:
        # The notification and e-mail still go out; the team's URL needs fixing.
        log.warning("team %s: alert webhook not synced: %s", escalation.team.slug, exc)
    on_call = escalation.team.on_call
    if on_call is not None:
        # An on-call member who raised the escalation themselves is not paged in-app for it.
        notification_send(
            actor=escalation.raised_by if kind == EscalationAlert.Kind.NEW else None,
            recipients=[on_call],
            kind=f"escalation_{kind}",
            title=title,
            link=payload["link"],
        )
        if on_call.email:
            recipient = on_call.email
            body = f"{title}\n\nOpen it in TSOps: {payload['link']}\n"

            # After commit: an e-mail can't be taken back if the transaction rolls back.
            def send() -> None:
                try:
                    send_mail(title, body, None, [recipient])
                except Exception:  # noqa: BLE001 - the notification and webhook still go out
                    log.exception("on-call e-mail for escalation %s failed", payload["link"])

            transaction.on_commit(send)
    events.emit(EVENT_ALERT, payload)
    return True


def alerts_send_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """Alert the on-call member of each open escalation past its acknowledgement deadline.

    Idempotent: the (escalation, kind) unique constraint lets each overdue alert out once,
    however often (or concurrently) this runs. Returns how many alerts went out."""
    now = now or timezone.now()
    due = list(
        Escalation.objects.filter(status=Escalation.Status.OPEN, ack_due__lt=now)
        .exclude(alerts__kind=EscalationAlert.Kind.OVERDUE)
        .select_related("team", "team__on_call")
        .order_by("ack_due")[:limit]
    )
    sent = 0
    for escalation in due:
        try:
            with transaction.atomic():
                # Re-read under the row lock: an acknowledgement committed since the list was
                # read means the escalation is no longer overdue and nobody is paged.
                still_overdue = Escalation.objects.select_for_update().filter(
                    pk=escalation.pk, status=Escalation.Status.OPEN, ack_due__lt=now
                )
                if not list(still_overdue.values_list("pk", flat=True)):
                    continue
                sent += alert_send(escalation, EscalationAlert.Kind.OVERDUE, now)
        except IntegrityError:  # the escalation vanished meanwhile
            continue
    return sent
