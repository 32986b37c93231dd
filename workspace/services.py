"""Every write of the workspace: a case page's poll (presence and exposure), the claim guard
of graphic queues, and a senior's override of a budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cases.models import Case, Queue
from cases.services import ClaimRefused
from cases.visibility import can_work_queue
from workspace import presence, selectors
from workspace.models import ExposureOverride, ExposurePolicy
from workspace.permissions import can_grant_exposure_override

MAX_EXTRA_MINUTES = 8 * 60
MAX_EXTRA_CASES = 500


# --- Claims --------------------------------------------------------------------------------


def exposure_claim_guard(actor, queue: Queue) -> None:
    """Refuse a claim from a graphic queue once the actor's budget for today is used up
    (registered with cases.services.register_claim_guard)."""
    budget = selectors.exposure_budget_get(user=actor, queue=queue)
    if budget is not None and budget.exhausted_by:
        raise ClaimRefused(budget.refusal())


# --- The case page's poll ------------------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    """What a poll answers: who else is on the case, the poller's exposure to its queue
    (None when the queue is not graphic) and a break prompt to show, if any ("")."""

    others: list[presence.Presence]
    budget: selectors.Budget | None
    prompt: str


# One statement: count the case once per reviewer and day (the insert that conflicts counts
# nothing) and add the seconds, so that concurrent polls of one reviewer (two tabs) add up
# instead of overwriting each other.
ACCRUE_SQL = """
WITH opened AS (
    INSERT INTO workspace_exposurecaseopen (user_id, case_id, queue_id, day, created_at)
    VALUES (%(user)s, %(case)s, %(queue)s, %(day)s, %(now)s)
    ON CONFLICT (user_id, case_id, day) DO NOTHING
    RETURNING 1
)
INSERT INTO workspace_exposuretally AS t (user_id, queue_id, day, seconds, cases_opened, updated_at)
VALUES (%(user)s, %(queue)s, %(day)s, %(seconds)s, (SELECT count(*) FROM opened), %(now)s)
ON CONFLICT (user_id, queue_id, day) DO UPDATE
SET seconds = t.seconds + EXCLUDED.seconds,
    cases_opened = t.cases_opened + EXCLUDED.cases_opened,
    updated_at = EXCLUDED.updated_at
RETURNING t.seconds, t.cases_opened, (SELECT count(*) FROM opened)
"""


def _accrue(*, user_id: int, case: Case, day: date, seconds: int, now) -> tuple[int, int, bool]:
    """Add ``seconds`` and (once a day) the case to the tally; the new totals and whether
    this poll counted the case."""
    params = {
        "user": user_id,
        "case": case.pk,
        "queue": case.queue_id,
        "day": day,
        "seconds": seconds,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(ACCRUE_SQL, params)
        total_seconds, total_cases, opened = cursor.fetchone()
    return total_seconds, total_cases, bool(opened)


def _elapsed(previous: float | None, now: float) -> int:
    """Seconds since the reviewer's previous poll on the queue, at most one interval: a tab
    left idle or a browser that stopped polling adds nothing past that."""
    if previous is None:
        return 0
    return round(max(0.0, min(now - previous, float(presence.interval()))))


def _break_prompt(policy: ExposurePolicy, budget: selectors.Budget, before: int, opened: bool):
    """The prompt of a threshold this poll crossed, or "": the budget (minutes or, when the
    case just opened was the last one, cases), else every ``break_every_minutes``."""
    after = budget.seconds
    allowed = budget.minutes_allowed
    if allowed is not None and before < allowed * 60 <= after:
        return budget.refusal()
    if opened and budget.cases_allowed is not None and budget.cases == budget.cases_allowed:
        return budget.refusal()
    step = (policy.break_every_minutes or 0) * 60
    if step and before // step < after // step:
        return (
            f"You have had {policy.queue.name} cases open for {after // 60} minutes today. "
            "Time for a short break: step away from the screen for a few minutes."
        )
    return ""


def case_poll(*, actor, case: Case) -> Poll:
    """The case page's poll: mark the actor on the case (working when they hold its claim),
    and on a graphic queue add the time since their previous poll (at most one interval) and
    the case itself (once a day) to their exposure. The caller has checked that the actor
    sees the case."""
    now = timezone.now()
    stamp = now.timestamp()
    policy = selectors.graphic_policy(case.queue_id)
    working = case.status == Case.Status.IN_REVIEW and case.claimed_by_id == actor.pk
    mark = presence.mark(
        case_id=case.pk,
        user_id=actor.pk,
        working=working,
        now=stamp,
        queue_id=policy.queue_id if policy else None,
    )
    others = [p for p in mark.present if p.user_id != actor.pk]
    if policy is None:
        return Poll(others=others, budget=None, prompt="")
    day = timezone.localdate(now)
    seconds = _elapsed(mark.previous_exposure_poll, stamp)
    with transaction.atomic():
        total, cases, opened = _accrue(
            user_id=actor.pk, case=case, day=day, seconds=seconds, now=now
        )
    budget = selectors.budget_for(
        policy=policy, user_id=actor.pk, day=day, seconds=total, cases=cases
    )
    prompt = _break_prompt(policy, budget, total - seconds, opened)
    return Poll(others=others, budget=budget, prompt=prompt)


# --- Overrides -----------------------------------------------------------------------------


def _override_check(actor, reviewer, queue: Queue, extra_minutes: int, extra_cases: int):
    if not can_grant_exposure_override(actor):
        raise PermissionDenied("Only a senior may extend an exposure budget.")
    errors = {}
    if reviewer.pk == actor.pk:
        errors["reviewer"] = "You cannot extend your own budget: ask another senior."
    elif not can_work_queue(reviewer, queue):
        errors["reviewer"] = f"{reviewer.get_username()} does not work {queue.name}."
    if selectors.graphic_policy(queue.pk) is None:
        errors["queue"] = f"{queue.name} is not marked graphic: it has no budget to extend."
    if not 0 <= extra_minutes <= MAX_EXTRA_MINUTES:
        errors["extra_minutes"] = f"Between 0 and {MAX_EXTRA_MINUTES} minutes."
    if not 0 <= extra_cases <= MAX_EXTRA_CASES:
        errors["extra_cases"] = f"Between 0 and {MAX_EXTRA_CASES} cases."
    if extra_minutes == 0 and extra_cases == 0 and "extra_minutes" not in errors:
        errors["extra_minutes"] = "Give extra minutes, extra cases, or both."
    if errors:
        raise ValidationError(errors)


def exposure_override_grant(
    *, actor, reviewer, queue: Queue, extra_minutes: int, extra_cases: int, reason: str
) -> ExposureOverride:
    """Extend ``reviewer``'s budget on ``queue`` for today (a senior, never for themselves,
    saying why); kept with its history row."""
    reason = (reason or "").strip()
    _override_check(actor, reviewer, queue, extra_minutes, extra_cases)
    if len(reason) < 5:
        raise ValidationError({"reason": "Say why the budget is extended."})
    override = ExposureOverride(
        granted_by=actor,
        reviewer=reviewer,
        queue=queue,
        day=selectors.today(),
        extra_minutes=extra_minutes,
        extra_cases=extra_cases,
        reason=reason,
    )
    override._history_user = actor
    override._change_reason = "exposure budget extended"
    with transaction.atomic():
        override.save()
    return override
