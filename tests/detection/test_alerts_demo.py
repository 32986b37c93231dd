"""The demo's anomaly episode shows one open alert on first start."""

from __future__ import annotations

import io

import pytest

from detection.demo_alerts import seed_alerts
from detection.models import Alert
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.django_db


def test_the_demo_episode_opens_one_volume_alert(senior):
    make_member("platform", roles.PLATFORM)
    out = io.StringIO()

    seed_alerts(stdout=out, scale=1.0)

    (alert,) = Alert.objects.filter(status=Alert.Status.OPEN)
    assert alert.key == "volume:impersonation:profile:user_report"
    assert alert.detail["observed"] == 26 and alert.detail["baseline"] == [2, 1, 3, 2]
    assert "opened 1 alert" in out.getvalue()
