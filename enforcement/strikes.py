"""The repeat-offender ladder: strikes on an account, when they count, and the action they
recommend.

A violation's strikes count until they expire, unless the violation stops standing first: a
decision stands while one of its actions is applied (active, or expired after running its
course) or awaits approval. When the last of them is rejected or reversed — by a senior, by
QA's correction or by an overturned appeal — :func:`strikes_void_unless_standing` voids the
decision's strikes. A modified appeal applies its lighter action before reversing the
original, so the violation, and its strikes, still stand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, Sum
from django.utils import timezone

from cases.models import Subject
from enforcement.models import Decision, EnforcementAction, Strike, StrikePolicy

STANDING_STATUSES = (
    EnforcementAction.Status.PENDING_APPROVAL,
    EnforcementAction.Status.ACTIVE,
    EnforcementAction.Status.EXPIRED,
)


@dataclass(frozen=True)
class Recommendation:
    strikes: int
    strikes_after: int
    action: str | None
    duration_hours: int | None

    @property
    def label(self) -> str:
        if self.action is None:
            return ""
        if self.duration_hours:
            return f"{self.action} {self.duration_hours}h"
        return self.action


# The strike policy in force: the first one created (one row is used). decision_rules
# (enforcement.selectors) reads it with a decision's other rules in one statement.
POLICY_IN_FORCE_SQL = "SELECT * FROM enforcement_strikepolicy ORDER BY id LIMIT 1"


def strike_policy() -> StrikePolicy:
    """The strike policy in force (:data:`POLICY_IN_FORCE_SQL`), or the default one."""
    return in_force(next(iter(StrikePolicy.objects.raw(POLICY_IN_FORCE_SQL)), None))


def in_force(policy: StrikePolicy | None) -> StrikePolicy:
    """``policy`` (the row :data:`POLICY_IN_FORCE_SQL` reads), or the default policy while no
    strike policy is configured."""
    return policy or StrikePolicy(
        name="Default",
        expiry_days=90,
        points_by_severity={"0": 4, "1": 3, "2": 2, "3": 1},
        ladder=[
            [1, "warn", None],
            [2, "suspend", 24],
            [4, "suspend", 168],
            [6, "suspend", 720],
            [8, "ban", None],
        ],
    )


def active_strikes(account: Subject | None, now=None) -> int:
    """Strike points on the account that have neither expired nor been voided."""
    if account is None:
        return 0
    now = now or timezone.now()
    total = Strike.objects.filter(counting_q(now), account=account).aggregate(total=Sum("points"))[
        "total"
    ]
    return total or 0


def counting_q(now: datetime) -> Q:
    """Strikes that count at ``now``: neither expired nor voided."""
    return Q(expires_at__gt=now, voided_at__isnull=True)


def is_counting(strike: Strike, now: datetime) -> bool:
    """The same as :func:`counting_q`, for a strike already loaded."""
    return strike.voided_at is None and strike.expires_at > now


def strikes_void_unless_standing(decision: Decision, *, at: datetime) -> int:
    """Void the decision's strikes when none of its actions stands any more; how many were
    voided. Call it after every change that can take an action out of
    :data:`STANDING_STATUSES` (a rejection, a reversal), inside that change's transaction."""
    if decision.actions.filter(status__in=STANDING_STATUSES).exists():
        return 0
    return Strike.objects.filter(decision=decision, voided_at__isnull=True).update(voided_at=at)


def points_for(severity: int, policy: StrikePolicy | None = None) -> int:
    policy = policy or strike_policy()
    return int(policy.points_by_severity.get(str(severity), 1))


def recommend(account: Subject | None, severity: int, now=None) -> Recommendation:
    """The ladder's step for the strikes the account would have after this violation."""
    return recommend_for(active_strikes(account, now), severity)


def recommend_for(
    current: int, severity: int, policy: StrikePolicy | None = None
) -> Recommendation:
    """The ladder's step for an account holding ``current`` strike points (callers that count
    many accounts' strikes in one query ask once per distinct count)."""
    policy = policy or strike_policy()
    after = current + points_for(severity, policy)
    step = None
    for threshold, action, hours in sorted(policy.ladder, key=lambda s: s[0]):
        if after >= threshold:
            step = (action, hours)
    if step is None:
        return Recommendation(current, after, None, None)
    return Recommendation(current, after, step[0], step[1])
