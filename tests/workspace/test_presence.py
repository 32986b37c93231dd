"""Presence: who else is on a case, on the case page and on the queue page's rows; never a
word about a case the viewer may not see."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from redis.client import Pipeline

from cases import services as case_services
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_factory():
    from django.test import Client

    def build(user):
        client = Client()
        client.force_login(user)
        return client

    return build


def poll(client, case):
    return client.post(reverse("workspace:case-presence", args=[case.pk]), HTTP_X_TSOPS_POLL="1")


def present(response) -> list[str]:
    return re.findall(r'data-testid="present">([^<]+)<', response.content.decode())


def queue_poll(client, slug, *cases):
    query = "&".join(f"case={case.pk}" for case in cases)
    return client.get(reverse("workspace:queue-presence", args=[slug]) + "?" + query)


def cells(response) -> dict[int, str]:
    found = re.findall(
        r'<span id="presence-case-(\d+)"[^>]*hx-swap-oob="true">(.*?)</span>\n',
        response.content.decode(),
    )
    return {int(case_id): re.sub(r"<[^>]+>", "", body) for case_id, body in found}


def test_two_analysts_on_a_case_see_each_other(client_factory, analyst, analyst2, plain_case):
    noor, mateo = client_factory(analyst), client_factory(analyst2)

    alone = poll(noor, plain_case)
    assert alone.status_code == 200
    assert "Nobody else is on this case." in alone.content.decode()

    assert present(poll(mateo, plain_case)) == ["noor_analyst (viewing)"]
    assert present(poll(noor, plain_case)) == ["mateo_analyst (viewing)"]


def test_the_claimant_shows_as_working(client_factory, analyst, analyst2, plain_case):
    case_services.case_claim(actor=analyst2, case_id=plain_case.pk)
    poll(client_factory(analyst2), plain_case)

    response = poll(client_factory(analyst), plain_case)

    assert present(response) == ["mateo_analyst (working)"]
    assert "Also here:" in response.content.decode()


def test_someone_who_stopped_polling_is_gone_after_two_intervals(
    settings, client_factory, analyst, analyst2, plain_case
):
    settings.WORKSPACE_POLL_SECONDS = 15
    poll(client_factory(analyst2), plain_case)
    noor = client_factory(analyst)
    with time_machine.travel(timezone.now() + timedelta(seconds=29)):
        assert present(poll(noor, plain_case)) == ["mateo_analyst (viewing)"]
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert present(poll(noor, plain_case)) == []


def test_the_poll_answers_404_for_a_case_the_viewer_may_not_see(
    client_factory, analyst, specialist, restricted_case
):
    chen = client_factory(specialist)
    poll(chen, restricted_case)

    assert poll(client_factory(analyst), restricted_case).status_code == 404
    # The refused poll left no trace: the team member is still alone.
    assert present(poll(chen, restricted_case)) == []


def test_the_poll_must_be_a_post(client_factory, analyst, plain_case):
    url = reverse("workspace:case-presence", args=[plain_case.pk])
    assert client_factory(analyst).get(url).status_code == 405


def test_the_case_page_polls_for_presence(settings, client_factory, analyst, plain_case):
    settings.WORKSPACE_POLL_SECONDS = 7
    response = client_factory(analyst).get(reverse("cases:case-detail", args=[plain_case.pk]))
    html = response.content.decode()

    assert 'data-testid="presence"' in html
    assert f'hx-post="{reverse("workspace:case-presence", args=[plain_case.pk])}"' in html
    assert 'hx-trigger="load, every 7s"' in html
    assert "X-TSOps-Poll" in html


def test_the_poll_shows_a_break_prompt_when_one_is_due(
    client_factory, analyst, graphic_queue, graphic_case
):
    from workspace.models import ExposureTally

    noor = client_factory(analyst)
    poll(noor, graphic_case)
    ExposureTally.objects.filter(user=analyst).update(seconds=20 * 60 - 1)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        html = poll(noor, graphic_case).content.decode()

    assert f'id="break-prompt-{graphic_case.pk}" hx-swap-oob="innerHTML"' in html
    assert "Time for a short break" in html and "data-dismiss-break" in html
    assert "Today in Self-harm: 20 of 60 min, 1 of 3 cases" in html


# --- The queue page ---------------------------------------------------------------------------


def test_queue_rows_show_who_is_on_each_case(
    client_factory, platform_account, analyst, analyst2, associate
):
    first, second, third = (make_case(platform_account, reason="other") for _ in range(3))
    case_services.case_claim(actor=analyst2, case_id=second.pk)
    poll(client_factory(analyst2), second)
    poll(client_factory(associate), second)
    poll(client_factory(associate), first)

    response = queue_poll(client_factory(analyst), "general", first, second, third)

    assert response.status_code == 200
    assert cells(response) == {
        first.pk: "ada_associate",
        second.pk: "mateo_analyst (working), ada_associate",
        third.pk: "",
    }
    # The poller comes back with the interval, to be replaced by the next answer.
    assert 'hx-trigger="every 15s"' in response.content.decode()


def test_queue_rows_are_read_in_one_redis_round_trip(
    monkeypatch, client_factory, platform_account, analyst
):
    cases = [make_case(platform_account, reason="other") for _ in range(12)]
    for case in cases:
        poll(client_factory(analyst), case)
    client = client_factory(analyst)
    # Warm the per-process caches (the team list, re-read every 30 s) before counting.
    queue_poll(client, "general", *cases[:1])
    executed = []
    original = Pipeline.execute

    def counting(self, *args, **kwargs):
        executed.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counting)
    with CaptureQueriesContext(connection) as few:
        queue_poll(client, "general", *cases[:2])
    with CaptureQueriesContext(connection) as many:
        response = queue_poll(client, "general", *cases)

    assert executed == [2, 12]
    assert len(many) == len(few)
    assert set(cells(response)) == {case.pk for case in cases}


def test_a_queue_poll_says_nothing_of_cases_the_viewer_may_not_see(
    client_factory, platform_account, analyst, specialist, restricted_case
):
    poll(client_factory(specialist), restricted_case)
    visible = make_case(platform_account, reason="other")

    response = queue_poll(client_factory(analyst), "general", visible, restricted_case)

    assert set(cells(response)) == {visible.pk}
    assert "chen" not in response.content.decode()
    assert queue_poll(client_factory(analyst), "child-safety", restricted_case).status_code == 404


def test_a_queue_poll_answers_only_for_that_queue_s_cases(
    client_factory, platform_account, analyst, graphic_queue
):
    in_general = make_case(platform_account, reason="other")
    in_self_harm = make_case(platform_account, reason="self_harm")

    response = queue_poll(client_factory(analyst), "general", in_general, in_self_harm)

    assert set(cells(response)) == {in_general.pk}


@pytest.mark.parametrize("query", ["case=abc", "case=-1", "case=1e3", "case=" + "9" * 20])
def test_a_queue_poll_with_bad_ids_is_answered_400(client_factory, analyst, query):
    response = client_factory(analyst).get(
        reverse("workspace:queue-presence", args=["general"]) + "?" + query
    )
    assert response.status_code == 400


def test_the_queue_page_has_a_presence_cell_per_row(client_factory, platform_account, analyst):
    cases = [make_case(platform_account, reason="other") for _ in range(2)]
    html = client_factory(analyst).get(reverse("cases:queue-detail", args=["general"]))
    html = html.content.decode()

    poller = reverse("workspace:queue-presence", args=["general"])
    assert f'hx-get="{poller}?case={cases[1].pk}&amp;case={cases[0].pk}"' in html or (
        f'hx-get="{poller}?case={cases[0].pk}&amp;case={cases[1].pk}"' in html
    )
    for case in cases:
        assert f'id="presence-case-{case.pk}"' in html
