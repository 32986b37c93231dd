"""The metrics pages: who may open them, the filters, live operations, CSV downloads."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest
from django.urls import reverse
from django.utils.html import escape

from cases import services as case_services
from cases.models import Queue, SLAPolicy
from enforcement import services as enforcement
from metrics import rollups
from metrics.kpis import REGISTRY, kpi_report
from metrics.selectors import OWN_KPIS
from tests.conftest import make_member
from tests.factories import make_case
from tests.tsops.test_console import parse
from tsops import roles
from tsops.csv import csv_cell, csv_text
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("metrics:dashboard")
LIVE = reverse("metrics:live")
MINE = reverse("metrics:my-figures")
# Queries of a dashboard page at most: the session and user, the member's groups, the queues
# and reasons of the filters, and the KPI report's reads of the rollup tables (a fixed number,
# whatever the data: the test below checks it does not grow).
QUERY_BUDGET = 30


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def rows_of(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- Who may open what -------------------------------------------------------------------------


def test_an_associate_and_an_analyst_are_refused_the_dashboard(associate, analyst, login):
    for actor in (associate, analyst):
        client = login(actor)
        assert client.get(DASHBOARD).status_code == 403
        assert client.get(LIVE).status_code == 403
        assert client.get(DASHBOARD, {"format": "csv", "table": "live"}).status_code == 403
    assert not AccessLog.objects.filter(action=AccessLog.Action.EXPORTED).exists()


def test_members_without_cases_of_their_own_have_no_figures_page(support_agent, outsider, login):
    for actor in (support_agent, outsider):
        assert login(actor).get(MINE).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (DASHBOARD, LIVE, MINE):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Live operations fragment ------------------------------------------------------------------


def test_the_live_fragment_lists_the_visible_queues_with_drill_downs(
    platform_account, senior, login
):
    make_case(platform_account, reason="spam")
    make_case(platform_account, reason="child_safety")
    client = login(senior)

    fragment = client.get(LIVE, HTTP_HX_REQUEST="true")
    page = client.get(LIVE)

    assert fragment.status_code == 200 and page.status_code == 200
    html = fragment.content.decode()
    assert "<html" not in html and 'data-testid="live-table"' in html
    assert 'data-queue="spam"' in html and 'data-queue="child-safety"' not in html
    assert f'href="{reverse("cases:queue-detail", args=["spam"])}?status=open"' in html
    assert "<html" in page.content.decode()


def test_the_live_fragment_shows_the_restricted_queue_to_a_team_senior(platform_account, login):
    make_case(platform_account, reason="child_safety")
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))
    html = login(team_senior).get(LIVE, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-queue="child-safety"' in html


# --- CSV -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"],
)
def test_text_that_could_start_a_formula_is_written_as_text(text):
    assert csv_cell(text) == "'" + text
    assert csv_text(["h"], [[text]]).splitlines()[1].lstrip('"').startswith("'")


def test_numbers_dates_and_plain_text_are_written_unchanged():
    assert csv_cell(-3.5) == -3.5 and csv_cell(0) == 0
    assert csv_cell("Spam & platform abuse") == "Spam & platform abuse"
    assert csv_cell(None) == "" and csv_cell(True) == "yes"
    assert csv_text(["a", "b"], [[-1, "x,y"]]) == 'a,b\r\n-1,"x,y"\r\n'


def test_the_live_csv_neutralises_a_formula_in_a_queue_name_and_is_logged(
    senior, login, platform_account
):
    Queue.objects.create(
        slug="evil",
        name='=HYPERLINK("http://evil.example","click")',
        sla_policy=SLAPolicy.objects.first(),
        allowed_roles=["senior"],
    )
    make_case(platform_account, reason="spam")
    client = login(senior)

    response = client.get(LIVE, {"format": "csv"})

    rows = rows_of(response)
    assert rows[0][:7] == [
        "queue",
        "name",
        "restricted",
        "open",
        "in_review",
        "due_within_hour",
        "breached",
    ]
    by_slug = {row[0]: row for row in rows[1:]}
    assert by_slug["evil"][1] == '\'=HYPERLINK("http://evil.example","click")'
    assert by_slug["spam"][3] == "1"
    assert "child-safety" not in by_slug
    entry = AccessLog.objects.get(action=AccessLog.Action.EXPORTED)
    assert (entry.actor, entry.object_type, entry.object_id) == (senior, "metrics.live", "live")


def test_the_dashboard_exports_the_live_table_too(senior, login, platform_account):
    make_case(platform_account, reason="spam")
    response = login(senior).get(DASHBOARD, {"format": "csv", "table": "live", "queue": "spam"})
    rows = rows_of(response)
    assert [row[0] for row in rows[1:]] == ["spam", ""]
    assert rows[1][3] == "1"
    entry = AccessLog.objects.get(action=AccessLog.Action.EXPORTED)
    assert entry.object_type == "metrics.dashboard" and entry.detail["filters"]["queue"] == "spam"


# --- Filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, field",
    [
        ({"from": "2025-02-30"}, "From"),
        ({"from": "yesterday"}, "From"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "From"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "From"),
        ({"to": "2999-01-01"}, "To"),
        ({"queue": "no-such-queue"}, "Queue"),
        ({"queue": "child-safety"}, "Queue"),
        ({"severity": "9"}, "Severity"),
        ({"reason": "<script>"}, "Reason"),
    ],
)
def test_bad_filters_show_a_form_error_never_a_500(senior, login, query, field):
    client = login(senior)
    for url in (DASHBOARD, MINE):
        response = client.get(url, query)
        assert response.status_code == 200, (url, query)
        html = response.content.decode()
        assert 'data-testid="filter-errors"' in html
        assert f"<li>{field}: " in html
        assert "<script>" not in html.split("<main", 1)[1].split("metrics-charts")[0]


# --- The figures, from the rollups of the fixed data set (tests/metrics/conftest.py) ----------

PERIOD = {"from": "2026-03-01", "to": "2026-03-03"}


@pytest.fixture
def rolled_up(dataset):
    """The data set, rolled up for D−1 … D+1 (the clock stays at D+1 06:00)."""
    rollups.rebuild_range(date(2026, 3, 1), date(2026, 3, 3))
    return dataset


def chart_data(response) -> dict:
    html = response.content.decode()
    match = re.search(r'<script id="metrics-charts" type="application/json">(.*?)</script>', html)
    assert match, "the page carries its chart data as a json_script block"
    return json.loads(match.group(1))


def test_the_dashboard_shows_every_kpi_with_its_definition_beside_it(rolled_up, senior, login):
    response = login(senior).get(DASHBOARD, PERIOD)

    assert response.status_code == 200
    assert "script-src 'self';" in response["Content-Security-Policy"]
    page = parse(response)
    assert page.h1 == ["Operations dashboard"]
    # Scripts are files; the one block without a source is the charts' JSON, which is data.
    for script in page.scripts:
        assert script.get("src", "").startswith("/static/") or script == {
            "id": "metrics-charts",
            "type": "application/json",
        }
    assert page.inline_styles == []
    assert [s for s in page.inline_scripts if not s.startswith("<script>{")] == []
    html = response.content.decode()
    for key, kpi in REGISTRY.items():
        card = html.split(f'data-kpi="{key}"', 1)[1].split("</article>", 1)[0]
        assert escape(kpi.name) in html.split(f'data-kpi="{key}"', 1)[1][:400]
        assert escape(kpi.definition) in card
        for part in (kpi.numerator, kpi.denominator, kpi.inclusions, kpi.exclusions):
            assert escape(part) in card
        assert f"<dt>Version</dt><dd>{kpi.version}</dd>" in card
        for _version, day, change in kpi.changelog:
            assert escape(change) in card and day in card
    assert "vendor/chartjs/chart.umd.min.js" in html and "js/metrics.js" in html


def test_the_chart_data_covers_every_day_of_the_period(rolled_up, senior, login):
    data = chart_data(login(senior).get(DASHBOARD, PERIOD))

    assert (data["from"], data["to"]) == ("2026-03-01", "2026-03-03")
    lines = [c for c in data["charts"] if c["kind"] == "line"]
    assert lines and all(c["labels"] == ["2026-03-01", "2026-03-02", "2026-03-03"] for c in lines)
    drawn = {d["key"] for c in data["charts"] for d in c["datasets"]}
    for key in ("time_to_first_action_p50", "sla_first_action", "cases_created", "qa_pass_rate"):
        assert key in drawn
    created = next(d for c in lines for d in c["datasets"] if d["key"] == "cases_created")
    report = kpi_report(actor=senior, date_from=date(2026, 3, 1), date_to=date(2026, 3, 3))
    assert created["data"] == [p["value"] for p in report["kpis"]["cases_created"]["series"]]
    by_type = next(c for c in data["charts"] if c["id"] == "chart-actions_by_type-by-type")
    assert by_type["kind"] == "bar" and set(by_type["labels"]) >= {"Remove content"}


def test_changing_the_period_changes_the_chart_data(rolled_up, senior, login):
    client = login(senior)
    one_day = chart_data(client.get(DASHBOARD, {"from": "2026-03-02", "to": "2026-03-02"}))
    assert all(c["labels"] == ["2026-03-02"] for c in one_day["charts"] if c["kind"] == "line")


def test_the_queue_filter_lists_only_queues_the_lead_may_see(rolled_up, senior, login):
    outsider_html = login(senior).get(DASHBOARD, PERIOD).content.decode()
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))
    team_html = login(team_senior).get(DASHBOARD, PERIOD).content.decode()

    assert '<option value="spam">' in outsider_html
    assert '<option value="child-safety">' not in outsider_html
    assert '<option value="child-safety">' in team_html


def test_the_kpi_csv_matches_the_report_and_restricted_work_counts_only_for_its_team(
    rolled_up, senior, login
):
    team_senior = make_member("rosa_senior_cs", roles.SENIOR, ("child-safety",))
    query = {**PERIOD, "format": "csv", "table": "kpis"}

    outsider_rows = rows_of(login(senior).get(DASHBOARD, query))
    team_rows = rows_of(login(team_senior).get(DASHBOARD, query))

    assert outsider_rows[0][:5] == ["kpi", "name", "group", "value", "unit"]
    assert [r[0] for r in outsider_rows[1:]] == list(REGISTRY)
    report = kpi_report(actor=senior, date_from=date(2026, 3, 1), date_to=date(2026, 3, 3))
    outsider = {r[0]: r for r in outsider_rows[1:]}
    team = {r[0]: r for r in team_rows[1:]}
    assert outsider["cases_created"][3] == str(report["kpis"]["cases_created"]["value"])
    # F, the child-safety case, counts for the child-safety team's lead only.
    assert int(team["cases_created"][3]) == int(outsider["cases_created"][3]) + 1
    exports = AccessLog.objects.filter(action=AccessLog.Action.EXPORTED, object_id="kpis")
    assert exports.count() == 2
    assert exports.first().detail["filters"]["from"] == "2026-03-01"


def test_every_table_downloads_as_csv(rolled_up, senior, login):
    client = login(senior)
    series = rows_of(client.get(DASHBOARD, {**PERIOD, "format": "csv", "table": "series"}))
    breakdown = rows_of(client.get(DASHBOARD, {**PERIOD, "format": "csv", "table": "breakdown"}))
    one = rows_of(
        client.get(DASHBOARD, {**PERIOD, "format": "csv", "table": "breakdown:actions_by_type"})
    )

    assert series[0] == ["kpi", "date", "value", "unit"]
    assert len(series) == 1 + 3 * len(REGISTRY)
    assert breakdown[0][:4] == ["kpi", "dimension", "label", "value"]
    assert {r[0] for r in one[1:]} == {"actions_by_type"} and len(one) > 1
    assert client.get(DASHBOARD, {**PERIOD, "format": "csv", "table": "nope"}).status_code == 404


def test_a_detector_named_like_a_formula_is_neutralised_in_the_breakdown_csv(
    rolled_up, platform_account, analyst, senior, login
):
    case = make_case(
        platform_account,
        source="automated_flag",
        detector='=HYPERLINK("http://evil.example","x")',
        score=0.9,
        reason="spam",
    )
    case_services.case_claim(actor=analyst, case_id=case.pk)
    enforcement.decision_make(
        actor=analyst, case_id=case.pk, outcome="no_violation", rationale="Fine."
    )
    rollups.rebuild_range(date(2026, 3, 3), date(2026, 3, 3))

    rows = rows_of(
        login(senior).get(
            DASHBOARD, {**PERIOD, "format": "csv", "table": "breakdown:detector_precision"}
        )
    )

    labels = [r[2] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil.example","x")' in labels
    assert not any(label.startswith("=") for label in labels)


def test_the_dashboard_needs_the_same_queries_whatever_the_data(
    rolled_up,
    senior,
    login,
    django_assert_num_queries,
    django_assert_max_num_queries,
    platform_account,
):
    from tsops.roles import forget_teams, team_labels

    client = login(senior)
    client.get(DASHBOARD, PERIOD)
    # The team list is re-read every 30 seconds: load it fresh before each measured request,
    # so a slow machine's clock cannot add that query to one measurement and not the other.
    forget_teams()
    team_labels()
    with django_assert_max_num_queries(QUERY_BUDGET) as small:
        client.get(DASHBOARD, PERIOD)
    for n in range(6):
        make_case(platform_account, reason="hate" if n % 2 else "spam")
    rollups.rebuild_range(date(2026, 3, 3), date(2026, 3, 3))
    forget_teams()
    team_labels()
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(DASHBOARD, PERIOD)


def test_an_analyst_sees_only_their_own_figures(rolled_up, analyst, login):
    response = login(analyst).get(MINE, PERIOD)

    assert response.status_code == 200
    html = response.content.decode()
    shown = re.findall(r'data-kpi="([a-z0-9_]+)"', html)
    assert set(shown) == set(OWN_KPIS)
    report = kpi_report(
        actor=analyst, date_from=date(2026, 3, 1), date_to=date(2026, 3, 3), analyst_id=analyst.pk
    )
    rows = rows_of(login(analyst).get(MINE, {**PERIOD, "format": "csv", "table": "kpis"}))
    values = {r[0]: r[3] for r in rows[1:]}
    assert set(values) == set(OWN_KPIS)
    assert values["actions_by_type"] == str(report["kpis"]["actions_by_type"]["value"])


def test_the_dashboard_loads_live_operations_with_its_queue_filters(senior, login):
    response = login(senior).get(DASHBOARD, {"queue": "spam", "severity": "3", "from": ""})
    html = response.content.decode()
    assert f'hx-get="{LIVE}?queue=spam&amp;severity=3"' in html
    assert 'hx-trigger="load, every 60s"' in html


def test_anyone_who_decides_cases_has_a_figures_page(associate, specialist, login):
    for actor in (associate, specialist):
        response = login(actor).get(MINE)
        assert response.status_code == 200
        assert set(re.findall(r'data-kpi="([a-z0-9_]+)"', response.content.decode())) == set(
            OWN_KPIS
        )
