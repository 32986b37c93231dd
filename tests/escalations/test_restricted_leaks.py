"""A restricted escalated case is absent for everyone outside its team, and whole for the team."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cases.services import cases_bulk
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

OUTSIDERS = ("associate", "analyst", "senior", "support_agent", "specialist")


@pytest.fixture
def restricted(raise_threat):
    return raise_threat().case


def _ids(body) -> set[int]:
    rows = body["results"] if isinstance(body, dict) else body
    return {row["id"] for row in rows}


@pytest.mark.parametrize("who", OUTSIDERS)
def test_nothing_of_the_case_reaches_someone_outside_the_team(
    who, request, restricted, api_client_for, client
):
    user = request.getfixturevalue(who)
    api = api_client_for(user, ["cases:read", "cases:write"])
    cases = api.get("/api/v1/cases?status=")
    assert cases.status_code in (200, 403)
    if cases.status_code == 200:
        assert restricted.pk not in _ids(cases.json())
    search = api.get("/api/v1/search?q=post-threat")
    if search.status_code == 200:
        assert search.json()["results"] == []
    queues = api.get("/api/v1/queues")
    if queues.status_code == 200:
        assert all(q["open"] == 0 for q in queues.json() if q["slug"] == restricted.queue.slug)
    escalations = api.get("/api/v1/escalations")
    if escalations.status_code == 200:
        assert escalations.json()["results"] == []
    assert api.get(f"/api/v1/cases/{restricted.pk}").status_code in (403, 404)
    if cases.status_code == 200:
        assert api.get(f"/api/v1/cases/{restricted.pk}").status_code == 404
    client.force_login(user)
    assert client.get(f"/cases/{restricted.pk}/").status_code in (302, 403, 404)
    assert "zebra" not in client.get(f"/cases/{restricted.pk}/").content.decode()
    # No view of it is recorded (only the refusals, as "denied").
    assert not (
        AccessLog.objects.filter(object_id=str(restricted.pk), actor=user)
        .exclude(action=AccessLog.Action.DENIED)
        .exists()
    )


@pytest.mark.parametrize("who", ("analyst", "senior"))
def test_staff_outside_the_team_get_404_on_the_case_url(who, request, restricted, client):
    client.force_login(request.getfixturevalue(who))
    assert client.get(f"/cases/{restricted.pk}/").status_code == 404


@pytest.mark.parametrize("who", ("analyst", "senior"))
def test_bulk_tools_refuse_the_case(who, request, restricted):
    with pytest.raises(ValidationError):
        cases_bulk(
            actor=request.getfixturevalue(who),
            case_ids=[restricted.pk],
            operation="tag",
            tag="x",
        )


def test_the_team_sees_everything_and_each_view_is_logged(
    threats_specialist, restricted, api_client_for, client
):
    api = api_client_for(threats_specialist, ["cases:read"])
    assert restricted.pk in _ids(api.get("/api/v1/cases?status=").json())
    assert restricted.pk in _ids(api.get("/api/v1/search?q=post-threat").json())
    escalations = api.get("/api/v1/escalations?team=threats&status=open").json()["results"]
    assert [e["case_id"] for e in escalations] == [restricted.pk]
    detail = api.get(f"/api/v1/cases/{restricted.pk}")
    assert detail.status_code == 200
    client.force_login(threats_specialist)
    page = client.get(f"/cases/{restricted.pk}/")
    assert page.status_code == 200 and "zebra" in page.content.decode()
    assert (
        AccessLog.objects.filter(
            actor=threats_specialist,
            action="viewed",
            object_type="cases.case",
            object_id=str(restricted.pk),
        ).count()
        == 2
    )


def test_an_unrestricted_escalation_is_visible_to_the_team_without_a_role(
    platform_account, analyst, api_client_for
):
    from escalations import services
    from tests.conftest import make_member
    from tests.factories import make_case

    fraud = make_member("fran_fraud", None, ("fraud-security",))
    case = make_case(platform_account, reason="harassment")
    api = api_client_for(fraud, ["cases:read"])
    assert api.get(f"/api/v1/cases/{case.pk}").status_code == 404
    services.escalation_raise(
        actor=analyst,
        case_id=case.pk,
        team="fraud-security",
        severity="P2",
        summary="Ring",
        criteria="Shared payment hash",
    )
    assert api.get(f"/api/v1/cases/{case.pk}").status_code == 200
    assert case.pk in _ids(api.get("/api/v1/cases?status=").json())
    # The raiser still sees it: the team is not restricted.
    assert (
        api_client_for(analyst, ["cases:read"]).get(f"/api/v1/cases/{case.pk}").status_code == 200
    )


def test_do_not_open_evidence_is_never_rendered(
    analyst, threats_specialist, threat_case, raise_threat, client
):
    from cases.services import evidence_add

    item = evidence_add(
        actor=analyst,
        case_id=threat_case.pk,
        kind="excerpt",
        excerpt="forbidden-excerpt-text",
        sensitive=True,
    )
    item.do_not_open = True
    item.save()
    raise_threat()
    client.force_login(threats_specialist)
    html = client.get(f"/cases/{threat_case.pk}/").content.decode()
    assert item.sha256 in html
    assert "forbidden-excerpt-text" not in html
