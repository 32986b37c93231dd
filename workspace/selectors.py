"""Reads of exposure: one reviewer's budget on a queue today, their own figures, the team's."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from cases.models import Queue
from cases.visibility import figure_teams, visible_cases
from tsops import roles
from workspace import presence
from workspace.models import ExposureOverride, ExposurePolicy, ExposureTally
from workspace.permissions import can_view_exposure, can_view_team_exposure

OWN_DAYS = 14


def today() -> date:
    """The exposure day: today in the console's time zone (``TIME_ZONE``)."""
    return timezone.localdate()


@dataclass
class Budget:
    """A reviewer's exposure to a graphic queue on a day, against the day's budget
    (the policy's plus every override granted for that day)."""

    policy: ExposurePolicy
    seconds: int = 0
    cases: int = 0
    extra_minutes: int = 0
    extra_cases: int = 0

    @property
    def minutes(self) -> int:
        return self.seconds // 60

    @property
    def minutes_allowed(self) -> int | None:
        base = self.policy.daily_budget_minutes
        return None if base is None else base + self.extra_minutes

    @property
    def cases_allowed(self) -> int | None:
        base = self.policy.daily_budget_cases
        return None if base is None else base + self.extra_cases

    @property
    def exhausted_by(self) -> str:
        """ "minutes" or "cases" when that budget is used up, else ""."""
        if self.minutes_allowed is not None and self.seconds >= self.minutes_allowed * 60:
            return "minutes"
        if self.cases_allowed is not None and self.cases >= self.cases_allowed:
            return "cases"
        return ""

    def usage(self) -> str:
        """ "60 of 60 minutes" / "20 of 20 cases": the budget that ran out, else minutes."""
        if self.exhausted_by == "cases" or self.minutes_allowed is None:
            allowed = self.cases_allowed
            return f"{self.cases} of {allowed} cases" if allowed else f"{self.cases} cases"
        return f"{self.minutes} of {self.minutes_allowed} minutes"

    def refusal(self) -> str:
        return (
            f"You have reached today's exposure budget for {self.policy.queue.name} "
            f"({self.usage()}). Take a break; a senior can extend it."
        )


def graphic_policy(queue_id: int) -> ExposurePolicy | None:
    """The queue's exposure policy when the queue is marked graphic, else None."""
    return (
        ExposurePolicy.objects.select_related("queue")
        .filter(queue_id=queue_id, graphic=True)
        .first()
    )


def _extras(user_id: int, queue_id: int, day: date) -> tuple[int, int]:
    totals = ExposureOverride.objects.filter(reviewer_id=user_id, queue_id=queue_id, day=day)
    totals = totals.aggregate(minutes=Sum("extra_minutes"), cases=Sum("extra_cases"))
    return totals["minutes"] or 0, totals["cases"] or 0


def budget_for(
    *, policy: ExposurePolicy, user_id: int, day: date, seconds: int, cases: int
) -> Budget:
    """The budget of a tally already read (the poll's upsert returns it)."""
    extra_minutes, extra_cases = _extras(user_id, policy.queue_id, day)
    return Budget(policy, seconds, cases, extra_minutes, extra_cases)


def _queue_graphic_policy(queue: Queue) -> ExposurePolicy | None:
    """:func:`graphic_policy` of a queue, read from the queue when it was loaded with its
    ``exposure_policy`` (the claim does: cases.services.claim_guard_relations)."""
    relation = Queue._meta.get_field("exposure_policy")
    if not relation.is_cached(queue):
        return graphic_policy(queue.pk)
    policy = relation.get_cached_value(queue)
    return policy if policy is not None and policy.graphic else None


def exposure_budget_get(*, user, queue: Queue, day: date | None = None) -> Budget | None:
    """The user's exposure to ``queue`` on ``day`` (default today); None when not graphic."""
    policy = _queue_graphic_policy(queue)
    if policy is None:
        return None
    day = day or today()
    tally = ExposureTally.objects.filter(user_id=user.pk, queue_id=queue.pk, day=day).first()
    seconds, cases = (tally.seconds, tally.cases_opened) if tally else (0, 0)
    return budget_for(policy=policy, user_id=user.pk, day=day, seconds=seconds, cases=cases)


# --- Figures for pages ----------------------------------------------------------------------


@dataclass
class ExposureRow:
    """One reviewer, one queue, one day: the page's row."""

    day: date
    reviewer: object
    queue: Queue
    budget: Budget
    overrides: list[ExposureOverride] = field(default_factory=list)


def _rows(tallies: Q, overrides: Q) -> list[ExposureRow]:
    """Rows of the tallies and overrides matching the filters (two queries)."""
    tally_rows = ExposureTally.objects.filter(tallies).select_related(
        "user", "queue", "queue__exposure_policy"
    )
    override_rows = ExposureOverride.objects.filter(overrides).select_related(
        "granted_by", "reviewer", "queue", "queue__exposure_policy"
    )
    rows: dict[tuple, ExposureRow] = {}

    def row_for(user, queue, day) -> ExposureRow | None:
        policy = getattr(queue, "exposure_policy", None)
        if policy is None:
            return None
        key = (user.pk, queue.pk, day)
        if key not in rows:
            rows[key] = ExposureRow(day=day, reviewer=user, queue=queue, budget=Budget(policy))
        return rows[key]

    for tally in tally_rows:
        if row := row_for(tally.user, tally.queue, tally.day):
            row.budget.seconds, row.budget.cases = tally.seconds, tally.cases_opened
    grouped: dict[tuple, list[ExposureOverride]] = defaultdict(list)
    for override in override_rows.order_by("created_at"):
        grouped[(override.reviewer_id, override.queue_id, override.day)].append(override)
        if row := row_for(override.reviewer, override.queue, override.day):
            row.budget.extra_minutes += override.extra_minutes
            row.budget.extra_cases += override.extra_cases
    for key, row in rows.items():
        row.overrides = grouped.get(key, [])
    return sorted(
        rows.values(),
        key=lambda r: (-r.day.toordinal(), r.reviewer.get_username(), r.queue.name),
    )


def exposure_own(*, actor, days: int = OWN_DAYS) -> list[ExposureRow]:
    """The actor's own exposure over the last ``days`` days (private to them and leads)."""
    if not can_view_exposure(actor):
        raise PermissionDenied("Exposure figures are for reviewers and their leads.")
    since = today() - timedelta(days=days - 1)
    return _rows(Q(user_id=actor.pk, day__gte=since), Q(reviewer_id=actor.pk, day__gte=since))


def exposure_team(*, actor, day: date) -> list[ExposureRow]:
    """Every reviewer's exposure on ``day``, in the queues whose figures the lead may see."""
    if not can_view_team_exposure(actor):
        raise PermissionDenied("Only leads see other reviewers' exposure.")
    teams = figure_teams(actor)
    return _rows(Q(day=day, queue__team__in=teams), Q(day=day, queue__team__in=teams))


def graphic_queues_for(*, actor) -> list[Queue]:
    """The graphic queues whose figures the actor may see (for the override form)."""
    return list(
        Queue.objects.filter(
            exposure_policy__graphic=True, active=True, team__in=figure_teams(actor)
        ).order_by("name")
    )


def reviewers_for(*, actor) -> QuerySet:
    """Members who work queues, the actor excepted (for the override form)."""
    working = {"work_standard_queues", "work_team_cases"}
    groups = [name for name, caps in roles.GROUP_CAPABILITIES.items() if caps & working]
    groups += list(roles.team_labels())
    users = get_user_model().objects.filter(is_active=True, groups__name__in=groups)
    return users.exclude(pk=actor.pk).distinct().order_by("username")


# --- Presence -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Present:
    """Someone on a case, by name, for a page."""

    username: str
    working: bool
    is_you: bool = False

    @property
    def state_label(self) -> str:
        return "working" if self.working else "viewing"


def _names(people: list[presence.Presence], actor) -> list[Present | None]:
    ids = {p.user_id for p in people}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    return [
        Present(names[p.user_id], p.working, p.user_id == actor.pk) if p.user_id in names else None
        for p in people
    ]


def presence_named(*, actor, people: list[presence.Presence]) -> list[Present]:
    """The people of a poll by name (one query), working first."""
    return [named for named in _names(people, actor) if named is not None]


def queue_presence(*, actor, queue: Queue, case_ids: list[int]) -> dict[int, list[Present]]:
    """Who is on each of the queue's cases the actor sees among ``case_ids``: one Redis round
    trip and two queries whatever the number of cases; others' ids are left out."""
    visible = visible_cases(actor).filter(queue=queue, pk__in=case_ids)
    ids = sorted(visible.values_list("pk", flat=True))
    on = presence.on_cases(ids, now=time.time())
    everyone = [p for people in on.values() for p in people]
    ids_to_names = {
        p.user_id: named for p, named in zip(everyone, _names(everyone, actor), strict=True)
    }
    return {
        case_id: [ids_to_names[p.user_id] for p in on[case_id] if ids_to_names[p.user_id]]
        for case_id in ids
    }


def graphic_policies_for(*, actor) -> list[ExposurePolicy]:
    """The graphic queues' policies whose figures the actor may see."""
    return list(
        ExposurePolicy.objects.filter(
            graphic=True, queue__active=True, queue__team__in=figure_teams(actor)
        )
        .select_related("queue")
        .order_by("queue__name")
    )
