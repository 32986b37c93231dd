"""Cases over REST: detail, edit with version, notes, list, search, and restricted visibility."""

from __future__ import annotations

import pytest

from cases.models import Case, Note
from tests.factories import ReportPayloadFactory, make_case
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def restricted_case(platform_account):
    return make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "cs-1", "text": "secret material words"},
    )


@pytest.fixture
def open_case(platform_account):
    return make_case(
        platform_account,
        reason="harassment",
        subject={
            "kind": "content",
            "external_id": "post-h",
            "owner_id": "acct-h",
            "text": "you will regret this zebra",
        },
    )


def test_case_detail_has_the_fields_and_logs_the_view(analyst, open_case, api_client_for):
    client = api_client_for(analyst, ["cases:read"])
    response = client.get(f"/api/v1/cases/{open_case.pk}")
    assert response.status_code == 200
    body = response.json()
    for field in (
        "id",
        "status",
        "severity",
        "queue",
        "subject",
        "reports",
        "version",
        "claimed_by",
        "first_action_due",
        "resolve_due",
    ):
        assert field in body
    assert body["subject"]["external_id"] == "post-h"
    assert len(body["reports"]) == 1
    assert AccessLog.objects.filter(
        actor=analyst, action="viewed", object_type="cases.case", object_id=str(open_case.pk)
    ).exists()


def test_patch_with_the_current_version_edits_and_a_stale_one_is_409(
    analyst, analyst2, open_case, api_client_for
):
    first = api_client_for(analyst, ["cases:write", "cases:read"])
    second = api_client_for(analyst2, ["cases:write", "cases:read"])
    version = open_case.version
    ok = first.patch(
        f"/api/v1/cases/{open_case.pk}",
        {"version": version, "tags": ["wave-7"], "severity": "P1"},
        format="json",
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["tags"] == ["wave-7"] and ok.json()["severity"] == "P1"
    stale = second.patch(
        f"/api/v1/cases/{open_case.pk}", {"version": version, "tags": ["other"]}, format="json"
    )
    assert stale.status_code == 409
    assert analyst.username in stale.json()["error"]["message"]
    open_case.refresh_from_db()
    assert open_case.tags == ["wave-7"]


def test_patch_with_bad_values_is_400_naming_the_field(analyst, open_case, api_client_for):
    client = api_client_for(analyst, ["cases:write"])
    response = client.patch(
        f"/api/v1/cases/{open_case.pk}", {"version": 1, "severity": "P9"}, format="json"
    )
    assert response.status_code == 400
    assert "severity" in response.json()["error"]["fields"]
    missing = client.patch(f"/api/v1/cases/{open_case.pk}", {"tags": ["x"]}, format="json")
    assert missing.status_code == 400 and "version" in missing.json()["error"]["fields"]


def test_notes_are_added_and_searchable(analyst, open_case, api_client_for):
    client = api_client_for(analyst, ["cases:write", "cases:read"])
    response = client.post(
        f"/api/v1/cases/{open_case.pk}/notes", {"body": "linked to the quokka ring"}, format="json"
    )
    assert response.status_code == 201
    assert Note.objects.get().author == analyst
    found = client.get("/api/v1/search", {"q": "quokka"}).json()["results"]
    assert [c["id"] for c in found] == [open_case.pk]
    empty = client.post(f"/api/v1/cases/{open_case.pk}/notes", {"body": ""}, format="json")
    assert empty.status_code == 400


def test_search_by_subject_owner_identifier_and_text(platform_account, analyst, api_client_for):
    case = make_case(
        platform_account,
        reason="other",
        subject={
            "kind": "content",
            "external_id": "post-s",
            "owner_id": "acct-s",
            "text": "cheap watches here",
        },
        identifiers=[{"kind": "email", "value": "seller@example.com"}],
    )
    client = api_client_for(analyst, ["cases:read"])
    for q in ("post-s", "acct-s", "seller@example.com", "watches", str(case.pk)):
        results = client.get("/api/v1/search", {"q": q}).json()["results"]
        assert [c["id"] for c in results] == [case.pk], q


def test_list_filters_and_cursor_pagination(platform_account, analyst, api_client_for):
    for _ in range(3):
        make_case(platform_account, reason="spam")
    make_case(platform_account, reason="scam_fraud")
    client = api_client_for(analyst, ["cases:read"])
    page = client.get("/api/v1/cases", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    fraud = client.get("/api/v1/cases", {"queue": "fraud"}).json()["results"]
    assert len(fraud) == 1 and fraud[0]["severity"] == "P1"
    assert client.get("/api/v1/cases", {"severity": "P7"}).status_code == 400


def test_a_restricted_case_is_invisible_to_an_analyst_everywhere(
    analyst, restricted_case, api_client_for
):
    client = api_client_for(analyst, ["cases:read", "cases:write"])
    assert client.get(f"/api/v1/cases/{restricted_case.pk}").status_code == 404
    ids = [c["id"] for c in client.get("/api/v1/cases").json()["results"]]
    assert restricted_case.pk not in ids
    queues = {q["slug"]: q for q in client.get("/api/v1/queues").json()}
    assert "child-safety" not in queues
    assert sum(q["open"] for q in queues.values()) == 0
    for q in ("cs-1", "secret", str(restricted_case.pk)):
        assert client.get("/api/v1/search", {"q": q}).json()["results"] == []
    assert client.post("/api/v1/queues/child-safety/claim").status_code == 404
    assert (
        client.patch(
            f"/api/v1/cases/{restricted_case.pk}", {"version": 1, "tags": ["x"]}, format="json"
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/cases/{restricted_case.pk}/notes", {"body": "x"}, format="json"
        ).status_code
        == 404
    )


def test_a_restricted_case_is_visible_to_its_team(specialist, restricted_case, api_client_for):
    client = api_client_for(specialist, ["cases:read", "cases:write"])
    assert client.get(f"/api/v1/cases/{restricted_case.pk}").status_code == 200
    queues = {q["slug"]: q for q in client.get("/api/v1/queues").json()}
    assert queues["child-safety"]["open"] == 1
    assert [c["id"] for c in client.get("/api/v1/search", {"q": "secret"}).json()["results"]] == [
        restricted_case.pk
    ]
    claimed = client.post("/api/v1/queues/child-safety/claim")
    assert claimed.status_code == 200 and claimed.json()["id"] == restricted_case.pk
    assert specialist.has_perm("cases.view_case", Case.objects.get(pk=restricted_case.pk))


def test_a_child_safety_report_joining_an_open_case_restricts_it(
    platform_account, analyst, specialist, api_client_for
):
    subject = {"kind": "content", "external_id": "post-j", "owner_id": "acct-j"}
    case = make_case(platform_account, reason="spam", subject=subject)
    client = api_client_for(analyst, ["cases:read", "cases:write"])
    assert client.post("/api/v1/queues/spam/claim").json()["id"] == case.pk
    make_case(platform_account, **ReportPayloadFactory(reason="child_safety", subject=subject))
    case.refresh_from_db()
    assert case.restricted and case.team == "child-safety" and case.queue.slug == "child-safety"
    assert case.claimed_by is None and case.status == "new"
    assert client.get(f"/api/v1/cases/{case.pk}").status_code == 404
    assert (
        api_client_for(specialist, ["cases:read"]).get(f"/api/v1/cases/{case.pk}").status_code
        == 200
    )


def test_an_outsider_sees_nothing(outsider, open_case, api_client_for):
    client = api_client_for(outsider, ["cases:read"])
    assert client.get("/api/v1/cases").status_code == 403
    assert client.get(f"/api/v1/cases/{open_case.pk}").status_code == 403
