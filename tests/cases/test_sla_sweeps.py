"""The SLA sweep: due-soon warnings and breaches once per deadline, priority bump, seniors
notified (a restricted case only to its team's seniors), pages that need no sweep."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from cases import services, sla
from cases.models import Case, CaseEvent, Queue
from cases.timeline import EventKind
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import Notification

pytestmark = pytest.mark.django_db

# A spam case is P3 in the spam queue: first action within 24 h, resolution within 72 h,
# so it is due soon after 19.2 h (first action) and 57.6 h (resolution).
FIRST_WARN = timedelta(hours=19, minutes=12)
FIRST_DUE = timedelta(hours=24)
RESOLVE_WARN = timedelta(hours=57, minutes=36)
RESOLVE_DUE = timedelta(hours=72)


@pytest.fixture
def start():
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False) as traveller:
        yield traveller


def events(case: Case, kind: str) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case, kind=kind).order_by("id"))


def sweep_at(traveller, case: Case, offset: timedelta) -> sla.SweepResult:
    traveller.move_to(case.created_at + offset)
    return sla.case_sla_sweep()


def test_a_deadline_is_due_soon_at_80_percent_and_warned_exactly_once(start, platform_account):
    case = make_case(platform_account, reason="spam")
    assert (case.first_action_due - case.created_at, case.resolve_due - case.created_at) == (
        FIRST_DUE,
        RESOLVE_DUE,
    )
    result = sweep_at(start, case, FIRST_WARN - timedelta(seconds=1))
    assert result.warned == {"first_action": 0, "resolve": 0}
    case.refresh_from_db()
    assert case.first_action_warned_at is None and not case.is_due_soon()

    result = sweep_at(start, case, FIRST_WARN)
    assert result.warned == {"first_action": 1, "resolve": 0}
    case.refresh_from_db()
    assert case.first_action_warned_at == timezone.now() and case.is_due_soon()
    (event,) = events(case, EventKind.CASE_SLA_WARNED)
    assert event.data == {"deadline": "first_action", "due": case.first_action_due.isoformat()}

    assert sweep_at(start, case, FIRST_WARN + timedelta(hours=1)).warned["first_action"] == 0
    assert len(events(case, EventKind.CASE_SLA_WARNED)) == 1
    # A warning is no breach: nobody is notified and the priority stays.
    assert not Notification.objects.exists()
    assert Case.objects.get(pk=case.pk).priority == 0


def test_a_breach_is_marked_once_bumps_priority_and_tells_the_queues_seniors_once(
    start, platform_account, senior, analyst, associate, outsider
):
    other_senior = make_member("ines_senior", roles.SENIOR)
    case = make_case(platform_account, reason="spam")
    version = case.version
    result = sweep_at(start, case, FIRST_DUE)
    # Exactly at the deadline it is not yet breached (the pages say so too).
    assert result.breached["first_action"] == 0
    assert not Case.objects.get(pk=case.pk).is_breached()

    result = sweep_at(start, case, FIRST_DUE + timedelta(minutes=1))
    assert result.breached == {"first_action": 1, "resolve": 0}
    assert result.notifications == 2
    case.refresh_from_db()
    assert case.first_action_breached_at == timezone.now()
    assert case.priority == 1
    # Rollups see the change; an analyst's open edit form stays valid.
    assert case.updated_at == timezone.now() and case.version == version
    (event,) = events(case, EventKind.CASE_SLA_BREACHED)
    assert event.data["deadline"] == "first_action" and event.data["priority"] == 1
    assert case.history.filter(history_change_reason="SLA breached: first action").count() == 1
    notes = Notification.objects.filter(kind=sla.NOTIFICATION_KIND)
    assert sorted(n.user.username for n in notes) == sorted(
        [senior.username, other_senior.username]
    )
    note = notes.first()
    assert note.link == f"/cases/{case.pk}/"
    assert f"Case #{case.pk} (P3) breached its first action deadline" == note.title
    assert not Notification.objects.filter(user__in=[analyst, associate, outsider]).exists()

    # Running again (and again later) changes nothing for this deadline.
    for hours in (0, 1, 5):
        again = sweep_at(start, case, FIRST_DUE + timedelta(minutes=1, hours=hours))
        assert again.breached["first_action"] == 0 and again.notifications == 0
    assert Notification.objects.count() == 2
    assert len(events(case, EventKind.CASE_SLA_BREACHED)) == 1
    assert Case.objects.get(pk=case.pk).priority == 1

    # The resolution deadline is a second deadline: its own warning, breach and notifications.
    result = sweep_at(start, case, RESOLVE_WARN)
    assert result.warned == {"first_action": 0, "resolve": 1}
    result = sweep_at(start, case, RESOLVE_DUE + timedelta(seconds=1))
    assert result.breached == {"first_action": 0, "resolve": 1}
    case.refresh_from_db()
    assert case.priority == 2 and case.resolve_breached_at == timezone.now()
    assert Notification.objects.count() == 4
    assert [e.data["deadline"] for e in events(case, EventKind.CASE_SLA_BREACHED)] == [
        "first_action",
        "resolve",
    ]
    assert sla.case_sla_sweep().breached == {"first_action": 0, "resolve": 0}


def test_a_restricted_cases_breach_reaches_only_the_seniors_of_its_team(
    start, platform_account, senior, specialist, outsider
):
    team_senior = make_member("lena_cs_senior", roles.SENIOR, ("child-safety",))
    threats_senior = make_member("omar_threats_senior", roles.SENIOR, ("threats",))
    case = make_case(platform_account, reason="child_safety")
    assert case.restricted and case.team == "child-safety"
    assert case.queue.slug == "child-safety"
    result = sweep_at(start, case, case.first_action_due - case.created_at + timedelta(minutes=1))
    assert result.breached["first_action"] == 1
    assert list(Notification.objects.values_list("user__username", flat=True)) == [
        team_senior.username
    ]
    # The senior outside the team, another team's senior, the team's member without the senior
    # role and the outsider hear nothing about it.
    for user in (senior, threats_senior, specialist, outsider):
        assert not Notification.objects.filter(user=user).exists()


def test_a_team_without_a_senior_of_its_own_hears_of_its_breach_through_its_members(
    start, platform_account, senior, specialist, outsider
):
    case = make_case(platform_account, reason="child_safety")
    assert case.restricted and case.team == "child-safety"
    result = sweep_at(start, case, case.first_action_due - case.created_at + timedelta(minutes=1))
    assert result.breached["first_action"] == 1
    assert list(Notification.objects.values_list("user__username", flat=True)) == [
        specialist.username
    ]
    for user in (senior, outsider):
        assert not Notification.objects.filter(user=user).exists()


def test_recipients_follow_the_case_not_only_the_queue(senior):
    team_senior = make_member("lena_cs_senior", roles.SENIOR, ("child-safety",))
    seniors = [senior, team_senior]
    spam = Queue.objects.get(slug="spam")
    fraud = Queue.objects.get(slug="fraud")
    child_safety = Queue.objects.get(slug="child-safety")
    told = sla.seniors_to_notify
    # A standard queue's case: every senior who may work the queue.
    assert told(seniors, queue=spam, restricted=False, team="") == seniors
    # A standard queue holding a case restricted to a team (escalated there): the team only.
    assert told([senior, team_senior], queue=fraud, restricted=True, team="child-safety") == [
        team_senior
    ]
    assert told([senior, team_senior], queue=child_safety, restricted=True, team="") == []
    # A queue closed to seniors' role tells nobody outside it.
    spam.allowed_roles = ["associate"]
    assert told([senior, team_senior], queue=spam, restricted=False, team="") == []


def test_breached_work_is_claimed_before_on_time_work_of_the_same_severity(
    start, platform_account, analyst
):
    older = make_case(platform_account, reason="spam")
    start.shift(timedelta(hours=1))
    newer = make_case(platform_account, reason="spam")
    # The older case had its first action (say a returned escalation): only its resolution
    # deadline is pending, and that one comes before the newer case's.
    Case.objects.filter(pk=older.pk).update(first_action_at=older.created_at)
    result = sweep_at(start, newer, FIRST_DUE + timedelta(minutes=1))
    assert result.breached == {"first_action": 1, "resolve": 0}
    assert Case.objects.get(pk=newer.pk).priority == 1
    spam = Queue.objects.get(slug="spam")
    claimed = services.case_claim_next(actor=analyst, queue=spam)
    assert claimed.pk == newer.pk
    assert services.case_claim_next(actor=analyst, queue=spam).pk == older.pk


def test_the_queue_page_lists_in_claim_order_and_pages_through_priorities(
    start, platform_account, analyst, session_client_for, monkeypatch
):
    from cases import views

    cases = []
    for _ in range(4):
        cases.append(make_case(platform_account, reason="spam"))
        start.shift(timedelta(minutes=10))
    Case.objects.filter(pk__in=[cases[1].pk, cases[3].pk]).update(priority=1)
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    client = session_client_for(analyst)
    ids = []
    query = "status=new"
    while query:
        response = client.get(f"/queues/spam/?{query}")
        assert response.status_code == 200
        ids.extend(c.pk for c in response.context["cases"])
        query = response.context["next_query"]
    assert ids == [cases[1].pk, cases[3].pk, cases[0].pk, cases[2].pk]
    claimed = [
        services.case_claim_next(actor=analyst, queue=Queue.objects.get(slug="spam")).pk
        for _ in cases
    ]
    assert claimed == ids


def test_pages_show_due_soon_and_breached_without_any_sweep(
    start, platform_account, analyst, session_client_for
):
    case = make_case(platform_account, reason="spam")

    def page_at(offset: timedelta, path: str = "/queues/spam/") -> str:
        # Signed in afresh each time: sessions end after hours of (travelled) idleness.
        start.move_to(case.created_at + offset)
        response = session_client_for(analyst).get(path)
        assert response.status_code == 200
        return response.content.decode()

    body = page_at(FIRST_WARN - timedelta(minutes=1))
    assert "due soon" not in body and ">breached<" not in body
    body = page_at(FIRST_WARN)
    assert "due soon" in body and ">breached<" not in body
    assert "due soon" in page_at(FIRST_WARN, f"/cases/{case.pk}/")
    body = page_at(FIRST_DUE + timedelta(minutes=1))
    assert ">breached<" in body and "due soon" not in body
    # Nothing was stamped: the pages read the deadlines.
    case.refresh_from_db()
    assert case.first_action_warned_at is None and case.first_action_breached_at is None


def test_due_soon_follows_each_pending_deadline(start, platform_account):
    case = make_case(platform_account, reason="spam")
    created = case.created_at
    assert not case.is_due_soon(created + FIRST_WARN - timedelta(seconds=1))
    assert case.is_due_soon(created + FIRST_WARN)
    assert not case.is_due_soon(created + FIRST_DUE + timedelta(seconds=1))  # breached instead
    case.first_action_at = created + timedelta(hours=1)
    assert not case.is_due_soon(created + FIRST_WARN)
    assert case.is_due_soon(created + RESOLVE_WARN)
    case.status = Case.Status.RESOLVED
    assert not case.is_due_soon(created + RESOLVE_WARN)


def test_cases_with_a_first_action_or_resolved_are_not_marked(start, platform_account, analyst):
    acted = make_case(platform_account, reason="spam")
    resolved = make_case(platform_account, reason="spam")
    Case.objects.filter(pk=acted.pk).update(first_action_at=acted.created_at)
    Case.objects.filter(pk=resolved.pk).update(status="resolved", resolved_at=resolved.created_at)
    result = sweep_at(start, acted, RESOLVE_DUE + timedelta(minutes=1))
    assert result.breached == {"first_action": 0, "resolve": 1}
    acted.refresh_from_db()
    assert acted.first_action_breached_at is None and acted.resolve_breached_at is not None
    assert not CaseEvent.objects.filter(
        case=resolved, kind__in=[EventKind.CASE_SLA_WARNED, EventKind.CASE_SLA_BREACHED]
    ).exists()


def test_new_deadlines_after_a_severity_change_get_their_own_breach(
    start, platform_account, senior
):
    case = make_case(platform_account, reason="spam")
    sweep_at(start, case, FIRST_DUE + timedelta(minutes=1))
    case.refresh_from_db()
    assert case.priority == 1 and case.first_action_breached_at
    case = services.case_update(actor=senior, case_id=case.pk, version=case.version, severity=1)
    case.refresh_from_db()
    assert case.priority == 0
    assert case.first_action_breached_at is None and case.first_action_warned_at is None
    # P1: first action within an hour of the change.
    start.move_to(case.first_action_due + timedelta(minutes=1))
    assert sla.case_sla_sweep().breached["first_action"] == 1
    assert Case.objects.get(pk=case.pk).priority == 1
    assert len(events(case, EventKind.CASE_SLA_BREACHED)) == 2
    assert Notification.objects.filter(user=senior).count() == 2


def test_large_backlogs_are_swept_in_batches(start, platform_account, senior):
    cases = [make_case(platform_account, reason="spam") for _ in range(5)]
    start.move_to(cases[-1].created_at + FIRST_DUE + timedelta(minutes=1))
    result = sla.case_sla_sweep(batch=2)
    assert result.breached["first_action"] == 5
    assert Notification.objects.filter(user=senior).count() == 5
    assert all(c.priority == 1 for c in Case.objects.all())


def test_a_second_sweep_skips_while_one_holds_the_lock(start, platform_account):
    case = make_case(platform_account, reason="spam")
    start.move_to(case.created_at + FIRST_DUE + timedelta(minutes=1))
    holding = threading.Event()
    release = threading.Event()

    def hold_lock():
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [sla.LOCK_NAME])
                holding.set()
                release.wait(10)
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [sla.LOCK_NAME])
        finally:
            other.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    try:
        assert holding.wait(10)
        result = sla.case_sla_sweep()
    finally:
        release.set()
        thread.join()
    assert result.skipped and result.breached == {"first_action": 0, "resolve": 0}
    assert Case.objects.get(pk=case.pk).first_action_breached_at is None
    assert sla.case_sla_sweep().breached["first_action"] == 1


@pytest.mark.django_db(transaction=True)
def test_each_batch_runs_with_a_local_statement_timeout(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]
    seen = []

    def mark(cursor, deadline, now, batch, result):
        cursor.execute("SHOW statement_timeout")
        seen.append(cursor.fetchone()[0])
        return 0

    monkeypatch.setattr(sla, "_mark_warnings", mark)
    sla.case_sla_sweep()
    assert seen == [sla.STATEMENT_TIMEOUT, sla.STATEMENT_TIMEOUT]
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        # SET LOCAL: the connection's setting is untouched once the batch commits.
        assert cursor.fetchone()[0] == before


def test_the_beat_task_runs_the_sweep_every_minute(start, platform_account, senior):
    from django.conf import settings

    from cases.tasks import case_sla_sweep

    entry = settings.CELERY_BEAT_SCHEDULE["case-sla-sweep"]
    assert entry == {"task": "cases.tasks.case_sla_sweep", "schedule": 60.0}
    case = make_case(platform_account, reason="spam")
    start.move_to(case.created_at + FIRST_DUE + timedelta(minutes=1))
    result = case_sla_sweep.run()
    assert result["breached"] == {"first_action": 1, "resolve": 0}
    assert result["notifications"] == 1 and result["skipped"] is False
