"""The repeat-offender ladder: strikes on an account and the action they recommend."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum
from django.utils import timezone

from cases.models import Subject
from enforcement.models import Strike, StrikePolicy


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


def strike_policy() -> StrikePolicy:
    return StrikePolicy.objects.order_by("pk").first() or StrikePolicy(
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
    total = Strike.objects.filter(
        account=account, expires_at__gt=now, voided_at__isnull=True
    ).aggregate(total=Sum("points"))["total"]
    return total or 0


def points_for(severity: int, policy: StrikePolicy | None = None) -> int:
    policy = policy or strike_policy()
    return int(policy.points_by_severity.get(str(severity), 1))


def recommend(account: Subject | None, severity: int, now=None) -> Recommendation:
    """The ladder's step for the strikes the account would have after this violation."""
    policy = strike_policy()
    current = active_strikes(account, now)
    after = current + points_for(severity, policy)
    step = None
    for threshold, action, hours in sorted(policy.ladder, key=lambda s: s[0]):
        if after >= threshold:
            step = (action, hours)
    if step is None:
        return Recommendation(current, after, None, None)
    return Recommendation(current, after, step[0], step[1])
