"""The volume detector: departures open one alert per episode, not below the minimum count nor
for a normal hour; the episode ends after quiet hours; restricted volume is its team's only;
the on-call is told once."""

from __future__ import annotations

import pytest
from django.core import mail

from detection.anomaly import volume_check
from detection.models import Alert, VolumeCheck
from detection.permissions_alerts import can_view_alert
from detection.selectors.alerts import alert_list, alert_open_count
from detection.services.alerts import alert_acknowledge
from enforcement.models import OutboxEvent
from escalations.models import Team
from tests.detection.alerts_support import HOUR, WEEK, add_baseline, add_reports
from tests.factories import make_case
from tsops.models import Notification

pytestmark = pytest.mark.django_db

ONE_HOUR = WEEK / 168


@pytest.fixture(autouse=True)
def _alert_settings(settings):
    settings.TSOPS_ALERT_BASELINE_WEEKS = 4
    settings.TSOPS_ALERT_CONFIDENCE = 0.999
    settings.TSOPS_ALERT_MIN_COUNT = 10
    settings.TSOPS_ALERT_QUIET_HOURS = 2
    settings.TSOPS_ALERT_ONCALL = ""


@pytest.fixture
def spam_case(platform_account):
    return make_case(platform_account, reason="spam")


@pytest.fixture
def child_safety_case(platform_account):
    return make_case(platform_account, reason="child_safety")


def _volume_alerts():
    return list(Alert.objects.filter(kind=Alert.Kind.VOLUME).order_by("pk"))


def test_a_burst_over_a_quiet_baseline_opens_one_alert_with_the_test_stated(spam_case):
    add_baseline(spam_case, [2, 3, 2, 1])
    add_reports(spam_case, 25, HOUR)

    result = volume_check(hour=HOUR)

    (alert,) = _volume_alerts()
    assert result.opened == [alert.pk]
    assert alert.key == "volume:spam:content:user_report"
    assert alert.status == Alert.Status.OPEN and alert.team == ""
    assert alert.detail["observed"] == 25
    assert alert.detail["baseline"] == [2, 3, 2, 1]
    assert alert.detail["expected"] == 2.25  # (8 + 1) / 4
    assert alert.detail["p_value"] < 0.001
    assert "Poisson" in alert.detail["test"]
    assert "Spam" in alert.title


def test_a_normal_hour_opens_nothing(spam_case):
    add_baseline(spam_case, [14, 12, 15, 13])
    add_reports(spam_case, 16, HOUR)

    result = volume_check(hour=HOUR)

    assert result.tested == 1 and result.departures == []
    assert _volume_alerts() == []


def test_a_departure_below_the_minimum_count_opens_nothing(spam_case, settings):
    # Nine reports where there were none: p is tiny, but nine is below the minimum of ten.
    add_reports(spam_case, 9, HOUR)
    assert volume_check(hour=HOUR).tested == 0
    assert _volume_alerts() == []

    settings.TSOPS_ALERT_MIN_COUNT = 9
    volume_check(hour=HOUR + ONE_HOUR)  # a quiet hour: still nothing
    add_reports(spam_case, 9, HOUR + 2 * ONE_HOUR)
    volume_check(hour=HOUR + 2 * ONE_HOUR)
    assert len(_volume_alerts()) == 1


def test_the_same_hour_evaluated_again_changes_nothing(spam_case):
    add_baseline(spam_case, [1, 1, 1, 1])
    add_reports(spam_case, 20, HOUR)

    assert volume_check(hour=HOUR) is not None
    assert volume_check(hour=HOUR) is None
    assert volume_check(hour=HOUR.replace(minute=0)) is None

    (alert,) = _volume_alerts()
    assert alert.evaluations == 1
    assert VolumeCheck.objects.get(hour=HOUR).departures == 1


def test_a_continuing_departure_refreshes_the_alert_instead_of_opening_another(spam_case):
    for offset in range(3):
        add_baseline(spam_case, [1, 1, 1, 1], HOUR + offset * ONE_HOUR)
        add_reports(spam_case, 20, HOUR + offset * ONE_HOUR)
        volume_check(hour=HOUR + offset * ONE_HOUR)

    (alert,) = _volume_alerts()
    assert alert.evaluations == 3
    assert alert.status == Alert.Status.OPEN


def test_the_episode_ends_after_the_quiet_hours_and_a_new_departure_opens_a_new_alert(
    spam_case,
):
    add_reports(spam_case, 20, HOUR)
    volume_check(hour=HOUR)
    (first,) = _volume_alerts()

    volume_check(hour=HOUR + ONE_HOUR)
    first.refresh_from_db()
    assert first.status == Alert.Status.OPEN and first.quiet_hours == 1

    volume_check(hour=HOUR + 2 * ONE_HOUR)
    first.refresh_from_db()
    assert first.status == Alert.Status.RESOLVED
    assert first.resolved_by is None and "2 consecutive hours" in first.resolution
    assert first.history.filter(history_change_reason="resolved: episode ended").exists()

    add_reports(spam_case, 20, HOUR + 3 * ONE_HOUR)
    volume_check(hour=HOUR + 3 * ONE_HOUR)
    first_again, second = _volume_alerts()
    assert first_again.pk == first.pk and second.status == Alert.Status.OPEN


def test_a_quiet_hour_between_departures_restarts_the_count(spam_case):
    add_reports(spam_case, 20, HOUR)
    volume_check(hour=HOUR)
    volume_check(hour=HOUR + ONE_HOUR)  # quiet
    add_reports(spam_case, 20, HOUR + 2 * ONE_HOUR)
    volume_check(hour=HOUR + 2 * ONE_HOUR)  # departs again
    volume_check(hour=HOUR + 3 * ONE_HOUR)  # quiet: one in a row, not two

    (alert,) = _volume_alerts()
    assert alert.status == Alert.Status.OPEN and alert.quiet_hours == 1


def test_an_acknowledged_alert_waits_for_a_person(spam_case, analyst):
    add_reports(spam_case, 20, HOUR)
    volume_check(hour=HOUR)
    (alert,) = _volume_alerts()
    alert_acknowledge(actor=analyst, alert=alert)

    for offset in (1, 2, 3):
        volume_check(hour=HOUR + offset * ONE_HOUR)

    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED and alert.quiet_hours == 3


def test_cells_are_per_reason_subject_kind_and_source(spam_case, platform_account):
    add_reports(spam_case, 20, HOUR, source="automated_flag")
    add_reports(spam_case, 3, HOUR)
    account_case = make_case(
        platform_account, reason="spam", subject={"kind": "account", "external_id": "acct-x"}
    )
    add_reports(account_case, 20, HOUR)

    volume_check(hour=HOUR)

    assert {a.key for a in _volume_alerts()} == {
        "volume:spam:content:automated_flag",
        "volume:spam:account:user_report",
    }


def test_restricted_volume_is_its_teams_alone(
    child_safety_case, spam_case, specialist, threats_specialist, senior, analyst, outsider
):
    assert child_safety_case.restricted and child_safety_case.team == "child-safety"
    add_reports(child_safety_case, 20, HOUR)
    add_reports(spam_case, 20, HOUR)

    volume_check(hour=HOUR)

    team_alert = Alert.objects.get(team="child-safety")
    assert team_alert.key == "volume:child_safety:content:user_report:child-safety"
    assert [a.pk for a in alert_list(actor=specialist)] == [team_alert.pk]
    assert alert_open_count(actor=specialist) == 1
    for other in (senior, analyst):
        assert team_alert.pk not in {a.pk for a in alert_list(actor=other)}
        assert alert_open_count(actor=other) == 1  # the spam alert only
        assert not can_view_alert(other, team_alert)
    for nobody in (threats_specialist, outsider):
        assert list(alert_list(actor=nobody)) == []
        assert alert_open_count(actor=nobody) == 0


def test_a_restricted_reason_counts_for_its_team_even_on_an_unrestricted_case(spam_case):
    # A child-safety report added to a case that is not (or no longer) restricted.
    spam_case.reason = "child_safety"
    add_reports(spam_case, 20, HOUR)

    volume_check(hour=HOUR)

    (alert,) = _volume_alerts()
    assert alert.team == "child-safety"


def test_the_on_call_is_told_once_per_episode(
    spam_case, senior, analyst, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for offset in range(3):
            add_reports(spam_case, 20, HOUR + offset * ONE_HOUR)
            volume_check(hour=HOUR + offset * ONE_HOUR)

    (alert,) = _volume_alerts()
    notes = Notification.objects.filter(kind="detection_alert")
    # No one is named on call: the seniors are told in-app.
    assert [n.user_id for n in notes] == [senior.pk]
    assert notes.get().link == f"/detection/alerts/{alert.pk}/"
    events = OutboxEvent.objects.filter(event_type="detection.alert")
    assert events.count() == 1
    payload = events.get().payload
    assert payload["alert_id"] == alert.pk and payload["team"] == ""
    assert payload["observed"] == 20


def test_the_named_on_call_gets_the_e_mail(
    spam_case, analyst, senior, settings, django_capture_on_commit_callbacks
):
    analyst.email = "noor@example.org"
    analyst.save()
    settings.TSOPS_ALERT_ONCALL = analyst.username
    add_reports(spam_case, 20, HOUR)

    with django_capture_on_commit_callbacks(execute=True):
        volume_check(hour=HOUR)

    assert [m.to for m in mail.outbox] == [["noor@example.org"]]
    assert "/detection/alerts/" in mail.outbox[0].body
    assert list(
        Notification.objects.filter(kind="detection_alert").values_list("user_id", flat=True)
    ) == [analyst.pk]


def test_a_teams_alert_pages_the_teams_on_call_and_nobody_else(
    child_safety_case, specialist, senior, django_capture_on_commit_callbacks
):
    Team.objects.filter(slug="child-safety").update(on_call=specialist)
    add_reports(child_safety_case, 20, HOUR)

    with django_capture_on_commit_callbacks(execute=True):
        volume_check(hour=HOUR)

    recipients = Notification.objects.filter(kind="detection_alert").values_list(
        "user_id", flat=True
    )
    assert list(recipients) == [specialist.pk]
    event = OutboxEvent.objects.get(event_type="detection.alert")
    assert event.payload["team"] == "child-safety"


def test_the_beat_task_evaluates_the_last_complete_hour_once(spam_case, time_machine):
    time_machine.move_to(HOUR + ONE_HOUR + ONE_HOUR / 6, tick=False)
    add_reports(spam_case, 20, HOUR)
    from detection.tasks_alerts import alerts_check_volume

    first = alerts_check_volume()
    again = alerts_check_volume()

    assert first["hour"] == HOUR.isoformat() and first["opened"] == 1
    assert again is None
    assert len(_volume_alerts()) == 1


def _badges(client, user) -> dict[str, str]:
    """The header's badges on the home page: entry key -> count shown."""
    import re

    client.force_login(user)
    html = client.get("/").content.decode()
    return dict(
        re.findall(
            r'data-nav="([\w-]+)"[^>]*>[^<]*<span class="nav-badge" data-testid="nav-badge">(\d+)',
            html,
        )
    )


def test_the_header_counts_the_open_alerts_each_member_may_see(
    client, child_safety_case, spam_case, specialist, senior, outsider
):
    add_reports(child_safety_case, 20, HOUR)
    add_reports(spam_case, 20, HOUR)
    volume_check(hour=HOUR)

    # The senior sees the spam alert only, under the Detection menu and on its Alerts entry.
    assert _badges(client, senior) == {"detection": "1", "alerts": "1"}
    assert _badges(client, outsider) == {}
    team_view = _badges(client, specialist)
    assert team_view.get("alerts") == "1"
    alert_acknowledge(actor=senior, alert=Alert.objects.get(team=""))
    assert _badges(client, senior) == {}


def test_a_teams_alert_reaches_its_own_on_call_webhook_and_no_other_team(
    child_safety_case, spam_case
):
    from enforcement import outbox
    from enforcement.models import WebhookDelivery
    from escalations.alerts import team_alert_endpoint_sync

    endpoints = {}
    for slug in ("child-safety", "threats"):
        team = Team.objects.get(slug=slug)
        team.alert_webhook_url = f"https://oncall.example/{slug}"
        team.save()
        endpoints[slug] = team_alert_endpoint_sync(team)
        assert endpoints[slug].event_types == ["escalation.alert", "detection.alert"]
    add_reports(child_safety_case, 20, HOUR)
    add_reports(spam_case, 20, HOUR)

    volume_check(hour=HOUR)
    outbox.outbox_fan_out(100)

    (delivery,) = WebhookDelivery.objects.select_related("event").filter(
        endpoint=endpoints["child-safety"]
    )
    assert delivery.event.event_type == "detection.alert"
    assert delivery.event.payload["team"] == "child-safety"
    # The other team's endpoint hears neither that alert nor the unrestricted spam alert.
    assert not WebhookDelivery.objects.filter(endpoint=endpoints["threats"]).exists()
