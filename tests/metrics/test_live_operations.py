"""Live operations: per queue now, from the stamped deadlines, through the visibility filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from cases import services as case_services
from cases.models import Case, Queue
from enforcement import services as enforcement
from escalations import services as escalations
from metrics.selectors import LiveFilters, live_operations
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def made_at(when: datetime, actor, **payload) -> Case:
    with time_machine.travel(when, tick=False):
        return make_case(actor, **payload)


@pytest.fixture
def floor(platform_account, analyst):
    """Spam (P3: first action within 24 h, resolution within 72 h) and harassment cases:

    - ``breached``: spam, opened 30 h ago and never acted on (first action was due 6 h ago);
    - ``due``: spam, opened 23 h 30 m ago (first action due in 30 minutes);
    - ``claimed``: spam, opened an hour ago and in review with the analyst;
    - ``resolved``: spam, decided (no violation) — not open any more;
    - ``fresh``: harassment, opened ten minutes ago;
    - ``child``: a child-safety report, restricted to the child-safety team's queue.
    """
    cases = {
        "breached": made_at(NOW - timedelta(hours=30), platform_account, reason="spam"),
        "due": made_at(NOW - timedelta(hours=23, minutes=30), platform_account, reason="spam"),
        "claimed": made_at(NOW - timedelta(hours=1), platform_account, reason="spam"),
        "resolved": made_at(NOW - timedelta(hours=2), platform_account, reason="spam"),
        "fresh": made_at(NOW - timedelta(minutes=10), platform_account, reason="harassment"),
        "child": made_at(NOW - timedelta(hours=2), platform_account, reason="child_safety"),
    }
    with time_machine.travel(NOW - timedelta(minutes=50), tick=False):
        case_services.case_claim(actor=analyst, case_id=cases["claimed"].pk)
        resolved = case_services.case_claim(actor=analyst, case_id=cases["resolved"].pk)
        enforcement.decision_make(
            actor=analyst,
            case_id=resolved.pk,
            version=resolved.version,
            outcome="no_violation",
            rationale="Not spam: one post.",
        )
    assert Case.objects.get(pk=cases["resolved"].pk).status == Case.Status.RESOLVED
    assert cases["child"].restricted and cases["child"].queue.slug == "child-safety"
    return cases


def rows(live) -> dict:
    return {row.slug: row for row in live.queues}


def test_each_queue_counts_open_in_review_due_breached_and_oldest_from_the_deadlines(floor, senior):
    with time_machine.travel(NOW, tick=False):
        live = live_operations(actor=senior)

    spam, harassment = rows(live)["spam"], rows(live)["harassment"]
    assert (spam.open, spam.in_review, spam.due_within_hour, spam.breached) == (3, 1, 1, 1)
    assert spam.oldest == timedelta(hours=30) and spam.oldest_text == "1 d 6 h"
    assert (harassment.open, harassment.in_review, harassment.breached) == (1, 0, 0)
    assert harassment.oldest_text == "10 m"
    assert rows(live)["general"].open == 0 and rows(live)["general"].oldest is None
    assert (live.total.open, live.total.breached, live.total.due_within_hour) == (4, 1, 1)
    assert live.total.oldest == timedelta(hours=30)


def test_breached_needs_no_sweep_only_the_clock(floor, senior):
    # Seven hours earlier nothing had passed a deadline yet; at NOW one case has, and no
    # sweep ran in between.
    with time_machine.travel(NOW - timedelta(hours=7), tick=False):
        assert rows(live_operations(actor=senior))["spam"].breached == 0
    with time_machine.travel(NOW, tick=False):
        assert rows(live_operations(actor=senior))["spam"].breached == 1


def test_the_restricted_queue_is_listed_only_for_its_team(floor, senior):
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))
    with time_machine.travel(NOW, tick=False):
        outsider_view = live_operations(actor=senior)
        team_view = live_operations(actor=team_senior)

    assert "child-safety" not in rows(outsider_view)
    assert outsider_view.total.open == 4
    child = rows(team_view)["child-safety"]
    assert child.restricted and child.open == 1
    assert team_view.total.open == 5


def test_a_case_restricted_by_escalation_counts_in_its_queue_only_for_the_team(
    floor, senior, analyst
):
    escalations.escalation_raise(
        actor=analyst,
        case_id=floor["fresh"].pk,
        team="child-safety",
        severity="P1",
        summary="Looks like grooming.",
        criteria="Minor involved.",
    )
    case = Case.objects.get(pk=floor["fresh"].pk)
    assert case.restricted and case.queue.slug == "harassment"
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))

    with time_machine.travel(NOW, tick=False):
        assert rows(live_operations(actor=senior))["harassment"].open == 0
        assert rows(live_operations(actor=team_senior))["harassment"].open == 1


def test_filters_narrow_the_table_to_a_queue_severity_and_reason(floor, senior):
    spam = Queue.objects.get(slug="spam")
    with time_machine.travel(NOW, tick=False):
        only_spam = live_operations(actor=senior, filters=LiveFilters(queue=spam))
        p2 = live_operations(actor=senior, filters=LiveFilters(severity=2))
        hate = live_operations(actor=senior, filters=LiveFilters(reason="hate"))

    assert [r.slug for r in only_spam.queues] == ["spam"] and only_spam.total.open == 3
    assert p2.total.open == 1 and rows(p2)["harassment"].open == 1
    assert hate.total.open == 0


def test_drill_down_links_open_the_queue_page_with_the_same_filters(floor, senior):
    with time_machine.travel(NOW, tick=False):
        spam = rows(live_operations(actor=senior, filters=LiveFilters(severity=3)))["spam"]
    base = reverse("cases:queue-detail", args=["spam"])
    assert spam.links["breached"] == f"{base}?status=open&breached=on&severity=3"
    assert spam.links["in_review"] == f"{base}?status=in_review&severity=3"


def test_only_leads_see_live_operations(associate, analyst, specialist, outsider):
    for actor in (associate, analyst, specialist, outsider):
        with pytest.raises(PermissionDenied):
            live_operations(actor=actor)


def test_one_grouped_query_whatever_the_number_of_queues_and_cases(
    floor, senior, platform_account, django_assert_num_queries
):
    senior = type(senior).objects.get(pk=senior.pk)
    with time_machine.travel(NOW, tick=False):
        with django_assert_num_queries(4) as captured:
            live_operations(actor=senior)
        grouped = [q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"]]
        assert len(grouped) == 1

        for n in range(5):
            make_case(platform_account, reason="hate" if n % 2 else "impersonation")
        senior = type(senior).objects.get(pk=senior.pk)
        with django_assert_num_queries(4):
            live_operations(actor=senior)
