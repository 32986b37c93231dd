"""GET /api/v1/metrics/kpis: scope, role, filter validation and the answer's shape."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from cases.models import Queue, ReportReason
from metrics import rollups
from metrics.kpis import REGISTRY, kpi_report
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.django_db

URL = reverse("api:metrics-kpis")


def test_a_key_without_the_metrics_scope_is_refused(senior, api_client_for):
    client = api_client_for(senior, scopes=("cases:read",))
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "metrics:read" in response.json()["error"]["message"]


@pytest.mark.parametrize("actor", ["associate", "analyst", "support_agent", "specialist"])
def test_members_who_are_not_leads_are_refused_even_with_the_scope(request, actor, api_client_for):
    user = request.getfixturevalue(actor)
    response = api_client_for(user, scopes=("metrics:read",)).get(URL)
    assert response.status_code == 403


def test_anonymous_callers_are_refused(client):
    assert client.get(URL).status_code in (401, 403)


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2025-02-30"}, "from"),
        ({"from": "not-a-date"}, "from"),
        ({"severity": "7"}, "severity"),
        ({"severity": "high"}, "severity"),
        ({"reason": "nonsense"}, "reason"),
    ],
)
def test_bad_filters_answer_400_with_the_field_in_error(senior, api_client_for, query, field):
    response = api_client_for(senior, scopes=("metrics:read",)).get(URL, query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert error["fields"][field] and all(isinstance(m, str) for m in error["fields"][field])


@pytest.mark.parametrize(
    "query, message",
    [
        ({"to": "2999-01-01"}, "The period cannot end after today."),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "The period must start on or before"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "Choose a period of at most 366 days."),
    ],
)
def test_a_period_the_schema_cannot_refuse_is_no_such_period(
    senior, api_client_for, query, message
):
    """Rules between the two days are not in the schema (it cannot relate two parameters):
    such a period names no report, answered 404 as the operation's description says."""
    response = api_client_for(senior, scopes=("metrics:read",)).get(URL, query)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and error["message"].startswith(message)


def test_a_bad_parameter_beside_a_bad_period_is_400(senior, api_client_for):
    query = {"from": "2025-03-10", "to": "2025-03-01", "severity": "7"}
    response = api_client_for(senior, scopes=("metrics:read",)).get(URL, query)
    assert response.status_code == 400
    assert "severity" in response.json()["error"]["fields"]


def test_a_restricted_queue_is_an_unknown_queue_for_an_outsider(senior, api_client_for):
    """The schema names every queue; one the caller may not work is not found, as one that
    does not exist."""
    response = api_client_for(senior, scopes=("metrics:read",)).get(URL, {"queue": "child-safety"})
    assert response.status_code == 404
    no_such = api_client_for(senior, scopes=("metrics:read",)).get(URL, {"queue": "nope"})
    assert no_such.status_code == 404
    assert response.json()["error"] == no_such.json()["error"]


def test_the_schema_names_the_queues_and_reasons_the_filters_take(senior, api_client_for):
    schema = api_client_for(senior, scopes=("metrics:read",)).get("/api/schema/?format=json")
    parameters = schema.json()["paths"]["/api/v1/metrics/kpis"]["get"]["parameters"]
    enums = {p["name"]: p["schema"].get("enum") for p in parameters}
    assert "child-safety" in enums["queue"]
    assert sorted(enums["queue"]) == sorted(
        Queue.objects.filter(active=True, kind=Queue.Kind.CASES).values_list("slug", flat=True)
    )
    assert sorted(enums["reason"]) == sorted(ReportReason.objects.values_list("code", flat=True))


def test_the_team_may_filter_on_its_restricted_queue(api_client_for):
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))
    response = api_client_for(team_senior, scopes=("metrics:read",)).get(
        URL, {"queue": "child-safety"}
    )
    assert response.status_code == 200
    assert response.json()["filters"]["queue"] == "child-safety"


# --- The answer, from the rollups of the fixed data set (tests/metrics/conftest.py) ------------


@pytest.fixture
def rolled_up(dataset):
    rollups.rebuild_range(date(2026, 3, 1), date(2026, 3, 3))
    return dataset


def test_the_answer_has_every_kpi_with_its_version_series_and_breakdown(
    rolled_up, senior, api_client_for
):
    response = api_client_for(senior, scopes=("metrics:read",)).get(
        URL, {"from": "2026-03-01", "to": "2026-03-03", "severity": "3"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-03")
    assert body["filters"] == {"queue": None, "severity": 3, "reason": None}
    assert list(body["kpis"]) == list(REGISTRY)
    report = kpi_report(
        actor=senior, date_from=date(2026, 3, 1), date_to=date(2026, 3, 3), severity=3
    )
    for key, kpi in REGISTRY.items():
        entry = body["kpis"][key]
        assert set(entry) == {
            "name",
            "group",
            "version",
            "unit",
            "value",
            "interval",
            "n",
            "as_of",
            "series",
            "breakdown",
        }
        assert (entry["name"], entry["group"], entry["version"]) == (
            kpi.name,
            kpi.group,
            kpi.version,
        )
        assert [p["date"] for p in entry["series"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
        assert entry["value"] == report["kpis"][key]["value"]
        assert entry["breakdown"] == report["kpis"][key]["breakdown"]
    assert body["kpis"]["qa_pass_rate"]["interval"] is not None


def test_the_queue_filter_narrows_the_answer(rolled_up, senior, api_client_for):
    client = api_client_for(senior, scopes=("metrics:read",))
    everything = client.get(URL, {"from": "2026-03-01", "to": "2026-03-03"}).json()
    fraud = client.get(URL, {"from": "2026-03-01", "to": "2026-03-03", "queue": "fraud"}).json()

    assert fraud["filters"]["queue"] == "fraud"
    assert fraud["kpis"]["cases_created"]["value"] == 1  # E, the scam
    assert everything["kpis"]["cases_created"]["value"] > 1


def test_restricted_work_counts_only_for_its_team(rolled_up, senior, api_client_for):
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))
    query = {"from": "2026-03-01", "to": "2026-03-03"}

    outsider = api_client_for(senior, scopes=("metrics:read",)).get(URL, query).json()
    team = api_client_for(team_senior, scopes=("metrics:read",)).get(URL, query).json()
    child = api_client_for(team_senior, scopes=("metrics:read",)).get(
        URL, {**query, "queue": "child-safety"}
    )

    created = "cases_created"
    assert team["kpis"][created]["value"] == outsider["kpis"][created]["value"] + 1
    assert child.status_code == 200 and child.json()["kpis"][created]["value"] == 1


def test_the_schema_documents_the_endpoint(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/metrics/kpis"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "from",
        "to",
        "queue",
        "severity",
        "reason",
    }
    assert "KpiReport" in schema["components"]["schemas"]


def test_a_backlog_figure_keeps_the_day_its_snapshot_was_taken(dataset, senior, api_client_for):
    # Rolled up to 2 March only: the backlog figure for a period ending on 3 March is 2 March's.
    rollups.rebuild_range(date(2026, 3, 1), date(2026, 3, 2))
    query = {"from": "2026-03-01", "to": "2026-03-03"}
    body = api_client_for(senior, scopes=("metrics:read",)).get(URL, query).json()
    report = kpi_report(actor=senior, date_from=date(2026, 3, 1), date_to=date(2026, 3, 3))
    assert report["kpis"]["backlog_open"]["as_of"] == "2026-03-02"
    assert body["kpis"]["backlog_open"]["as_of"] == "2026-03-02"
    assert body["kpis"]["backlog_open"]["value"] == report["kpis"]["backlog_open"]["value"]
    # Figures over the period have no snapshot day.
    assert body["kpis"]["cases_created"]["as_of"] is None
