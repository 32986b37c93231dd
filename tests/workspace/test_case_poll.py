"""The case page's poll: exposure time accrues between polls (at most one interval each), a
case counts once per reviewer and day, concurrent polls add up, and thresholds prompt a break."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from tests.factories import make_case
from workspace import services
from workspace.models import ExposureCaseOpen, ExposureTally

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(clock, seconds: float) -> None:
    clock.move_to(START + timedelta(seconds=seconds))


def tally(user, queue) -> ExposureTally:
    return ExposureTally.objects.get(user=user, queue=queue)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_the_first_poll_counts_the_case_and_later_polls_add_the_time_between(
    clock, analyst, graphic_queue, graphic_case
):
    services.case_poll(actor=analyst, case=graphic_case)
    assert (tally(analyst, graphic_queue).seconds, tally(analyst, graphic_queue).cases_opened) == (
        0,
        1,
    )

    at(clock, 10)
    services.case_poll(actor=analyst, case=graphic_case)
    at(clock, 25)
    services.case_poll(actor=analyst, case=graphic_case)

    row = tally(analyst, graphic_queue)
    assert (row.seconds, row.cases_opened, row.day) == (25, 1, START.date())


def test_a_late_poll_adds_at_most_one_interval(
    clock, settings, analyst, graphic_queue, graphic_case
):
    settings.WORKSPACE_POLL_SECONDS = 15
    services.case_poll(actor=analyst, case=graphic_case)
    at(clock, 24)  # a throttled background tab: within presence's two intervals
    services.case_poll(actor=analyst, case=graphic_case)

    assert tally(analyst, graphic_queue).seconds == 15


def test_a_poll_after_the_tab_was_closed_adds_nothing_for_the_gap(
    clock, analyst, graphic_queue, graphic_case
):
    services.case_poll(actor=analyst, case=graphic_case)
    # The last poll's time is forgotten with presence (two intervals): the gap adds nothing.
    services.presence._client().delete(services.presence.exposure_key(analyst.pk, graphic_queue.pk))
    at(clock, 600)
    services.case_poll(actor=analyst, case=graphic_case)

    assert tally(analyst, graphic_queue).seconds == 0


def test_two_tabs_on_one_queue_count_the_time_once(
    clock, platform_account, analyst, graphic_queue, graphic_case
):
    other = make_case(platform_account, reason="self_harm")
    for seconds, case in ((0, graphic_case), (5, other), (15, graphic_case), (20, other)):
        at(clock, seconds)
        services.case_poll(actor=analyst, case=case)

    row = tally(analyst, graphic_queue)
    assert (row.seconds, row.cases_opened) == (20, 2)


def test_a_case_counts_once_a_day(clock, analyst, graphic_queue, graphic_case):
    for seconds in (0, 5, 3600):
        at(clock, seconds)
        services.case_poll(actor=analyst, case=graphic_case)
    assert tally(analyst, graphic_queue).cases_opened == 1

    at(clock, 24 * 3600)
    services.case_poll(actor=analyst, case=graphic_case)

    assert (
        ExposureTally.objects.get(user=analyst, day=START.date() + timedelta(1)).cases_opened == 1
    )
    assert ExposureCaseOpen.objects.filter(user=analyst, case=graphic_case).count() == 2


def test_each_reviewer_has_a_tally_of_their_own(clock, analyst, analyst2, graphic_case):
    services.case_poll(actor=analyst, case=graphic_case)
    services.case_poll(actor=analyst2, case=graphic_case)
    at(clock, 10)
    services.case_poll(actor=analyst, case=graphic_case)

    assert dict(ExposureTally.objects.values_list("user__username", "seconds")) == {
        analyst.username: 10,
        analyst2.username: 0,
    }


def test_a_queue_not_marked_graphic_records_no_exposure(clock, analyst, plain_case):
    services.case_poll(actor=analyst, case=plain_case)
    at(clock, 10)
    poll = services.case_poll(actor=analyst, case=plain_case)

    assert poll.budget is None
    assert not ExposureTally.objects.exists() and not ExposureCaseOpen.objects.exists()


def test_crossing_a_break_threshold_prompts_once(clock, analyst, graphic_queue, graphic_case):
    services.case_poll(actor=analyst, case=graphic_case)
    ExposureTally.objects.filter(user=analyst).update(seconds=20 * 60 - 5)

    at(clock, 10)
    crossing = services.case_poll(actor=analyst, case=graphic_case)
    at(clock, 20)
    after = services.case_poll(actor=analyst, case=graphic_case)

    assert crossing.prompt.startswith("You have had Self-harm cases open for 20 minutes today.")
    assert "break" in crossing.prompt
    assert after.prompt == ""


def test_reaching_the_budget_says_so(clock, analyst, graphic_queue, graphic_case):
    services.case_poll(actor=analyst, case=graphic_case)
    ExposureTally.objects.filter(user=analyst).update(seconds=60 * 60 - 5)

    at(clock, 10)
    poll = services.case_poll(actor=analyst, case=graphic_case)

    assert poll.prompt == (
        "You have reached today's exposure budget for Self-harm (60 of 60 minutes). "
        "Take a break; a senior can extend it."
    )
    assert poll.budget.exhausted_by == "minutes"


def test_opening_the_last_case_of_the_budget_says_so(
    clock, platform_account, analyst, graphic_queue
):
    cases = [make_case(platform_account, reason="self_harm") for _ in range(3)]
    prompts = [services.case_poll(actor=analyst, case=case).prompt for case in cases]

    assert prompts[:2] == ["", ""]
    assert "(3 of 3 cases)" in prompts[2]


@pytest.mark.django_db(transaction=True)
def test_concurrent_polls_lose_no_counts(platform_account, analyst, graphic_queue):
    """Polls of many tabs at once: every second and every case is counted."""
    day = timezone.localdate()
    errors: list[BaseException] = []
    cases = [make_case(platform_account, reason="self_harm") for _ in range(8)]

    def poll(case):
        try:
            for _ in range(10):
                services._accrue(
                    user_id=analyst.pk, case=case, day=day, seconds=1, now=timezone.now()
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poll, args=(case,)) for case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    row = tally(analyst, graphic_queue)
    assert (row.seconds, row.cases_opened) == (80, 8)
