"""The rules API: bad input named, seniors only, four-eyes, backtests, runaway rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from detection.models import Alert, Rule, RuleVersion
from detection.services.rules import rule_activate, rule_create
from detection.services.watch import rules_watch
from tests.conftest import make_member
from tests.factories import ReportPayloadFactory
from tsops import roles
from tsops.models import Notification

pytestmark = pytest.mark.django_db

REMOVE = [{"type": "action", "action": "remove_content", "delay_hours": 1}]


@pytest.fixture
def senior2(db):
    return make_member("sol_senior", roles.SENIOR)


def create(client, **overrides):
    body = {
        "name": "spam links",
        "expression": 'report.reason == "spam" && report.text_length > 10',
        "effects": [{"type": "tag", "tag": "spam-link"}],
        "note": "Seen in the last wave.",
    }
    body.update(overrides)
    return client.post("/api/v1/rules", body, format="json")


def test_an_unknown_field_is_named_and_nothing_is_saved(api_client_for, senior):
    client = api_client_for(senior)
    response = create(client, expression='report.reasn == "spam"')
    assert response.status_code == 400
    message = " ".join(response.json()["error"]["fields"]["expression"])
    assert "report.reasn" in message and "reason" in message
    assert not Rule.objects.exists()


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("report.reason > 3", "> is not defined for string and int"),
        ("report.score", "must be a bool"),
        ("(" * 40 + "true" + ")" * 40, "at most 32"),
        ("true && " * 600 + "true", "no more than 4000 characters"),
        (
            "account.active_restrictions.exists(a, account.active_restrictions.exists(b, "
            "account.active_restrictions.exists(c, a == b && b == c)))",
            "over the limit",
        ),
    ],
)
def test_type_errors_cost_and_size_are_refused_naming_the_problem(
    api_client_for, senior, expression, named
):
    response = create(api_client_for(senior), expression=expression)
    assert response.status_code == 400
    assert named in " ".join(response.json()["error"]["fields"]["expression"])
    assert not Rule.objects.exists()


def test_bad_effects_are_named_by_position(api_client_for, senior):
    response = create(
        api_client_for(senior),
        effects=[{"type": "tag", "tag": "ok"}, {"type": "route", "queue": "nowhere"}],
    )
    assert response.status_code == 400
    assert "nowhere" in response.json()["error"]["fields"]["effects[1]"][0]


def test_a_draft_is_created_with_its_first_version_and_read_back(api_client_for, senior):
    client = api_client_for(senior)
    response = create(client)
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "draft" and body["latest_version"]["number"] == 1
    assert body["latest_version"]["created_by"] == senior.username
    detail = client.get(f"/api/v1/rules/{body['id']}").json()
    assert detail["matches"] == {"live": 0, "live_24h": 0, "shadow": 0, "shadow_24h": 0}
    assert {"report.reason", "reporter.reputation", "account.strikes"} <= {
        field["name"] for field in detail["inputs"]
    }


def test_rules_are_for_seniors_and_need_their_scopes(api_client_for, senior, analyst, outsider):
    assert create(api_client_for(analyst)).status_code == 403
    assert api_client_for(outsider).get("/api/v1/rules").status_code == 403
    read_only = api_client_for(senior, scopes=("rules:read",))
    assert read_only.get("/api/v1/rules").status_code == 200
    assert create(read_only).status_code == 403
    assert not Rule.objects.exists()


def test_a_stale_version_is_a_conflict(api_client_for, senior):
    client = api_client_for(senior)
    rule_id = create(client).json()["id"]
    first = client.post(
        f"/api/v1/rules/{rule_id}/versions",
        {"expression": "true", "effects": [], "note": "broader", "based_on": 1},
        format="json",
    )
    assert first.status_code == 201 and first.json()["number"] == 2
    stale = client.post(
        f"/api/v1/rules/{rule_id}/versions",
        {"expression": "false", "effects": [], "note": "narrower", "based_on": 1},
        format="json",
    )
    assert stale.status_code == 409
    assert RuleVersion.objects.filter(rule_id=rule_id).count() == 2


def test_activating_automated_actions_takes_two_seniors(api_client_for, senior, senior2):
    first = api_client_for(senior)
    rule_id = create(first, effects=REMOVE).json()["id"]
    asked = first.post(f"/api/v1/rules/{rule_id}/activate", {"version": 1}, format="json")
    assert asked.status_code == 202 and asked.json()["state"] == "draft"
    assert asked.json()["pending_activation"]["requested_by"] == senior.username
    again = first.post(f"/api/v1/rules/{rule_id}/activate", {"version": 1}, format="json")
    assert again.status_code == 403
    confirmed = api_client_for(senior2).post(
        f"/api/v1/rules/{rule_id}/activate", {"version": 1}, format="json"
    )
    assert confirmed.status_code == 200
    assert (
        confirmed.json()["state"] == "active" and confirmed.json()["active_version"]["number"] == 1
    )


def test_lifecycle_moves_that_are_not_allowed_are_conflicts(api_client_for, senior):
    client = api_client_for(senior)
    rule_id = create(client).json()["id"]
    assert client.post(f"/api/v1/rules/{rule_id}/resume").status_code == 409
    assert (
        client.post(
            f"/api/v1/rules/{rule_id}/retire", {"reason": "done"}, format="json"
        ).status_code
        == 200
    )
    assert (
        client.post(f"/api/v1/rules/{rule_id}/activate", {"version": 1}, format="json").status_code
        == 409
    )
    assert client.post(
        f"/api/v1/rules/{rule_id}/shadow", {"version": 9}, format="json"
    ).status_code in (400, 409)


def test_a_backtest_is_accepted_with_a_job_and_bad_periods_are_named(api_client_for, senior):
    client = api_client_for(senior)
    rule_id = create(client).json()["id"]
    now = timezone.now()
    bad = client.post(
        f"/api/v1/rules/{rule_id}/backtests",
        {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()},
        format="json",
    )
    assert bad.status_code == 400 and "to" in bad.json()["error"]["fields"]
    too_long = client.post(
        f"/api/v1/rules/{rule_id}/backtests",
        {"from": (now - timedelta(days=400)).isoformat(), "to": now.isoformat()},
        format="json",
    )
    assert too_long.status_code == 400 and "from" in too_long.json()["error"]["fields"]
    accepted = client.post(
        f"/api/v1/rules/{rule_id}/backtests",
        {"from": (now - timedelta(days=7)).isoformat(), "to": now.isoformat(), "version": 1},
        format="json",
    )
    assert accepted.status_code == 202
    backtest = client.get(f"/api/v1/backtests/{accepted.json()['id']}").json()
    assert backtest["status"] == "queued" and backtest["job_id"] == accepted.json()["job_id"]
    assert client.get("/api/v1/backtests/999999").status_code == 404
    assert client.get("/api/v1/rules/999999").status_code == 404


def test_a_runaway_rule_pauses_itself_alerts_and_waits_for_a_senior(
    platform_account, senior, api_client_for, settings
):
    from cases.intake import report_submit_batch
    from cases.models import Case

    settings.TSOPS_RULE_RUNAWAY_MIN_REPORTS = 20
    rule = rule_create(
        actor=senior, name="everything", expression="true", effects=[{"type": "tag", "tag": "all"}]
    )
    rule_activate(actor=senior, rule_id=rule.pk, version=1)
    report_submit_batch(actor=platform_account, items=[ReportPayloadFactory() for _ in range(25)])
    outcome = rules_watch()
    assert outcome["paused"] == [rule.pk]
    rule.refresh_from_db()
    assert rule.state == Rule.State.PAUSED and "25 of 25" in rule.paused_reason
    alert = Alert.objects.get(kind=Alert.Kind.RULE_RUNAWAY)
    assert alert.status == "open" and alert.detail["link"] == f"/detection/rules/{rule.pk}/"
    assert Notification.objects.filter(user=senior, kind="rule_paused").exists()
    # A second look in the same episode opens nothing more.
    rules_watch()
    assert Alert.objects.filter(kind=Alert.Kind.RULE_RUNAWAY).count() == 1
    # Paused: the next report is not tagged; a senior resumes it in one call.
    from tests.factories import make_case

    untouched = make_case(platform_account)
    assert untouched.tags == []
    resumed = api_client_for(senior).post(f"/api/v1/rules/{rule.pk}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"
    assert make_case(platform_account).tags == ["all"]
    assert Case.objects.filter(tags__contains=["all"]).count() == 26


def test_the_rule_pages_render_for_seniors_only(client, senior, analyst):
    rule = rule_create(actor=senior, name="page rule", expression="true", effects=[])
    client.force_login(senior)
    for url in ("/detection/rules/", "/detection/rules/new/", f"/detection/rules/{rule.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/detection/rules/{rule.pk}/").content.decode()
    assert "report.reason" in page and "page rule" in page
    client.force_login(analyst)
    assert client.get("/detection/rules/").status_code == 403


def test_a_type_error_on_the_rule_page_is_shown_beside_the_condition(client, senior):
    rule = rule_create(actor=senior, name="form rule", expression="true", effects=[])
    client.force_login(senior)
    response = client.post(
        f"/detection/rules/{rule.pk}/versions/",
        {"expression": "report.reason > 3", "effects": "[]", "note": "try", "based_on": "1"},
    )
    assert response.status_code == 400
    assert "&gt; is not defined for string and int" in response.content.decode()
    assert RuleVersion.objects.filter(rule=rule).count() == 1
