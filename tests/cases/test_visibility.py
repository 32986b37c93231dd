"""Who sees a case: the predicate and the queryset of cases.visibility agree for every named
actor, the team's guardian permission is what lets a team see a case, and a superuser counts
the same restricted work (none) in every figure."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model

from cases.models import Case, CaseGroupObjectPermission
from cases.services import case_claim
from cases.visibility import can_view_case, visible_cases
from enforcement.services import decision_make
from escalations.models import Team
from escalations.services import escalation_raise, escalation_resolve, escalation_return
from metrics import rollups
from metrics.kpis import kpi_report
from metrics.transparency import transparency_report
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.permissions import capabilities_of

pytestmark = pytest.mark.django_db

ACTORS = (
    "associate",
    "analyst",
    "senior",
    "support_agent",
    "specialist",
    "threats_specialist",
    "outsider",
    "platform_account",
    "superuser_senior",
    "superuser",
)
CASES = (
    "normal",
    "claimed",
    "child_safety",
    "threats",
    "escalated",
    "returned",
    "resolved",
)

# Key cells of the table (the rest only has to agree between predicate and queryset).
EXPECTED = {
    ("analyst", "normal"): True,
    ("analyst", "claimed"): True,
    ("analyst", "child_safety"): False,
    ("analyst", "threats"): False,
    ("analyst", "escalated"): True,
    ("senior", "normal"): True,
    ("senior", "child_safety"): False,
    ("specialist", "child_safety"): True,
    ("specialist", "threats"): False,
    ("specialist", "normal"): False,
    ("specialist", "escalated"): False,
    ("threats_specialist", "threats"): True,
    ("threats_specialist", "escalated"): True,
    ("threats_specialist", "returned"): False,
    ("threats_specialist", "resolved"): False,
    ("threats_specialist", "child_safety"): False,
    ("threats_specialist", "normal"): False,
    ("superuser_senior", "normal"): True,
    ("superuser_senior", "child_safety"): False,
    ("superuser_senior", "threats"): False,
    ("superuser", "normal"): False,
    ("superuser", "child_safety"): False,
    **{("outsider", case): False for case in CASES},
    **{("platform_account", case): False for case in CASES},
}


def _superuser(username: str, role: str | None):
    user = make_member(username, role)
    user.is_superuser = user.is_staff = True
    user.save(update_fields=["is_superuser", "is_staff"])
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def superuser_senior(db):
    return _superuser("sue_super_senior", roles.SENIOR)


@pytest.fixture
def superuser(db):
    """An administrator with no role and no team."""
    return _superuser("root_admin", None)


def _escalate(case: Case, actor, team: str = "threats"):
    return escalation_raise(
        actor=actor,
        case_id=case.pk,
        team=team,
        severity="P2",
        summary="Named place and time.",
        criteria="Credible threat.",
    )


@pytest.fixture
def world(platform_account, analyst, analyst2, threats_specialist) -> dict[str, Case]:
    cases = {key: make_case(platform_account, reason="harassment") for key in CASES}
    cases["child_safety"] = make_case(platform_account, reason="child_safety")
    case_claim(actor=analyst2, case_id=cases["claimed"].pk)
    # Threats is a restricted team: escalating there restricts the case to it.
    _escalate(cases["threats"], analyst)
    # The same team, made unrestricted for a while: the cases stay open to their queue and
    # the team sees them while escalated to it.
    Team.objects.filter(slug="threats").update(restricted=False)
    _escalate(cases["escalated"], analyst)
    returned = _escalate(cases["returned"], analyst)
    escalation_return(actor=threats_specialist, escalation_id=returned.pk, note="Not ours.")
    resolved = _escalate(cases["resolved"], analyst)
    escalation_resolve(actor=threats_specialist, escalation_id=resolved.pk, outcome="Handled.")
    Team.objects.filter(slug="threats").update(restricted=True)
    return {
        key: Case.objects.select_related("queue").get(pk=case.pk) for key, case in cases.items()
    }


def _fresh(user):
    """The user as a new request would load it (no cached groups or capabilities)."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("who", ACTORS)
def test_the_predicate_and_the_queryset_agree_for_every_case(who, request, world):
    user = _fresh(request.getfixturevalue(who))
    for key, case in world.items():
        predicate = can_view_case(user, case)
        queryset = visible_cases(user).filter(pk=case.pk).exists()
        assert predicate == queryset, (who, key)
        if (who, key) in EXPECTED:
            assert predicate == EXPECTED[(who, key)], (who, key)


def test_the_world_is_what_the_table_says(world):
    assert world["threats"].restricted and world["threats"].team == "threats"
    assert world["child_safety"].restricted and world["child_safety"].team == "child-safety"
    assert not world["escalated"].restricted and world["escalated"].status == "escalated"
    assert not world["returned"].restricted and world["returned"].status == "new"
    assert world["resolved"].status == "resolved" and not world["resolved"].restricted


def test_the_team_holds_the_permission_only_while_the_case_is_escalated_to_it(world):
    def granted(key: str) -> set[str]:
        return set(
            CaseGroupObjectPermission.objects.filter(content_object=world[key]).values_list(
                "group__name", flat=True
            )
        )

    assert granted("child_safety") == {"child-safety"}
    assert granted("threats") == {"threats"}
    assert granted("escalated") == {"threats"}
    assert granted("returned") == granted("resolved") == granted("normal") == set()


def test_the_teams_permission_is_what_lets_a_member_see_a_restricted_case(
    world, specialist, api_client_for, client
):
    case = world["child_safety"]
    external_id = case.subject.external_id
    api = api_client_for(specialist, ["cases:read"])
    client.force_login(specialist)

    def listed(path: str) -> set[int]:
        body = api.get(path).json()
        rows = body["results"] if isinstance(body, dict) else body
        return {row["id"] for row in rows}

    assert can_view_case(_fresh(specialist), case)
    assert client.get(f"/cases/{case.pk}/").status_code == 200
    assert api.get(f"/api/v1/cases/{case.pk}").status_code == 200
    assert case.pk in listed("/api/v1/cases?status=")
    assert case.pk in listed(f"/api/v1/search?q={external_id}")

    CaseGroupObjectPermission.objects.filter(
        content_object=case, group__name="child-safety"
    ).delete()

    member = _fresh(specialist)
    assert not can_view_case(member, case)
    assert not visible_cases(member).filter(pk=case.pk).exists()
    assert client.get(f"/cases/{case.pk}/").status_code == 404
    assert api.get(f"/api/v1/cases/{case.pk}").status_code == 404
    assert case.pk not in listed("/api/v1/cases?status=")
    assert case.pk not in listed(f"/api/v1/search?q={external_id}")


def test_a_superuser_holds_no_team_or_platform_capability_by_being_one(superuser, senior):
    held = capabilities_of(superuser)
    assert "work_team_cases" not in held
    assert "receive_events" not in held and "push_reports" not in held
    # The staff capabilities stay: a senior's and a support agent's.
    assert capabilities_of(senior) <= held and "file_appeal" in held


def test_a_superuser_counts_the_same_actions_in_the_kpis_and_the_transparency_report(
    platform_account, analyst, specialist, superuser_senior
):
    """Two harassment cases and one child-safety case, each with one removal, on one day.
    Outside child safety the actions are 2 in both reports; a child-safety lead counts 3."""
    day = date(2026, 3, 10)
    remove = [{"type": "remove_content"}]

    def decide(reason: str, actor, section: str, hour: int) -> None:
        with time_machine.travel(datetime(2026, 3, 10, hour, tzinfo=UTC), tick=False):
            case = make_case(platform_account, reason=reason)
            case = case_claim(actor=actor, case_id=case.pk)
            decision_make(
                actor=actor,
                case_id=case.pk,
                version=case.version,
                outcome="violation",
                policy_section=section,
                rationale="Checked against the policy.",
                actions=remove,
            )

    decide("harassment", analyst, "HARASS-3.2", 9)
    decide("harassment", analyst, "HARASS-3.2", 10)
    decide("child_safety", specialist, "CHILD-5.1", 11)
    rollups.rebuild_range(day, day)
    lead = make_member("cleo_cs_lead", roles.SENIOR, ("child-safety",))

    def counts(actor) -> tuple[int, int]:
        kpis = kpi_report(actor=actor, date_from=day, date_to=day)["kpis"]
        report = transparency_report(actor=actor, start=day, end=day)
        return kpis["actions_by_type"]["value"], report["actions"]["actions"]

    assert counts(_fresh(superuser_senior)) == (2, 2)
    assert counts(_fresh(lead)) == (3, 3)
    report = transparency_report(actor=_fresh(superuser_senior), start=day, end=day)
    assert report["restricted_teams_included"] == []
