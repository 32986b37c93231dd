"""Acknowledging and resolving alerts (services, API, pages), with the people refused, and
what each person sees of them."""

from __future__ import annotations

import pytest
from django.http import Http404

from detection.models import Alert
from detection.services.alerts import alert_acknowledge, alert_raise, alert_resolve
from tsops.errors import ConflictError

pytestmark = pytest.mark.django_db


def _raise(key: str = "volume:spam:content:user_report", team: str = "", **detail) -> Alert:
    alert, opened = alert_raise(
        kind=Alert.Kind.VOLUME,
        key=key,
        title=f"Unusual volume {key}",
        detail={"observed": 30, "expected": 2.5, "p_value": 1e-9, **detail},
        team=team,
    )
    assert opened
    return alert


@pytest.fixture
def std_alert(db):
    return _raise()


@pytest.fixture
def team_alert(db):
    return _raise("volume:child_safety:content:user_report:child-safety", team="child-safety")


# --- Services ----------------------------------------------------------------------------


def test_an_analyst_acknowledges_then_resolves_with_history(std_alert, analyst, senior):
    alert = alert_acknowledge(actor=analyst, alert=std_alert)
    assert alert.status == Alert.Status.ACKNOWLEDGED
    assert alert.acknowledged_by == analyst and alert.acknowledged_at

    alert = alert_resolve(actor=senior, alert=alert, resolution="A spam wave; rule added.")
    assert alert.status == Alert.Status.RESOLVED
    assert alert.resolved_by == senior and alert.resolution == "A spam wave; rule added."
    reasons = list(alert.history.values_list("history_change_reason", "history_user_id"))
    assert ("acknowledged", analyst.pk) in reasons and ("resolved", senior.pk) in reasons


def test_an_open_alert_may_be_resolved_directly(std_alert, senior):
    assert alert_resolve(actor=senior, alert=std_alert, resolution="Expected: a campaign.")


@pytest.mark.parametrize("who", ["associate", "support_agent", "outsider", "specialist"])
def test_people_the_alert_is_not_for_are_refused_as_if_it_did_not_exist(std_alert, who, request):
    actor = request.getfixturevalue(who)
    with pytest.raises(Http404):
        alert_acknowledge(actor=actor, alert=std_alert)
    for resolution in ("x", ""):  # a refusal says nothing about the text either
        with pytest.raises(Http404):
            alert_resolve(actor=actor, alert=std_alert, resolution=resolution)
    std_alert.refresh_from_db()
    assert std_alert.status == Alert.Status.OPEN


def test_a_teams_alert_is_worked_by_the_team_only(team_alert, specialist, senior, analyst):
    for other in (senior, analyst):
        with pytest.raises(Http404):
            alert_acknowledge(actor=other, alert=team_alert)
    assert alert_acknowledge(actor=specialist, alert=team_alert).acknowledged_by == specialist


def test_disallowed_moves_conflict(std_alert, analyst):
    alert_resolve(actor=analyst, alert=std_alert, resolution="Done.")
    with pytest.raises(ConflictError):
        alert_acknowledge(actor=analyst, alert=std_alert)
    with pytest.raises(ConflictError):
        alert_resolve(actor=analyst, alert=std_alert, resolution="Again.")


def test_acknowledging_twice_conflicts(std_alert, analyst):
    alert_acknowledge(actor=analyst, alert=std_alert)
    with pytest.raises(ConflictError):
        alert_acknowledge(actor=analyst, alert=std_alert)


def test_a_resolved_episode_lets_the_next_one_open(std_alert, analyst):
    alert_resolve(actor=analyst, alert=std_alert, resolution="Done.")
    again = _raise()
    assert again.pk != std_alert.pk


# --- API ---------------------------------------------------------------------------------


def test_the_list_shows_open_first_and_filters(api_client_for, analyst):
    done = _raise("volume:a:content:user_report")
    alert_resolve(actor=analyst, alert=done, resolution="Done.")
    taken = _raise("volume:b:content:user_report")
    alert_acknowledge(actor=analyst, alert=taken)
    fresh = _raise("volume:c:content:user_report")
    client = api_client_for(analyst, scopes=["metrics:read"])

    body = client.get("/api/v1/alerts").json()
    assert [a["id"] for a in body] == [fresh.pk, taken.pk, done.pk]
    assert body[0]["kind_label"] == "Report volume"

    assert [a["id"] for a in client.get("/api/v1/alerts?status=resolved").json()] == [done.pk]
    assert client.get("/api/v1/alerts?kind=rule_runaway").json() == []
    bad = client.get("/api/v1/alerts?status=closed&kind=nope")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"status"}


def test_the_api_hides_a_teams_alert_from_outsiders(
    api_client_for, std_alert, team_alert, senior, specialist
):
    senior_client = api_client_for(senior)
    assert [a["id"] for a in senior_client.get("/api/v1/alerts").json()] == [std_alert.pk]
    assert senior_client.get(f"/api/v1/alerts/{team_alert.pk}").status_code == 404
    answer = senior_client.post(f"/api/v1/alerts/{team_alert.pk}/acknowledge")
    assert answer.status_code == 404

    team_client = api_client_for(specialist)
    assert [a["id"] for a in team_client.get("/api/v1/alerts").json()] == [team_alert.pk]
    assert team_client.get(f"/api/v1/alerts/{team_alert.pk}").json()["team"] == "child-safety"
    assert team_client.get(f"/api/v1/alerts/{std_alert.pk}").status_code == 404


def test_the_api_refuses_roles_without_alerts(api_client_for, associate, support_agent):
    for actor in (associate, support_agent):
        assert api_client_for(actor).get("/api/v1/alerts").status_code == 403


def test_acknowledge_and_resolve_over_the_api(api_client_for, std_alert, analyst, associate):
    refused = api_client_for(associate).post(f"/api/v1/alerts/{std_alert.pk}/acknowledge")
    assert refused.status_code == 404

    client = api_client_for(analyst)
    answer = client.post(f"/api/v1/alerts/{std_alert.pk}/acknowledge")
    assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == analyst.username
    assert client.post(f"/api/v1/alerts/{std_alert.pk}/acknowledge").status_code == 409

    missing = client.post(f"/api/v1/alerts/{std_alert.pk}/resolve", {}, format="json")
    assert missing.status_code == 400
    assert "resolution" in missing.json()["error"]["fields"]
    blank = client.post(
        f"/api/v1/alerts/{std_alert.pk}/resolve", {"resolution": "  "}, format="json"
    )
    assert blank.status_code == 400 and "resolution" in blank.json()["error"]["fields"]

    done = client.post(
        f"/api/v1/alerts/{std_alert.pk}/resolve", {"resolution": "Campaign."}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    again = client.post(
        f"/api/v1/alerts/{std_alert.pk}/resolve", {"resolution": "Again."}, format="json"
    )
    assert again.status_code == 409


def test_the_api_needs_the_scopes(api_client_for, std_alert, analyst):
    writer = api_client_for(analyst, scopes=["cases:write"])
    assert writer.get("/api/v1/alerts").status_code == 403
    reader = api_client_for(analyst, scopes=["metrics:read"])
    assert reader.post(f"/api/v1/alerts/{std_alert.pk}/acknowledge").status_code == 403


# --- Pages -------------------------------------------------------------------------------


def test_the_alerts_page_lists_what_the_reader_may_see(
    client, std_alert, team_alert, senior, django_assert_max_num_queries
):
    client.force_login(senior)
    for n in range(5):
        _raise(f"volume:more{n}:content:user_report")
    with django_assert_max_num_queries(12):
        page = client.get("/detection/alerts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert std_alert.title in html
    assert team_alert.title not in html
    assert 'data-testid="alert-open-count">6 open' in html
    assert client.get(f"/detection/alerts/{team_alert.pk}/").status_code == 404


def test_the_alerts_page_filters_and_refuses_other_roles(client, std_alert, associate, analyst):
    client.force_login(associate)
    assert client.get("/detection/alerts/").status_code == 403
    assert client.get(f"/detection/alerts/{std_alert.pk}/").status_code == 404
    client.force_login(analyst)
    assert std_alert.title not in client.get("/detection/alerts/?status=resolved").content.decode()
    assert client.get("/detection/alerts/?status=nope").status_code == 400


def test_the_alert_page_acknowledges_and_resolves(client, std_alert, analyst, associate):
    client.force_login(associate)
    assert client.post(f"/detection/alerts/{std_alert.pk}/acknowledge/").status_code == 404

    client.force_login(analyst)
    page = client.get(f"/detection/alerts/{std_alert.pk}/").content.decode()
    assert 'data-testid="acknowledge-form"' in page and 'data-testid="resolve-form"' in page

    answer = client.post(f"/detection/alerts/{std_alert.pk}/acknowledge/")
    assert answer.status_code == 302
    std_alert.refresh_from_db()
    assert std_alert.status == Alert.Status.ACKNOWLEDGED
    assert client.post(f"/detection/alerts/{std_alert.pk}/acknowledge/").status_code == 409

    blank = client.post(f"/detection/alerts/{std_alert.pk}/resolve/", {"resolution": " "})
    assert blank.status_code == 400
    done = client.post(f"/detection/alerts/{std_alert.pk}/resolve/", {"resolution": "Wave."})
    assert done.status_code == 302
    std_alert.refresh_from_db()
    assert std_alert.status == Alert.Status.RESOLVED and std_alert.resolved_by == analyst
    page = client.get(f"/detection/alerts/{std_alert.pk}/").content.decode()
    assert 'data-testid="resolve-form"' not in page and "Wave." in page


def test_a_detectors_link_shows_only_when_it_stays_inside_the_console(client, analyst):
    inside = _raise("volume:in:content:user_report", link="/rules/7/")
    outside = _raise("volume:out:content:user_report", link="https://evil.example/")
    sneaky = _raise("volume:sneak:content:user_report", link="//evil.example/")
    client.force_login(analyst)
    assert 'href="/rules/7/"' in client.get(f"/detection/alerts/{inside.pk}/").content.decode()
    for alert in (outside, sneaky):
        page = client.get(f"/detection/alerts/{alert.pk}/").content.decode()
        assert 'evil.example/"' not in page and 'data-testid="alert-link"' not in page


def test_the_navigation_shows_alerts_to_those_they_are_for(client, analyst, associate, specialist):
    for user, shown in ((analyst, True), (specialist, True), (associate, False)):
        client.force_login(user)
        assert ("/detection/alerts/" in client.get("/").content.decode()) is shown


def test_the_alert_page_reads_its_figures_in_words(client, analyst):
    alert = _raise(reason="spam", source="user_report", subject_kind="content", baseline=[2, 3])
    client.force_login(analyst)
    page = client.get(f"/detection/alerts/{alert.pk}/").content.decode()
    figures = page[page.index('data-testid="alert-figures"') :]
    assert "<td>User report</td>" in figures and "<td>Spam</td>" in figures
    assert "<td>2, 3</td>" in figures and "user_report" not in figures
