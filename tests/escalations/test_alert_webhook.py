"""On-call alerts to the team's own webhook URL: through the outbox to a real local HTTP
receiver, only to that team's endpoint, once per escalation and alert kind however often the
task and the dispatcher run, retried after a 500, and never with any content of the case."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases.models import Report
from enforcement import outbox
from enforcement.models import WebhookDelivery, WebhookEndpoint
from escalations import alerts
from escalations.models import Team
from tests.enforcement.test_outbox import Receiver, expected_signature

pytestmark = pytest.mark.django_db

ALERT_KEYS = {"escalation_id", "kind", "team", "severity", "link", "emitted_at"}


@pytest.fixture
def receiver():
    """A real local HTTP server (the pattern of tests/enforcement/test_outbox.py)."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code = state.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def set_alert_url(slug: str, url: str) -> WebhookEndpoint | None:
    team = Team.objects.get(slug=slug)
    team.alert_webhook_url = url
    team.save()
    return alerts.team_alert_endpoint_sync(team)


@pytest.fixture
def team_hooks(receiver):
    """threats and child-safety each alert their own URL on the receiver."""
    return {
        "threats": set_alert_url("threats", receiver.url("/threats")),
        "child-safety": set_alert_url("child-safety", receiver.url("/child-safety")),
    }


def case_content(escalation) -> list[str]:
    """Every piece of case text that must never leave the system in an alert."""
    texts = [
        "zebra",
        "station",
        "post-threat",
        "acct-threat",
        escalation.summary,
        escalation.criteria,
        escalation.next_steps,
    ]
    for report in Report.objects.filter(case=escalation.case_id):
        texts += [report.description, report.external_id, report.reporter_hash]
    return [text for text in texts if text]


# --- The team's endpoint ----------------------------------------------------------------------


def test_setting_a_teams_url_keeps_exactly_one_endpoint_active_only_while_the_url_is_set(
    receiver,
):
    endpoint = set_alert_url("threats", receiver.url("/a"))
    assert (endpoint.name, endpoint.url, endpoint.team) == (
        "team:threats on-call",
        receiver.url("/a"),
        "threats",
    )
    assert endpoint.event_types == ["escalation.alert", "detection.alert"] and endpoint.active
    secret = endpoint.secret
    assert len(secret) >= 32

    assert set_alert_url("threats", receiver.url("/a")).pk == endpoint.pk
    assert set_alert_url("threats", receiver.url("/b")).pk == endpoint.pk
    assert set_alert_url("threats", "").pk == endpoint.pk
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.url == receiver.url("/b")
    assert set_alert_url("threats", receiver.url("/c")).pk == endpoint.pk
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.url == receiver.url("/c")
    assert endpoint.secret == secret  # kept, never regenerated
    assert WebhookEndpoint.objects.filter(team="threats").count() == 1

    # A team that never had a URL gets no endpoint.
    assert set_alert_url("legal", "") is None
    assert not WebhookEndpoint.objects.filter(team="legal").exists()


def test_a_blank_secret_is_generated_and_a_hand_made_duplicate_is_deactivated(receiver):
    endpoint = set_alert_url("threats", receiver.url("/a"))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret="", event_types=["x"])
    duplicate = WebhookEndpoint.objects.create(
        name="team:threats on-call", url=receiver.url("/dup"), secret="s", event_types=[]
    )
    alerts.team_alert_endpoint_sync(Team.objects.get(slug="threats"))
    endpoint.refresh_from_db()
    duplicate.refresh_from_db()
    assert endpoint.secret and endpoint.event_types == ["escalation.alert", "detection.alert"]
    assert endpoint.active
    assert not duplicate.active


def test_a_url_that_cant_receive_alerts_is_refused():
    team = Team.objects.get(slug="threats")
    team.alert_webhook_url = "ftp://example.org/hook"
    with pytest.raises(ValidationError):
        alerts.team_alert_endpoint_sync(team)
    assert not WebhookEndpoint.objects.exists()


def test_saving_a_team_in_the_admin_syncs_its_endpoint(senior, client, receiver):
    team = Team.objects.get(slug="fraud-security")
    client.force_login(senior)
    url = reverse("admin:escalations_team_change", args=[team.pk])
    form = {
        "slug": team.slug,
        "name": team.name,
        "on_call": "",
        "restricted": "",
        "ack_minutes_p0": 15,
        "ack_minutes_p1": 60,
        "ack_minutes_p2": 480,
        "ack_minutes_p3": 1440,
        "alert_webhook_url": receiver.url("/fraud"),
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content
    endpoint = WebhookEndpoint.objects.get(team="fraud-security")
    assert endpoint.active and endpoint.url == receiver.url("/fraud")
    assert endpoint.name == "team:fraud-security on-call"

    response = client.post(url, {**form, "alert_webhook_url": ""})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert WebhookEndpoint.objects.filter(team="fraud-security").count() == 1

    response = client.post(url, {**form, "alert_webhook_url": "ftp://example.org/x"})
    assert response.status_code == 200  # the form is shown again with the error
    endpoint.refresh_from_db()
    assert not endpoint.active


def test_an_alert_syncs_a_url_set_outside_the_admin(receiver, raise_threat):
    Team.objects.filter(slug="threats").update(alert_webhook_url=receiver.url("/threats"))
    raise_threat(severity="P0")
    assert outbox.outbox_dispatch() == 1
    (received,) = receiver.received("/threats")
    assert received.json["type"] == "escalation.alert"


# --- Delivery -----------------------------------------------------------------------------------


def test_a_p0_alert_goes_once_to_its_teams_url_only_and_carries_no_case_content(
    receiver, team_hooks, raise_threat
):
    platform = WebhookEndpoint.objects.create(
        name="platform", url=receiver.url("/platform"), secret="s", event_types=["other"]
    )
    escalation = raise_threat(severity="P0")
    assert escalation.case.restricted or escalation.team.restricted

    assert outbox.outbox_dispatch() == 1
    assert outbox.outbox_dispatch() == 0
    assert receiver.received("/child-safety") == [] and receiver.received("/platform") == []
    (received,) = receiver.received("/threats")
    assert WebhookDelivery.objects.get().endpoint == team_hooks["threats"]
    assert not platform.deliveries.exists()

    body = received.json
    assert body["type"] == "escalation.alert"
    data = body["data"]
    assert set(data) == ALERT_KEYS
    assert data["escalation_id"] == escalation.pk and data["kind"] == "new"
    assert (data["team"], data["severity"]) == ("threats", "P0")
    assert data["link"].endswith(f"/escalations/{escalation.pk}/")
    raw = received.body.decode()
    for content in case_content(escalation):
        assert content not in raw, content
    stamp = received.headers["x-tsops-timestamp"]
    assert received.headers["x-tsops-signature"] == expected_signature(
        stamp, received.body, team_hooks["threats"].secret
    )


def test_an_endpoint_without_a_team_still_gets_every_teams_alerts(
    receiver, team_hooks, raise_threat
):
    everyone = WebhookEndpoint.objects.create(
        name="all alerts", url=receiver.url("/all"), secret="s", event_types=["escalation.alert"]
    )
    raise_threat(severity="P1")
    assert outbox.outbox_dispatch() == 2
    assert len(receiver.received("/all")) == 1 and len(receiver.received("/threats")) == 1
    assert everyone.deliveries.count() == 1


def test_a_team_without_a_url_sends_no_webhook(receiver, raise_threat):
    set_alert_url("child-safety", receiver.url("/child-safety"))
    raise_threat(severity="P0")
    assert outbox.outbox_dispatch() == 0
    assert receiver.received() == []


def test_running_the_overdue_task_and_the_dispatcher_twice_delivers_each_alert_once(
    receiver, team_hooks, raise_threat
):
    from escalations.tasks import alerts_send_overdue

    escalation = raise_threat(severity="P1")
    assert outbox.outbox_dispatch() == 1
    assert outbox.outbox_dispatch() == 0

    with time_machine.travel(escalation.ack_due + timedelta(minutes=5), tick=True):
        assert alerts_send_overdue() == 1
        assert alerts_send_overdue() == 0
        assert outbox.outbox_dispatch() == 1
        assert outbox.outbox_dispatch() == 0
        assert alerts_send_overdue() == 0
        assert outbox.outbox_dispatch() == 0

    received = receiver.received("/threats")
    assert [r.json["data"]["kind"] for r in received] == ["new", "overdue"]
    assert len({r.json["id"] for r in received}) == 2
    assert WebhookDelivery.objects.filter(status="delivered").count() == 2
    raw = json.dumps([r.json for r in received])
    for content in case_content(escalation):
        assert content not in raw, content


def test_a_500_from_the_teams_url_is_retried_until_delivered(receiver, team_hooks, raise_threat):
    receiver.fail("/threats", 500)
    raise_threat(severity="P0")

    assert outbox.outbox_dispatch() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert outbox.outbox_dispatch() == 0  # not due yet

    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
        assert outbox.outbox_dispatch() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    first, second = receiver.received("/threats")
    assert first.body == second.body and first.json["id"] == second.json["id"]
    assert receiver.received("/child-safety") == []
