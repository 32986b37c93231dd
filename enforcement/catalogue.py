"""The action catalogue: what each action does, its DSA restriction, and who may take it.

One table decides, for every action type, which Transparency Database decision
field it fills, whether it is temporary, what parameters it needs, and the
ceiling per role above which it needs a senior's approval.
"""

from __future__ import annotations

from dataclasses import dataclass

from tsops import roles

HOUR = 1
DAY = 24 * HOUR


@dataclass(frozen=True)
class ActionSpec:
    code: str
    label: str
    # Which DSA decision field the action fills, and its value.
    dsa_field: (
        str  # decision_visibility | decision_monetary | decision_provision | decision_account
    )
    dsa_value: str
    # Whether the action targets the content item or the account behind it.
    target: str  # "content" | "account"
    temporary: bool = False
    needs_duration: bool = False
    needs_feature: bool = False
    max_duration_hours: int | None = None


ACTIONS: dict[str, ActionSpec] = {
    spec.code: spec
    for spec in (
        ActionSpec(
            "remove_content",
            "Remove content",
            "decision_visibility",
            "DECISION_VISIBILITY_CONTENT_REMOVED",
            "content",
        ),
        ActionSpec(
            "label",
            "Label content",
            "decision_visibility",
            "DECISION_VISIBILITY_CONTENT_LABELLED",
            "content",
        ),
        ActionSpec(
            "reduce_distribution",
            "Reduce distribution",
            "decision_visibility",
            "DECISION_VISIBILITY_CONTENT_DEMOTED",
            "content",
        ),
        ActionSpec(
            "age_restrict",
            "Age-restrict content",
            "decision_visibility",
            "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
            "content",
        ),
        ActionSpec(
            "restrict_feature",
            "Restrict a feature",
            "decision_provision",
            "DECISION_PROVISION_PARTIAL_SUSPENSION",
            "account",
            temporary=True,
            needs_duration=True,
            needs_feature=True,
            max_duration_hours=365 * DAY,
        ),
        ActionSpec(
            "warn",
            "Warn the user",
            "decision_visibility",
            "DECISION_VISIBILITY_OTHER",
            "account",
        ),
        ActionSpec(
            "suspend",
            "Suspend the account",
            "decision_account",
            "DECISION_ACCOUNT_SUSPENDED",
            "account",
            temporary=True,
            needs_duration=True,
            max_duration_hours=365 * DAY,
        ),
        ActionSpec(
            "ban",
            "Ban the account permanently",
            "decision_account",
            "DECISION_ACCOUNT_TERMINATED",
            "account",
        ),
        ActionSpec(
            "require_verification",
            "Require identity verification",
            "decision_provision",
            "DECISION_PROVISION_PARTIAL_SUSPENSION",
            "account",
        ),
        ActionSpec(
            "demonetize",
            "Demonetize",
            "decision_monetary",
            "DECISION_MONETARY_SUSPENSION",
            "account",
        ),
        ActionSpec(
            "hold_transaction",
            "Hold a transaction",
            "decision_monetary",
            "DECISION_MONETARY_OTHER",
            "content",
        ),
    )
}

FEATURES = ("posting", "messaging", "commenting", "live_streaming", "selling", "payouts")

LOW_IMPACT = {"remove_content", "label", "reduce_distribution", "age_restrict", "warn"}

# Per role: action -> the longest duration (hours) they may impose alone; None = any length.
# An action absent from a role's table always needs a senior's approval.
CEILINGS: dict[str, dict[str, int | None]] = {
    roles.ASSOCIATE: {
        **{code: None for code in LOW_IMPACT},
        "restrict_feature": 7 * DAY,
        "suspend": 7 * DAY,
    },
    roles.ANALYST: {
        **{code: None for code in ACTIONS if code != "ban"},
        "restrict_feature": 30 * DAY,
        "suspend": 30 * DAY,
    },
    roles.SENIOR: {code: None for code in ACTIONS},
}


def within_ceiling(role: str | None, action: str, duration_hours: int | None) -> bool:
    """Whether someone of ``role`` may take this action without a second senior's approval."""
    table = CEILINGS.get(role or "", {})
    if action not in table:
        return False
    limit = table[action]
    return limit is None or (duration_hours is not None and duration_hours <= limit)
