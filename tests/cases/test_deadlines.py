""" "Breached" and "due within the hour" have one home (cases.sla.breached_q / due_within_q):
the queue list and live operations count the same, and Case's methods agree with both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from cases.models import Case
from cases.selectors import queue_summaries
from cases.sla import DUE_WITHIN, breached_q, due_within_q
from metrics.selectors import live_operations
from tests.factories import make_case

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
FAR = NOW + timedelta(days=2)


@pytest.fixture
def deadlines(platform_account) -> dict[str, Case]:
    """Spam cases in one queue, their deadlines set relative to NOW:

    - ``first_soon``: first action due in 30 minutes, resolution in two days — due within the
      hour by its first-action deadline only;
    - ``resolve_soon``: resolution due in 30 minutes;
    - ``first_breached``: first action due 10 minutes ago, none taken;
    - ``acted``: its first-action deadline passed, but the action was taken — neither;
    - ``acted_soon``: first action taken, first-action deadline in 30 minutes — not pending;
    - ``resolved``: both deadlines passed, but resolved — neither;
    - ``later``: both deadlines hours away.
    """
    with time_machine.travel(NOW - timedelta(hours=3), tick=False):
        cases = {
            name: make_case(platform_account, reason="spam")
            for name in (
                "first_soon",
                "resolve_soon",
                "first_breached",
                "acted",
                "acted_soon",
                "resolved",
                "later",
            )
        }
    soon, past = NOW + timedelta(minutes=30), NOW - timedelta(minutes=10)
    stamps = {
        "first_soon": {"first_action_due": soon, "resolve_due": FAR},
        "resolve_soon": {"first_action_due": soon, "resolve_due": soon},
        "first_breached": {"first_action_due": past, "resolve_due": FAR},
        "acted": {"first_action_due": past, "resolve_due": FAR, "first_action_at": past},
        "acted_soon": {"first_action_due": soon, "resolve_due": FAR, "first_action_at": past},
        "resolved": {
            "first_action_due": past,
            "resolve_due": past,
            "status": Case.Status.RESOLVED,
            "resolved_at": past,
        },
        "later": {"first_action_due": NOW + timedelta(hours=5), "resolve_due": FAR},
    }
    for name, values in stamps.items():
        Case.objects.filter(pk=cases[name].pk).update(**values)
    return {name: Case.objects.get(pk=case.pk) for name, case in cases.items()}


def test_the_queue_list_and_live_operations_count_the_same_for_a_queue(deadlines, senior):
    queue = deadlines["first_soon"].queue
    with time_machine.travel(NOW, tick=False):
        listed = next(s for s in queue_summaries(actor=senior) if s.slug == queue.slug)
        live = next(r for r in live_operations(actor=senior).queues if r.slug == queue.slug)
    # first_soon and resolve_soon are due within the hour; first_breached is breached.
    assert (listed.due_within_hour, listed.breached) == (2, 1)
    assert (live.due_within_hour, live.breached) == (2, 1)


def test_the_case_methods_agree_with_the_queries(deadlines):
    breached = set(Case.objects.filter(breached_q(NOW)).values_list("pk", flat=True))
    due = set(Case.objects.filter(due_within_q(NOW)).values_list("pk", flat=True))
    assert breached == {deadlines["first_breached"].pk}
    assert due == {deadlines["first_soon"].pk, deadlines["resolve_soon"].pk}
    for name, case in deadlines.items():
        assert case.is_breached(NOW) is (case.pk in breached), name
        assert case.is_due_within(DUE_WITHIN, NOW) is (case.pk in due), name
        # Due soon (80% of the way to a deadline) is never said of a breached case either.
        assert not (case.is_due_soon(NOW) and case.is_breached(NOW)), name
