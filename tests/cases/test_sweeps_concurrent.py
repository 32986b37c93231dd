"""Every clock-driven sweep run twice at the same moment, on two real connections, does its
work exactly once: no double timeline events, outbox events, alerts or notifications."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from cases import services as case_services
from cases import sla
from cases.intake import report_submit_batch
from cases.models import Case, CaseEvent, Queue
from cases.timeline import EventKind
from enforcement import services as enforcement_services
from enforcement.models import EnforcementAction, OutboxEvent
from escalations import alerts as escalation_alerts
from escalations import services as escalation_services
from escalations.models import Escalation, EscalationAlert, Team
from tests.conftest import make_member
from tests.factories import ReportPayloadFactory
from tsops import roles
from tsops.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)

CASES = 40


def run_together(work, *, threads: int = 2) -> list:
    """Run ``work()`` in ``threads`` threads released at the same instant, each on its own
    database connection; return their results (re-raising any error)."""
    barrier = threading.Barrier(threads)
    results: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            value = work()
            with lock:
                results.append(value)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert not errors, errors
    assert len(results) == threads
    return results


def spam_cases(platform_account, count: int = CASES) -> list[Case]:
    report_submit_batch(
        actor=platform_account,
        items=[ReportPayloadFactory(reason="spam") for _ in range(count)],
    )
    return list(Case.objects.order_by("id"))


def test_two_sla_sweeps_racing_without_the_lock_still_mark_each_deadline_once(
    platform_account, monkeypatch
):
    """The conditional updates alone make the work exactly-once: the advisory lock is taken
    out of the way here so that both sweeps really compete for the same rows."""
    senior = make_member("grace_senior", roles.SENIOR)
    cases = spam_cases(platform_account)

    def without_lock(cursor) -> bool:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [sla.STATEMENT_TIMEOUT])
        return True

    monkeypatch.setattr(sla, "_begin_batch", without_lock)
    # Past both deadlines: every case has a first-action and a resolution breach to mark.
    with time_machine.travel(cases[-1].resolve_due + timedelta(minutes=1), tick=False):
        results = run_together(lambda: sla.case_sla_sweep(batch=3), threads=4)
    breached = Counter()
    for result in results:
        assert not result.skipped
        breached.update(result.breached)
    assert breached == {"first_action": CASES, "resolve": CASES}
    kinds = Counter(
        (e.case_id, e.data["deadline"])
        for e in CaseEvent.objects.filter(kind=EventKind.CASE_SLA_BREACHED)
    )
    assert len(kinds) == 2 * CASES and set(kinds.values()) == {1}
    assert set(Case.objects.values_list("priority", flat=True)) == {2}
    notes = Counter(
        Notification.objects.filter(user=senior, kind=sla.NOTIFICATION_KIND).values_list(
            "link", flat=True
        )
    )
    assert len(notes) == CASES and set(notes.values()) == {2}
    assert sum(r.notifications for r in results) == 2 * CASES


def test_two_sla_sweeps_with_the_lock_share_the_work_and_never_double_it(platform_account):
    senior = make_member("grace_senior", roles.SENIOR)
    cases = spam_cases(platform_account)
    # Past 80% of the first-action deadline for every case: warnings, no breach yet.
    warn_at = cases[-1].created_at + timedelta(hours=20)
    with time_machine.travel(warn_at, tick=False):
        results = run_together(lambda: sla.case_sla_sweep(batch=5))
        assert sum(r.warned["first_action"] for r in results) == CASES
        assert sla.case_sla_sweep().warned["first_action"] == 0
    assert CaseEvent.objects.filter(kind=EventKind.CASE_SLA_WARNED).count() == CASES
    assert Case.objects.filter(first_action_warned_at__isnull=True).count() == 0
    with time_machine.travel(cases[-1].first_action_due + timedelta(minutes=1), tick=False):
        results = run_together(lambda: sla.case_sla_sweep(batch=5))
        # A sweep that found the other one holding the lock stops; a later run finishes.
        sla.case_sla_sweep()
    assert CaseEvent.objects.filter(kind=EventKind.CASE_SLA_BREACHED).count() == CASES
    assert Notification.objects.filter(user=senior).count() == CASES
    assert set(Case.objects.values_list("priority", flat=True)) == {1}


def test_two_lease_expiries_return_each_case_once(platform_account):
    analyst = make_member("noor_analyst", roles.ANALYST)
    spam_cases(platform_account)
    queue = Queue.objects.get(slug="spam")
    while case_services.case_claim_next(actor=analyst, queue=queue):
        pass
    assert Case.objects.filter(status="in_review").count() == CASES
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        returned = run_together(case_services.case_expire_leases, threads=4)
    assert sum(returned) == CASES
    assert Case.objects.filter(status="new", claimed_by__isnull=True).count() == CASES
    expired = Counter(
        CaseEvent.objects.filter(kind=EventKind.CASE_LEASE_EXPIRED).values_list(
            "case_id", flat=True
        )
    )
    assert len(expired) == CASES and set(expired.values()) == {1}


def test_two_action_expiries_expire_each_action_once_with_one_event(platform_account):
    analyst = make_member("noor_analyst", roles.ANALYST)
    spam_cases(platform_account, count=20)
    queue = Queue.objects.get(slug="spam")
    while case := case_services.case_claim_next(actor=analyst, queue=queue):
        enforcement_services.decision_make(
            actor=analyst,
            case_id=case.pk,
            version=case.version,
            outcome="violation",
            policy_section="SPAM-1.1",
            rationale="Same link posted 40 times in an hour.",
            actions=[{"type": "suspend", "duration_hours": 24}],
        )
    assert EnforcementAction.objects.filter(status="active").count() == 20
    later = timezone.now() + timedelta(hours=25)
    expired = run_together(
        lambda: enforcement_services.actions_expire_due(now=later, limit=3), threads=4
    )
    # Each run handles one batch; the rest is left for the next minute's runs.
    while enforcement_services.actions_expire_due(now=later, limit=3):
        pass
    assert sum(expired) <= 12
    assert EnforcementAction.objects.filter(status="expired").count() == 20
    events = Counter(
        OutboxEvent.objects.filter(event_type="action.expired").values_list(
            "payload__action_id", flat=True
        )
    )
    assert len(events) == 20 and set(events.values()) == {1}
    timeline_events = Counter(
        CaseEvent.objects.filter(kind="ACTION_EXPIRED").values_list("data__action_id", flat=True)
    )
    assert len(timeline_events) == 20 and set(timeline_events.values()) == {1}


def _overdue_escalations(platform_account, count: int) -> tuple[list[Escalation], object]:
    analyst = make_member("noor_analyst", roles.ANALYST)
    on_call = make_member("tomas_threats", None, ("threats",))
    Team.objects.filter(slug="threats").update(on_call=on_call)
    report_submit_batch(
        actor=platform_account,
        items=[ReportPayloadFactory(reason="harassment") for _ in range(count)],
    )
    escalations = [
        escalation_services.escalation_raise(
            actor=analyst,
            case_id=case_id,
            team="threats",
            severity="P2",
            summary="Specific place and time named.",
            criteria="Credible threat: target, place, time.",
        )
        for case_id in Case.objects.order_by("id").values_list("id", flat=True)
    ]
    return escalations, on_call


def test_two_overdue_alert_runs_page_once_per_escalation(platform_account):
    escalations, on_call = _overdue_escalations(platform_account, 10)
    later = max(e.ack_due for e in escalations) + timedelta(minutes=1)
    sent = run_together(lambda: escalation_alerts.alerts_send_overdue(now=later), threads=4)
    assert sum(sent) == 10
    alerts = Counter(
        EscalationAlert.objects.filter(kind="overdue").values_list("escalation_id", flat=True)
    )
    assert len(alerts) == 10 and set(alerts.values()) == {1}
    assert Notification.objects.filter(user=on_call, kind="escalation_overdue").count() == 10
    outbox = Counter(
        OutboxEvent.objects.filter(
            event_type="escalation.alert", payload__kind="overdue"
        ).values_list("payload__escalation_id", flat=True)
    )
    assert len(outbox) == 10 and set(outbox.values()) == {1}


def test_an_escalation_acknowledged_while_the_alert_run_reads_it_is_not_paged(platform_account):
    """The run lists the escalation as open; the acknowledgement commits before its alert is
    written: the alert must not go out for an escalation that is no longer overdue."""
    (escalation,), on_call = _overdue_escalations(platform_account, 1)
    later = escalation.ack_due + timedelta(minutes=1)
    locked = threading.Event()
    sweep_started = threading.Event()
    sent: list[int] = []

    def acknowledge():
        from django.db import transaction

        try:
            with transaction.atomic():
                escalation_services.escalation_acknowledge(
                    actor=on_call, escalation_id=escalation.pk
                )
                locked.set()
                sweep_started.wait(10)
                # Let the run read the escalation as still open, then commit.
                threading.Event().wait(0.5)
        finally:
            connection.close()

    def sweep():
        try:
            assert locked.wait(10)
            sweep_started.set()
            sent.append(escalation_alerts.alerts_send_overdue(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=acknowledge), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert Escalation.objects.get(pk=escalation.pk).status == "acknowledged"
    assert sent == [0]
    assert not EscalationAlert.objects.filter(kind="overdue").exists()
    assert not Notification.objects.filter(kind="escalation_overdue").exists()
