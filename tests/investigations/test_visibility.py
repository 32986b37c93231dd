"""Who sees which account, cluster and investigation: the predicates and querysets of
investigations.visibility agree for every named actor, and an account whose only cases are
restricted does not exist for an outsider."""

from __future__ import annotations

import pytest
from django.http import Http404

from cases.models import Subject
from investigations import visibility
from investigations.models import Cluster, Investigation
from tests.factories import make_case

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
)


def _case_for(platform, owner: str, reason: str):
    return make_case(
        platform,
        reason=reason,
        subject={"kind": "content", "external_id": f"post-{owner}-{reason}", "owner_id": owner},
    )


@pytest.fixture
def accounts(platform_account) -> dict[str, Subject]:
    _case_for(platform_account, "acct-open", "spam")
    _case_for(platform_account, "acct-hidden", "child_safety")
    _case_for(platform_account, "acct-mixed", "spam")
    _case_for(platform_account, "acct-mixed", "child_safety")
    return {
        name: Subject.objects.get(kind="account", external_id=f"acct-{name}")
        for name in ("open", "hidden", "mixed")
    }


@pytest.fixture
def clusters(db) -> dict[str, Cluster]:
    return {
        "open": Cluster.objects.create(name="Open ring", origin=Cluster.Origin.MANUAL),
        "child_safety": Cluster.objects.create(
            name="Team ring", origin=Cluster.Origin.CONTENT, team="child-safety"
        ),
    }


@pytest.fixture
def investigations(senior, analyst, specialist) -> dict[str, Investigation]:
    shared = Investigation.objects.create(title="Gift-card ring", owner=senior)
    shared.members.add(analyst)
    restricted = Investigation.objects.create(
        title="Team file", owner=senior, restricted=True, team="child-safety"
    )
    restricted.members.add(specialist, analyst)
    return {"shared": shared, "restricted": restricted}


def _actor(request, name):
    return request.getfixturevalue(name)


@pytest.mark.parametrize("name", ACTORS)
def test_the_account_predicate_and_queryset_agree(request, name, accounts):
    actor = _actor(request, name)
    listed = set(visibility.visible_accounts(actor).values_list("pk", flat=True))
    for account in accounts.values():
        assert visibility.can_view_account(actor, account) == (account.pk in listed), account


def test_an_account_whose_only_cases_are_restricted_is_not_there_for_an_outsider(
    accounts, analyst, associate, specialist, support_agent
):
    for actor in (analyst, associate):
        assert not visibility.can_view_account(actor, accounts["hidden"])
        with pytest.raises(Http404):
            visibility.account_get_for(actor=actor, external_id="acct-hidden")
        assert visibility.can_view_account(actor, accounts["mixed"])
        # The mixed account shows only its unrestricted case.
        assert visibility.account_cases(actor, accounts["mixed"]).count() == 1
    assert visibility.can_view_account(specialist, accounts["hidden"])
    assert visibility.account_cases(specialist, accounts["mixed"]).count() == 1
    # Support agents look enforcement up; they do not investigate accounts.
    assert not visibility.can_view_account(support_agent, accounts["open"])


@pytest.mark.parametrize("name", ACTORS)
def test_the_cluster_predicate_and_queryset_agree(request, name, clusters):
    actor = _actor(request, name)
    listed = set(visibility.visible_clusters(actor).values_list("pk", flat=True))
    for cluster in clusters.values():
        assert visibility.can_view_cluster(actor, cluster) == (cluster.pk in listed)


def test_a_team_cluster_is_seen_by_its_team_only(clusters, analyst, senior, specialist):
    for actor in (analyst, senior):
        assert not visibility.can_view_cluster(actor, clusters["child_safety"])
        assert visibility.can_view_cluster(actor, clusters["open"])
    assert visibility.can_view_cluster(specialist, clusters["child_safety"])


@pytest.mark.parametrize("name", ACTORS)
def test_the_investigation_predicate_and_queryset_agree(request, name, investigations):
    actor = _actor(request, name)
    listed = set(visibility.visible_investigations(actor).values_list("pk", flat=True))
    for investigation in investigations.values():
        assert visibility.can_view_investigation(actor, investigation) == (
            investigation.pk in listed
        )


def test_a_restricted_investigation_is_seen_by_its_team_members_only(
    investigations, analyst, senior, specialist, associate
):
    # The analyst is a member of both files but not of the team: only the shared one.
    assert visibility.can_view_investigation(analyst, investigations["shared"])
    assert not visibility.can_view_investigation(analyst, investigations["restricted"])
    # Its owner left the team's sight when it became restricted: the rule is the team's.
    assert not visibility.can_view_investigation(senior, investigations["restricted"])
    assert visibility.can_view_investigation(specialist, investigations["restricted"])
    assert not visibility.can_view_investigation(associate, investigations["shared"])
