"""Intake: idempotency, one open case per subject, routing, SLA stamping, recurrence, errors."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from cases.intake import report_submit, report_submit_batch
from cases.models import Case, CaseEvent, CaseLink, Identifier, Queue, Report
from cases.selectors import timeline_for
from cases.timeline import EventKind
from cases.validation import validate_report
from tests.factories import ReportPayloadFactory, SubjectPayloadFactory, routing_rule

pytestmark = pytest.mark.django_db

REPORTS_URL = "/api/v1/reports"
BULK_URL = "/api/v1/reports/bulk"


def test_a_report_opens_a_case_routed_by_its_reason(platform_account):
    result = report_submit(actor=platform_account, data=ReportPayloadFactory(reason="scam_fraud"))
    assert result.status == 201 and result.created_case
    case = Case.objects.get(pk=result.case_id)
    assert case.queue.slug == "fraud"
    assert case.severity == 1
    assert case.report_count == 1 and case.human_count == 1
    assert CaseEvent.objects.filter(case=case, kind=EventKind.CASE_CREATED).exists()
    assert case.history.filter(history_type="+").exists()
    entries = timeline_for(case)
    assert [e.kind for e in entries] == [EventKind.CASE_CREATED, EventKind.REPORT_ADDED]
    assert entries[1].data["report_id"] == result.report_id


def test_the_same_key_twice_answers_200_with_the_same_ids_and_changes_nothing(
    platform_account, api_client_for
):
    client = api_client_for(platform_account, ["reports:write"])
    payload = ReportPayloadFactory()
    first = client.post(REPORTS_URL, payload, format="json")
    assert first.status_code == 201, first.json()
    again = client.post(REPORTS_URL, payload, format="json")
    assert again.status_code == 200
    assert again.json()["report_id"] == first.json()["report_id"]
    assert again.json()["case_id"] == first.json()["case_id"]
    assert again.json()["created_case"] is False
    assert Report.objects.count() == 1
    assert Case.objects.get().report_count == 1


def test_the_same_key_twice_in_one_bulk_batch_is_stored_once(platform_account, api_client_for):
    client = api_client_for(platform_account, ["reports:write"])
    payload = ReportPayloadFactory()
    response = client.post(BULK_URL, {"reports": [payload, payload]}, format="json")
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert (first["status"], second["status"]) == (201, 200)
    assert first["report_id"] == second["report_id"]
    assert Report.objects.count() == 1
    assert Case.objects.get().report_count == 1


def test_a_report_on_a_subject_with_an_open_case_joins_it_and_can_raise_severity(
    platform_account,
):
    subject = SubjectPayloadFactory()
    first = report_submit(
        actor=platform_account, data=ReportPayloadFactory(subject=subject, reason="spam")
    )
    case = Case.objects.get(pk=first.case_id)
    assert case.severity == 3
    second = report_submit(
        actor=platform_account, data=ReportPayloadFactory(subject=subject, reason="scam_fraud")
    )
    assert second.case_id == case.pk and not second.created_case
    case.refresh_from_db()
    assert case.report_count == 2
    assert case.severity == 1
    assert case.queue.slug == "fraud"
    assert case.resolve_due <= timezone.now() + timedelta(hours=8)
    assert CaseEvent.objects.filter(case=case, kind=EventKind.CASE_SEVERITY_RAISED).exists()
    # A milder report never lowers it.
    report_submit(actor=platform_account, data=ReportPayloadFactory(subject=subject, reason="spam"))
    case.refresh_from_db()
    assert case.severity == 1 and case.report_count == 3


def test_sla_deadlines_come_from_the_queue_policy_for_the_severity(platform_account):
    with time_machine.travel("2026-03-02 10:00:00Z", tick=False):
        result = report_submit(
            actor=platform_account, data=ReportPayloadFactory(reason="violent_threat")
        )
    case = Case.objects.get(pk=result.case_id)
    assert case.severity == 0
    assert case.first_action_due.isoformat() == "2026-03-02T10:15:00+00:00"
    assert case.resolve_due.isoformat() == "2026-03-02T11:00:00+00:00"


def test_breach_is_answered_by_the_database_without_a_worker(platform_account):
    from cases.selectors import breached_q

    with time_machine.travel("2026-03-02 10:00:00Z", tick=False):
        result = report_submit(actor=platform_account, data=ReportPayloadFactory(reason="spam"))
    with time_machine.travel("2026-03-03 10:01:00Z", tick=False):
        assert Case.objects.filter(breached_q(), pk=result.case_id).exists()
    with time_machine.travel("2026-03-03 09:59:00Z", tick=False):
        assert not Case.objects.filter(breached_q(), pk=result.case_id).exists()


def test_routing_rules_choose_queue_and_severity_in_order(platform_account):
    spam = Queue.objects.get(slug="spam")
    general = Queue.objects.get(slug="general")
    routing_rule(
        position=2,
        name="confident spam detector",
        match_source="automated_flag",
        match_detector="spamnet",
        min_score=0.9,
        queue=spam,
        severity=2,
    )
    routing_rule(position=5, name="everything else", queue=general)
    confident = report_submit(
        actor=platform_account,
        data=ReportPayloadFactory(
            source="automated_flag", detector="spamnet", score=0.95, reason="other"
        ),
    )
    unsure = report_submit(
        actor=platform_account,
        data=ReportPayloadFactory(
            source="automated_flag", detector="spamnet", score=0.5, reason="scam_fraud"
        ),
    )
    confident_case = Case.objects.get(pk=confident.case_id)
    unsure_case = Case.objects.get(pk=unsure.case_id)
    assert (confident_case.queue, confident_case.severity) == (spam, 2)
    assert (unsure_case.queue, unsure_case.severity) == (general, 1)
    assert unsure_case.automated_count == 1 and unsure_case.human_count == 0


def test_a_rule_cannot_route_a_restricted_reason_out_of_its_team_queue(platform_account):
    routing_rule(position=1, name="all to general", queue=Queue.objects.get(slug="general"))
    result = report_submit(actor=platform_account, data=ReportPayloadFactory(reason="child_safety"))
    case = Case.objects.get(pk=result.case_id)
    assert case.queue.slug == "child-safety"
    assert case.restricted and case.team == "child-safety"


def test_a_report_after_resolution_opens_a_new_case_linked_as_recurrence(platform_account):
    subject = SubjectPayloadFactory()
    first = report_submit(actor=platform_account, data=ReportPayloadFactory(subject=subject))
    Case.objects.filter(pk=first.case_id).update(status="resolved", resolved_at=timezone.now())
    second = report_submit(actor=platform_account, data=ReportPayloadFactory(subject=subject))
    assert second.created_case and second.case_id != first.case_id
    assert CaseLink.objects.filter(
        from_case_id=second.case_id, to_case_id=first.case_id, kind="recurrence_of"
    ).exists()


def test_identifiers_are_stored_hashed_and_masked_never_raw(platform_account):
    payload = ReportPayloadFactory(
        identifiers=[
            {"kind": "email", "value": "Jane.Doe@Example.com"},
            {"kind": "ip", "value": "203.0.113.77"},
        ]
    )
    report_submit(actor=platform_account, data=payload)
    rows = {i.kind: i for i in Identifier.objects.all()}
    assert rows["email"].masked == "j***@e***.com"
    assert rows["ip"].masked == "203.0.*.*"
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM cases_identifier")
        dump = str(cursor.fetchall()).lower()
    assert "jane.doe" not in dump and "203.0.113.77" not in dump


def test_bad_input_gets_400_naming_the_fields_and_writes_nothing(platform_account, api_client_for):
    client = api_client_for(platform_account, ["reports:write"])
    response = client.post(REPORTS_URL, {"source": "user_report", "reason": "nope"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error["fields"]) >= {"external_id", "reason", "subject"}
    assert "spam" in error["fields"]["reason"][0] and "child_safety" in error["fields"]["reason"][0]
    assert Report.objects.count() == 0 and Case.objects.count() == 0


def test_one_bad_item_in_a_bulk_batch_gets_its_own_error(platform_account, api_client_for):
    client = api_client_for(platform_account, ["reports:write"])
    good = ReportPayloadFactory()
    bad = ReportPayloadFactory(subject={"kind": "planet", "external_id": "x"})
    response = client.post(BULK_URL, {"reports": [good, bad, "junk"]}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 400]
    assert "kind" in results[1]["errors"]["subject"]
    assert Report.objects.count() == 1


def test_more_than_1000_reports_is_413_and_nothing_is_written(platform_account, api_client_for):
    client = api_client_for(platform_account, ["reports:write"])
    reports = [ReportPayloadFactory() for _ in range(1001)]
    response = client.post(BULK_URL, {"reports": reports}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert Report.objects.count() == 0


def test_a_key_without_reports_write_is_403(platform_account, api_client_for):
    client = api_client_for(platform_account, ["cases:read"])
    response = client.post(REPORTS_URL, ReportPayloadFactory(), format="json")
    assert response.status_code == 403
    assert "reports:write" in response.json()["error"]["message"]
    assert Report.objects.count() == 0


def test_support_agents_may_not_push_reports(support_agent, api_client_for):
    client = api_client_for(support_agent, ["reports:write"])
    response = client.post(REPORTS_URL, ReportPayloadFactory(), format="json")
    assert response.status_code == 403
    assert Report.objects.count() == 0


def test_bulk_answers_a_result_per_item_in_order(platform_account):
    payloads = [ReportPayloadFactory() for _ in range(20)]
    results = report_submit_batch(actor=platform_account, items=payloads)
    assert [r.index for r in results] == list(range(20))
    ids = {r.report_id for r in results}
    assert len(ids) == 20
    for result, payload in zip(results, payloads, strict=True):
        assert Report.objects.get(pk=result.report_id).external_id == payload["external_id"]


@pytest.mark.django_db(transaction=True)
def test_50_threads_reporting_one_subject_give_one_open_case_and_50_reports(platform_account):
    subject = SubjectPayloadFactory()
    payloads = [ReportPayloadFactory(subject=subject) for _ in range(50)]
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def send(payload):
        try:
            barrier.wait()
            result = report_submit(actor=platform_account, data=payload)
            assert result.status == 201
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert Case.objects.exclude(status="resolved").count() == 1
    case = Case.objects.get()
    assert case.report_count == 50
    assert Report.objects.filter(case=case).count() == 50


@pytest.mark.parametrize(
    "received_at",
    ["2026-01-01T10:00:00", "0377-04-18T09:52:28.9-23:33", "0001-01-01T00:00:00+23:00"],
)
def test_any_iso_date_time_is_taken_in_utc_or_refused_never_a_500(received_at):
    """Naive times are UTC; an offset beyond PostgreSQL's ±15:59 is converted; one that leaves
    the calendar in UTC is invalid input."""
    now = timezone.now()
    data = {
        "source": "user_report",
        "external_id": "r-1",
        "reason": "spam",
        "subject": {"kind": "account", "external_id": "a-1"},
        "received_at": received_at,
    }
    clean, errors = validate_report(data, reasons={"spam": None}, now=now)
    if received_at.startswith("0001"):
        assert clean is None and "received_at" in errors
    else:
        assert errors is None and clean.received_at.utcoffset() == timedelta(0)
