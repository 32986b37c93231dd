"""Volume checks run at once (two beat workers, a retry) evaluate the hour once, open one
alert and page the on-call once."""

from __future__ import annotations

import pytest

from detection.anomaly import volume_check
from detection.models import Alert, VolumeCheck
from detection.services.alerts import alert_raise
from enforcement.models import OutboxEvent
from tests.cases.test_sweeps_concurrent import run_together
from tests.detection.alerts_support import HOUR, add_reports
from tests.factories import make_case
from tsops.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_checks_of_one_hour_open_one_alert_and_page_once(platform_account, senior):
    case = make_case(platform_account, reason="spam")
    add_reports(case, 25, HOUR)

    results = run_together(lambda: volume_check(hour=HOUR), threads=4)

    assert sum(result is not None for result in results) == 1
    assert VolumeCheck.objects.count() == 1
    alert = Alert.objects.get(kind=Alert.Kind.VOLUME)
    assert alert.evaluations == 1
    assert Notification.objects.filter(kind="detection_alert").count() == 1
    assert OutboxEvent.objects.filter(event_type="detection.alert").count() == 1


def test_concurrent_raisers_of_one_episode_share_one_alert(senior):
    def raise_it():
        return alert_raise(
            kind=Alert.Kind.RULE_HIT_RATE, key="rule:7", title="Rule 7 hit rate", detail={}
        )[1]

    opened = run_together(raise_it, threads=4)

    assert sorted(opened) == [False, False, False, True]
    alert = Alert.objects.get(kind=Alert.Kind.RULE_HIT_RATE)
    assert alert.evaluations == 4
    assert Notification.objects.filter(kind="detection_alert").count() == 1
