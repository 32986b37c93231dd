"""Who sees which account, cluster and investigation: the one home of the rule above the case.

It follows the cases' rule (``cases.visibility``) and adds nothing of its own to it:

- An **account** is visible to someone who may investigate accounts when they can see at
  least one case on it or on a subject it owns. An account whose only cases are restricted
  is, to an outsider, not there at all: no page, no node in a network, no member of a cluster,
  no count.
- A **cluster** is visible when it carries no team (its evidence comes from unrestricted
  cases) or when it carries one of the user's teams; its members are filtered by the account
  rule above in every view.
- An **investigation** is visible to its owner and members; a restricted one (touching
  restricted cases) only to those of them who belong to its team.

Each predicate has its queryset beside it, and ``tests/investigations/test_visibility.py``
proves they agree for every named actor.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from cases.models import Case, Subject
from cases.visibility import visible_cases
from investigations.models import Cluster, Investigation
from tsops.errors import HiddenObject
from tsops.permissions import has_capability, teams_of


def can_investigate(user) -> bool:
    """Whether the user may open account pages, networks and clusters at all."""
    return user.is_authenticated and has_capability(user, "investigate_accounts")


# --- Accounts ----------------------------------------------------------------------------------


def _visible_case_on_account(user) -> Exists:
    # Two EXISTS rather than one over ``subject_id = pk OR subject.owner_id = pk``: each uses
    # its index (the OR across the join made PostgreSQL scan every case for every account).
    cases = visible_cases(user)
    return Exists(cases.filter(subject_id=OuterRef("pk"))) | Exists(
        cases.filter(subject__owner_id=OuterRef("pk"))
    )


def _account_subjects(account_pk: int) -> QuerySet[Subject]:
    """The account and the subjects it owns (ids), for an indexed ``subject_id IN (…)``."""
    return Subject.objects.filter(Q(pk=account_pk) | Q(owner_id=account_pk)).values("pk")


def visible_accounts(user) -> QuerySet[Subject]:
    """Accounts the user may see (agrees with :func:`can_view_account`)."""
    if not can_investigate(user):
        return Subject.objects.none()
    return Subject.objects.filter(kind=Subject.Kind.ACCOUNT).filter(_visible_case_on_account(user))


def visible_account_ids(user, ids) -> set[int]:
    """Which of these account ids the user may see, in one query."""
    ids = list(ids)
    if not ids:
        return set()
    return set(visible_accounts(user).filter(pk__in=ids).values_list("pk", flat=True))


def can_view_account(user, account: Subject) -> bool:
    """The predicate of the account rule above."""
    if not can_investigate(user) or account.kind != Subject.Kind.ACCOUNT:
        return False
    return visible_cases(user).filter(subject_id__in=_account_subjects(account.pk)).exists()


def account_get_for(*, actor, external_id: str) -> Subject:
    """The account, or 404 when it does not exist or the actor may not see it."""
    account = Subject.objects.filter(kind=Subject.Kind.ACCOUNT, external_id=external_id).first()
    if account is None:
        raise Http404("No such account.")
    if not can_view_account(actor, account):
        raise HiddenObject("No such account.", actor=actor, obj=account)
    return account


def account_cases(user, account: Subject) -> QuerySet[Case]:
    """The account's cases (on it and on what it owns) the user may see."""
    return visible_cases(user).filter(subject_id__in=_account_subjects(account.pk))


# --- Clusters ----------------------------------------------------------------------------------


def _team_slugs(user) -> list[str]:
    return teams_of(user) if has_capability(user, "work_team_cases") else []


def visible_clusters(user) -> QuerySet[Cluster]:
    """Clusters the user may see (agrees with :func:`can_view_cluster`)."""
    if not can_investigate(user):
        return Cluster.objects.none()
    return Cluster.objects.filter(Q(team="") | Q(team__in=_team_slugs(user)))


def can_view_cluster(user, cluster: Cluster) -> bool:
    """The predicate of the cluster rule above."""
    return can_investigate(user) and (not cluster.team or cluster.team in _team_slugs(user))


def cluster_get_for(*, actor, cluster_id: int) -> Cluster:
    """The cluster, or 404 when it does not exist or the actor may not see it."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        raise Http404("No such cluster.")
    if not can_view_cluster(actor, cluster):
        raise HiddenObject("No such cluster.", actor=actor, obj=cluster)
    return cluster


# --- Investigations ----------------------------------------------------------------------------


def visible_investigations(user) -> QuerySet[Investigation]:
    """Investigations the user may see (agrees with :func:`can_view_investigation`)."""
    if not user.is_authenticated or not has_capability(user, "use_console"):
        return Investigation.objects.none()
    mine = Q(owner=user) | Q(members=user)
    allowed = Q(restricted=False) | Q(restricted=True, team__in=_team_slugs(user))
    ids = Investigation.objects.filter(mine).filter(allowed).values("pk")
    return Investigation.objects.filter(pk__in=ids)


def can_view_investigation(user, investigation: Investigation) -> bool:
    """The predicate of the investigation rule above."""
    if not user.is_authenticated or not has_capability(user, "use_console"):
        return False
    mine = investigation.owner_id == user.pk or investigation.members.filter(pk=user.pk).exists()
    if not mine:
        return False
    return not investigation.restricted or investigation.team in _team_slugs(user)


def investigation_get_for(*, actor, investigation_id: int) -> Investigation:
    """The investigation, or 404 when it does not exist or the actor may not see it."""
    investigation = Investigation.objects.filter(pk=investigation_id).first()
    if investigation is None:
        raise Http404("No such investigation.")
    if not can_view_investigation(actor, investigation):
        raise HiddenObject("No such investigation.", actor=actor, obj=investigation)
    return investigation
