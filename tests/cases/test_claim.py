"""Claiming: one statement, no case handed out twice, leases, release and skip."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from cases import services
from cases.intake import report_submit_batch
from cases.models import Case, CaseEvent, Queue
from cases.timeline import EventKind
from tests.factories import ReportPayloadFactory, make_case

pytestmark = pytest.mark.django_db


def test_next_case_claims_the_most_urgent_case(platform_account, analyst):
    low = make_case(platform_account, reason="other")
    urgent = make_case(platform_account, reason="other")
    Case.objects.filter(pk=urgent.pk).update(severity=0)
    queue = Queue.objects.get(slug="general")
    claimed = services.case_claim_next(actor=analyst, queue=queue)
    assert claimed.pk == urgent.pk
    assert claimed.status == "in_review" and claimed.claimed_by == analyst
    assert claimed.claimed_at is not None and claimed.lease_expires_at > timezone.now()
    assert CaseEvent.objects.filter(
        case=claimed, kind=EventKind.CASE_CLAIMED, actor=analyst
    ).exists()
    second = services.case_claim_next(actor=analyst, queue=queue)
    assert second.pk == low.pk
    assert services.case_claim_next(actor=analyst, queue=queue) is None


def test_an_associate_cannot_claim_from_a_queue_closed_to_associates(platform_account, associate):
    make_case(platform_account, reason="scam_fraud")
    with pytest.raises(PermissionDenied):
        services.case_claim_next(actor=associate, queue=Queue.objects.get(slug="fraud"))
    assert Case.objects.get().status == "new"


def test_an_expired_lease_returns_the_case_to_the_queue(platform_account, analyst, analyst2):
    case = make_case(platform_account, reason="other")
    queue = Queue.objects.get(slug="general")
    services.case_claim_next(actor=analyst, queue=queue)
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert services.case_expire_leases() == 1
        case.refresh_from_db()
        assert case.status == "new" and case.claimed_by is None
        assert CaseEvent.objects.filter(case=case, kind=EventKind.CASE_LEASE_EXPIRED).exists()
        again = services.case_claim_next(actor=analyst2, queue=queue)
        assert again.pk == case.pk and again.claimed_by == analyst2


def test_release_returns_the_case_and_skip_keeps_it_from_the_skipper(
    platform_account, analyst, analyst2
):
    case = make_case(platform_account, reason="other")
    queue = Queue.objects.get(slug="general")
    services.case_claim_next(actor=analyst, queue=queue)
    services.case_release(actor=analyst, case_id=case.pk, skip=True, reason="conflict of interest")
    case.refresh_from_db()
    assert case.status == "new" and case.claimed_by is None
    assert services.case_claim_next(actor=analyst, queue=queue) is None
    assert services.case_claim_next(actor=analyst2, queue=queue).pk == case.pk


def test_only_the_claimant_or_an_analyst_may_release(platform_account, analyst, associate):
    case = make_case(platform_account, reason="other")
    services.case_claim_next(actor=analyst, queue=Queue.objects.get(slug="general"))
    with pytest.raises(PermissionDenied):
        services.case_release(actor=associate, case_id=case.pk)
    assert Case.objects.get(pk=case.pk).claimed_by == analyst


@pytest.mark.django_db(transaction=True)
def test_32_threads_claiming_500_cases_never_get_the_same_case_twice(platform_account):
    from tests.conftest import make_member

    report_submit_batch(
        actor=platform_account,
        items=[ReportPayloadFactory(reason="other") for _ in range(500)],
    )
    queue = Queue.objects.get(slug="general")
    claimers = [make_member(f"claimer{i}", "analyst") for i in range(32)]
    claimed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(32)

    def work(user):
        try:
            barrier.wait()
            while True:
                case = services.case_claim_next(actor=user, queue=queue)
                if case is None:
                    return
                with lock:
                    claimed.append(case.pk)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in claimers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(claimed) == 500
    assert len(set(claimed)) == 500
    assert Case.objects.filter(status="in_review").count() == 500
    assert CaseEvent.objects.filter(kind=EventKind.CASE_CLAIMED).count() == 500


def test_claim_api_answers_200_with_the_case_then_204(platform_account, analyst, api_client_for):
    make_case(platform_account, reason="other")
    client = api_client_for(analyst, ["cases:write", "cases:read"])
    response = client.post("/api/v1/queues/general/claim")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "in_review" and body["claimed_by"] == analyst.username
    assert body["queue"] == "general" and body["severity"] == "P3"
    assert client.post("/api/v1/queues/general/claim").status_code == 204
    release = client.post(f"/api/v1/cases/{body['id']}/release", {}, format="json")
    assert release.status_code == 200 and release.json()["status"] == "new"


def test_claim_api_needs_cases_write(platform_account, analyst, api_client_for):
    make_case(platform_account, reason="other")
    client = api_client_for(analyst, ["cases:read"])
    assert client.post("/api/v1/queues/general/claim").status_code == 403
    assert Case.objects.get().status == "new"
