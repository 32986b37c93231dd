"""The claim over the API: what one request reads and writes, and that what it keeps about the
member (groups, role, teams, worked queues: memoised on the request's user) never outlives
the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case, CaseEvent, CaseLink, Queue
from cases.services import CLAIM_STATEMENTS
from cases.timeline import EventKind
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db


def test_one_claim_writes_its_event_history_and_access_log_in_one_statement(
    platform_account, analyst, api_client_for
):
    case = make_case(platform_account, reason="other")
    client = api_client_for(analyst, ["cases:write"])
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/queues/general/claim", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200 and response.json()["id"] == case.pk
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    claim = [sql for sql in writes if "EXECUTE case_claim_claim(" in sql]
    # Lease expiry, then the claim, in one query string: the timeline entry, history row and
    # access-log entry are CTEs of the claim statement, not statements of their own.
    assert len(claim) == 1
    (statement,) = [s for s in CLAIM_STATEMENTS if s.name == "case_claim_claim"]
    assert "FOR UPDATE OF t SKIP LOCKED" in statement.prepare_sql
    for table in ("cases_caseevent", "cases_historicalcase", "tsops_accesslog"):
        assert f"INSERT INTO {table}" in statement.prepare_sql
    assert not [sql for sql in writes if sql.startswith(("INSERT", 'INSERT INTO "'))]
    event = CaseEvent.objects.get(case=case, kind=EventKind.CASE_CLAIMED)
    assert event.actor == analyst and event.data == {"queue": "general"}
    history = case.history.order_by("-history_id").first()
    assert history.history_change_reason == "claimed" and history.history_user == analyst
    assert history.status == "in_review" and history.claimed_by_id == analyst.pk
    log = AccessLog.objects.get(action="viewed", object_type="cases.case", object_id=str(case.pk))
    assert log.actor == analyst and log.actor_username == analyst.username
    # The event is dated as the statement runs (never before the case's previous event).
    assert log.ip_address == "203.0.113.9" and log.at <= event.at <= log.at + timedelta(seconds=1)


def _statements(queries) -> list[str]:
    """What a request ran, without the test transaction's savepoints."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


def test_the_claim_answers_the_case_with_few_queries(platform_account, analyst, api_client_for):
    first = make_case(platform_account, reason="other")
    second = make_case(platform_account, reason="other")
    linked = make_case(platform_account, reason="spam")
    client = api_client_for(analyst, ["cases:write"])
    assert client.post("/api/v1/queues/general/claim").json()["id"] == first.pk
    # The key with the member's groups, the queue with what the claim guards read, and one
    # round trip for the lease expiry and the claim: no BEGIN, no COMMIT, nothing read after.
    with CaptureQueriesContext(connection) as queries:
        body = client.post("/api/v1/queues/general/claim").json()
    assert len(_statements(queries)) == 3, "\n\n".join(_statements(queries))
    # The expiry and the claim, prepared once per connection and executed together.
    assert "EXECUTE case_claim_expire(" in _statements(queries)[-1]
    assert "EXECUTE case_claim_claim(" in _statements(queries)[-1]
    assert body["id"] == second.pk and body["claimed_by"] == analyst.username
    assert body["subject"]["external_id"] == second.subject.external_id
    # Lean: the reports and links are the case endpoint's.
    assert "reports" not in body and "links" not in body
    claimed = Case.objects.get(pk=second.pk)
    assert body["version"] == claimed.version and body["status"] == "in_review"
    # A linked case costs the claim nothing more.
    CaseLink.objects.create(from_case=linked, to_case=claimed, kind=CaseLink.Kind.RELATED)
    Case.objects.filter(pk=second.pk).update(status="new", claimed_by=None)
    with CaptureQueriesContext(connection) as queries:
        body = client.post("/api/v1/queues/general/claim").json()
    assert len(_statements(queries)) == 3 and body["id"] == second.pk


def test_the_claimed_case_answers_like_the_case_endpoint(platform_account, analyst, api_client_for):
    """The case built from the claim statement's answer serializes as the case read back
    (which adds the reports and links)."""
    make_case(platform_account, reason="other")
    client = api_client_for(analyst, ["cases:write", "cases:read"])
    claimed = client.post("/api/v1/queues/general/claim").json()
    read = client.get(f"/api/v1/cases/{claimed['id']}").json()
    assert set(read) - set(claimed) == {"reports", "links"}
    assert claimed["subject"] == read["subject"]
    assert {k: v for k, v in claimed.items() if k != "breached"} == {
        k: read[k] for k in claimed if k != "breached"
    }


def test_a_member_removed_from_a_team_loses_its_queue_on_the_next_request(
    platform_account, api_client_for
):
    member = make_member("rita_member", None, ("child-safety", "threats"))
    client = api_client_for(member, ["cases:write", "cases:read"])
    assert "child-safety" in [q["slug"] for q in client.get("/api/v1/queues").json()]
    assert client.post("/api/v1/queues/child-safety/claim").status_code in (200, 204)
    make_member("rita_member", None, ("threats",))
    assert "child-safety" not in [q["slug"] for q in client.get("/api/v1/queues").json()]
    assert client.post("/api/v1/queues/child-safety/claim").status_code == 404


def test_a_role_change_applies_on_the_next_request(platform_account, api_client_for):
    """An analyst works the fraud queue; made an associate, the next request may not."""
    make_case(platform_account, reason="other")
    member = make_member("ravi_member", roles.ANALYST)
    client = api_client_for(member, ["cases:write", "cases:read"])
    assert client.post("/api/v1/queues/fraud/claim").status_code in (200, 204)
    make_member("ravi_member", roles.ASSOCIATE)
    assert client.post("/api/v1/queues/fraud/claim").status_code == 404
    assert client.post("/api/v1/queues/general/claim").status_code == 200
    # No role at all: every request is refused from then on.
    make_member("ravi_member", None)
    assert client.post("/api/v1/queues/general/claim").status_code == 403


def test_a_capability_change_applies_on_the_next_request(platform_account, api_client_for):
    """A queue's roles changed: its cases leave the member's lists on their next request."""
    case = make_case(platform_account, reason="other")
    member = make_member("rosa_member", roles.ASSOCIATE)
    client = api_client_for(member, ["cases:write", "cases:read"])

    def listed() -> list[int]:
        return [c["id"] for c in client.get("/api/v1/cases").json()["results"]]

    assert case.pk in listed()
    queue = Queue.objects.get(slug="general")
    queue.allowed_roles = [roles.ANALYST, roles.SENIOR]
    queue.save()
    assert case.pk not in listed()
    assert client.post("/api/v1/queues/general/claim").status_code == 404
    queue.allowed_roles = [roles.ASSOCIATE, roles.ANALYST, roles.SENIOR]
    queue.save()
    assert case.pk in listed()


def test_the_cache_keeps_one_redis_client_per_pool():
    """Django builds a redis.Redis for every cache operation (three per API request, for the
    throttles); the cache keeps one, which still answers."""
    from django.core.cache import cache

    client = cache._cache.get_client()
    assert client is cache._cache.get_client(write=True)
    cache.set("claim-request-test", 1, 5)
    assert cache.get("claim-request-test") == 1


def test_a_claim_never_dates_its_event_before_the_cases_latest_event(platform_account, analyst):
    """A lease another claimer expired after this claimer read its clock is on the timeline
    with a later time than that clock: the claim must still follow it (the claim storm reads
    the timeline in time order to prove no claim landed over a live one)."""
    from django.utils import timezone

    from cases.services import case_claim_next

    case = make_case(platform_account, reason="other")
    later = timezone.now() + timedelta(seconds=5)
    CaseEvent.objects.create(case=case, kind=EventKind.CASE_LEASE_EXPIRED, at=later, data={})
    claimed = case_claim_next(actor=analyst, queue=Queue.objects.get(slug="general"))
    assert claimed.pk == case.pk
    event = CaseEvent.objects.get(case=case, kind=EventKind.CASE_CLAIMED)
    assert event.at >= later
    kinds = list(
        CaseEvent.objects.filter(case=case)
        .exclude(kind=EventKind.CASE_CREATED)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )
    assert kinds[-2:] == [EventKind.CASE_LEASE_EXPIRED, EventKind.CASE_CLAIMED]


def test_the_claims_queue_read_loads_what_select_related_loads():
    """The queue of a claim is read by one statement built once (tsops.models.row_with_related):
    the same fields and relations as the ORM's select_related, a missing one-to-one absent."""
    from cases.selectors import queue_get_for
    from workspace.models import ExposurePolicy

    senior = make_member("queue_reader", roles.SENIOR)
    related = ("exposure_policy",)
    graphic = Queue.objects.get(slug="self-harm")
    ExposurePolicy.objects.create(queue=graphic, graphic=True, daily_budget_minutes=45)
    for slug in ("general", "self-harm"):
        with CaptureQueriesContext(connection) as queries:
            queue = queue_get_for(actor=senior, slug=slug, kind=None, related=related)
            sla, exposure = queue.sla_policy, getattr(queue, "exposure_policy", None)
        assert len([q for q in queries if "cases_queue" in q["sql"]]) == 1
        orm = Queue.objects.select_related("sla_policy", *related).get(slug=slug)
        fields = [f.attname for f in Queue._meta.concrete_fields]
        assert [getattr(queue, f) for f in fields] == [getattr(orm, f) for f in fields]
        assert sla == orm.sla_policy and sla.name == orm.sla_policy.name
        if slug == "general":
            assert exposure is None
        else:
            assert exposure.daily_budget_minutes == 45 and exposure == orm.exposure_policy
    Queue.objects.filter(slug="general").update(active=False)
    with pytest.raises(Exception, match="No such queue"):
        queue_get_for(actor=senior, slug="general", kind=None)


def test_a_lapsed_lease_goes_back_with_its_event_and_history_in_the_claims_round_trip(
    platform_account, analyst, api_client_for
):
    """The queue's lease expiry runs in the claim's own query string: the lapsed case is
    handed out again, with its expiry event and history row, and nothing else is read."""
    from cases.services import case_claim_next

    holder = make_member("lease_holder", roles.ANALYST)
    lapsed = make_case(platform_account, reason="other")
    case_claim_next(actor=holder, queue=Queue.objects.get(slug="general"))
    Case.objects.filter(pk=lapsed.pk).update(
        lease_expires_at=Case.objects.get(pk=lapsed.pk).claimed_at - timedelta(minutes=1)
    )
    client = api_client_for(analyst, ["cases:write", "cases:read"])
    client.get("/api/v1/queues")  # the key's first use stamps it
    with CaptureQueriesContext(connection) as queries:
        body = client.post("/api/v1/queues/general/claim").json()
    assert len(_statements(queries)) == 3
    assert body["id"] == lapsed.pk and body["claimed_by"] == analyst.username
    kinds = list(
        CaseEvent.objects.filter(case=lapsed).order_by("at", "id").values_list("kind", "data")
    )
    assert [k for k, _ in kinds][-2:] == [EventKind.CASE_LEASE_EXPIRED, EventKind.CASE_CLAIMED]
    assert kinds[-2][1] == {"user_id": holder.pk}
    reasons = list(
        Case.history.filter(id=lapsed.pk)
        .order_by("history_date", "history_id")
        .values_list("history_change_reason", "history_user_id", "claimed_by_id")
    )
    expired, claimed = reasons[-2:]
    assert expired == ("claim lease expired", None, None)
    assert claimed == ("claimed", analyst.pk, analyst.pk)
