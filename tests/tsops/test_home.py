"""Each role's home page, "mark all read", and nobody notified of their own action."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from cases import services as case_services
from tests.escalations.conftest import raise_threat, threat_case  # noqa: F401 - fixtures
from tests.factories import make_case
from tsops.models import Notification
from tsops.services import notification_send, notifications_mark_all_read

pytestmark = pytest.mark.django_db

HOME = reverse("home")
READ_ALL = reverse("notifications-read-all")


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def sections(html: str) -> list[str]:
    return re.findall(r'data-section="([\w-]+)"', html)


# --- Per role ----------------------------------------------------------------------------------


def test_an_analyst_sees_their_queues_and_the_cases_they_are_working_on(
    platform_account, analyst, analyst2, login
):
    mine = make_case(platform_account, reason="violent_threat")
    theirs = make_case(platform_account, reason="spam")
    case_services.case_claim(actor=analyst, case_id=mine.pk)
    case_services.case_claim(actor=analyst2, case_id=theirs.pk)

    html = login(analyst).get(HOME).content.decode()

    assert sections(html)[:2] == ["queues", "claimed"]
    claimed = html.split('data-section="claimed"')[1].split("</section>")[0]
    assert f'data-case-id="{mine.pk}"' in claimed
    assert f'data-case-id="{theirs.pk}"' not in claimed
    assert "violent_threat" not in claimed.replace(f'href="/cases/{mine.pk}/"', "")
    assert "Violent threat" in claimed


def test_an_analyst_working_nothing_is_told_how_to_start(analyst, login):
    html = login(analyst).get(HOME).content.decode()

    assert "You are not working on any case" in html


def test_a_specialist_sees_their_team_s_open_escalations(
    threats_specialist,
    specialist,
    raise_threat,  # noqa: F811 - the fixture imported above
    login,
):
    escalation = raise_threat()

    html = login(threats_specialist).get(HOME).content.decode()
    team = html.split('data-section="team"')[1].split("</section>")[0]
    assert f'data-escalation-id="{escalation.pk}"' in team
    assert reverse("escalations:escalation-detail", args=[escalation.pk]) in team

    # Another team's member sees none of it.
    other = login(specialist).get(HOME).content.decode()
    assert f'data-escalation-id="{escalation.pk}"' not in other
    assert "No open escalations" in other


def test_a_senior_sees_every_queue_with_its_breached_column(senior, login):
    html = login(senior).get(HOME).content.decode()

    queues = html.split('data-section="queues"')[1].split("</section>")[0]
    assert '<th class="num">Breached</th>' in queues
    assert 'class="table-wrap"' in queues
    assert queues.count('data-testid="breached"') >= 3


def test_the_home_page_reads_in_a_fixed_number_of_queries(
    platform_account, analyst, login, django_assert_max_num_queries
):
    for _ in range(3):
        case = make_case(platform_account, reason="scam_fraud")
        case_services.case_claim(actor=analyst, case_id=case.pk)
    client = login(analyst)
    client.get(HOME)
    with django_assert_max_num_queries(20):
        client.get(HOME)


# --- Notifications -----------------------------------------------------------------------------


def _notes(user, count: int) -> None:
    notification_send(actor=None, recipients=[user] * 1, kind="test", title="first", link="/")
    for number in range(count - 1):
        notification_send(actor=None, recipients=[user], kind="test", title=f"n{number}")


def test_mark_all_read_marks_only_the_viewer_s_own(analyst, senior, login):
    _notes(analyst, 12)
    _notes(senior, 2)
    client = login(analyst)
    assert "Mark all read" in client.get(HOME).content.decode()

    response = client.post(READ_ALL)

    assert response.status_code == 302 and response.url == HOME
    assert not Notification.objects.filter(user=analyst, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=senior, read_at__isnull=True).count() == 2
    page = client.get(HOME).content.decode()
    assert "12 notifications marked read." in page
    assert 'data-section="notifications"' not in page


def test_mark_all_read_is_a_post_for_console_members_only(analyst, outsider, client):
    _notes(outsider, 1)
    client.force_login(analyst)
    assert client.get(READ_ALL).status_code == 405
    client.force_login(outsider)
    assert client.post(READ_ALL).status_code == 403
    assert Notification.objects.filter(user=outsider, read_at__isnull=True).count() == 1


def test_marking_all_read_twice_marks_nothing_more(analyst):
    _notes(analyst, 3)
    assert notifications_mark_all_read(actor=analyst) == 3
    assert notifications_mark_all_read(actor=analyst) == 0


def test_nobody_is_notified_of_their_own_action(analyst, senior, associate):
    notes = notification_send(
        actor=senior,
        recipients=[analyst, senior, analyst.pk, associate],
        kind="test",
        title="t",
    )

    assert sorted(n.user_id for n in notes) == sorted([analyst.pk, associate.pk])
    assert not Notification.objects.filter(user=senior).exists()
    # The system (no actor) notifies everyone named, once each.
    assert len(notification_send(actor=None, recipients=[senior, senior], kind="t", title="t")) == 1


def test_raising_an_escalation_does_not_notify_the_raiser(analyst, raise_threat):  # noqa: F811
    raise_threat()

    assert not Notification.objects.filter(user=analyst).exists()
