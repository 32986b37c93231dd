"""How enforcement reads on a page: an action in words and its status label."""

from __future__ import annotations

from enforcement.catalogue import ACTIONS
from enforcement.models import EnforcementAction
from tsops.presentation import duration_text, humanize_code

STATUS_LABELS = dict(EnforcementAction.Status.choices)


def action_text(action_type: str | None, hours: int | None = None, feature: str = "") -> str:
    """One action in words: "Suspend the account for 7 days", "Restrict a feature (messaging)…"."""
    if not action_type:
        return ""
    text = ACTIONS[action_type].label
    if feature:
        text += f" ({humanize_code(feature).lower()})"
    if hours:
        text += f" for {duration_text(hours, 'hours')}"
    return text


def action_summary(action: EnforcementAction) -> str:
    """``action_text`` of a stored action."""
    return action_text(action.action_type, action.duration_hours, action.feature)


def describe_action(action: EnforcementAction, now) -> EnforcementAction:
    """Set the action's status now, its label and its text, for the templates."""
    action.current_status = action.effective_status(now)
    action.status_label = STATUS_LABELS[action.current_status]
    action.text = action_summary(action)
    return action


def register_vocabularies() -> None:
    """The codes this app stores, in words for the ``labels`` template library."""
    from enforcement.catalogue import FEATURES
    from enforcement.models import Decision
    from tsops.presentation import choices_vocabulary, vocabulary_register

    vocabulary_register("action", choices_vocabulary([(c, a.label) for c, a in ACTIONS.items()]))
    vocabulary_register("outcome", choices_vocabulary(Decision.Outcome))
    vocabulary_register("action_status", choices_vocabulary(EnforcementAction.Status))
    vocabulary_register("feature", choices_vocabulary([(f, humanize_code(f)) for f in FEATURES]))
