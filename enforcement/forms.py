"""Input of the enforcement pages: parse and bound-check, then hand over to a service.

The services own the rules (what a violation needs, which durations are allowed); these
forms only turn HTML fields into the arguments the services take, and put the services'
errors back on the fields they name.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from cases.forms import CaseIdsField
from cases.models import Subject
from enforcement.catalogue import ACTIONS, FEATURES
from enforcement.models import Decision, PolicySection

ACTION_ROWS = 3
ACTION_CHOICES = [("", "— no action —")] + [(code, spec.label) for code, spec in ACTIONS.items()]
FEATURE_CHOICES = [("", "— feature —")] + [(f, f.replace("_", " ")) for f in FEATURES]
UNIT_CHOICES = [("hours", "hours"), ("days", "days")]
# A service error key for one action: "actions[2]" or "actions[2].duration_hours".
_ACTION_KEY = re.compile(r"^actions\[(\d+)\](?:\.(\w+))?$")
_ROW_FIELD = {"type": "type", "duration_hours": "duration", "feature": "feature"}


def _section_label(section: PolicySection) -> str:
    return f"{section.code} {section.title}"


def section_choices(sections: list[PolicySection], relevant: list[PolicySection]) -> list:
    """The current sections for a select: those relevant to the case's reason first."""
    relevant_codes = {s.code for s in relevant}
    others = [s for s in sections if s.code not in relevant_codes]
    choices: list = [("", "— no section —")]
    if relevant:
        choices.append(("Relevant to this case", [(s.code, _section_label(s)) for s in relevant]))
    if others:
        label = "Other sections" if relevant else "Sections"
        choices.append((label, [(s.code, _section_label(s)) for s in others]))
    return choices


def _action_request(action_type: str, duration: int | None, unit: str, feature: str) -> dict:
    """One action as ``services.parse_actions`` takes it."""
    item: dict = {"type": action_type}
    if duration is not None:
        item["duration_hours"] = duration * 24 if unit == "days" else duration
    if feature:
        item["feature"] = feature
    return item


class DecisionForm(forms.Form):
    """The decision on one case: outcome, section, rationale, statement and up to three
    actions (rows left without a type are ignored, so no JavaScript is needed)."""

    outcome = forms.ChoiceField(
        choices=Decision.Outcome.choices,
        widget=forms.RadioSelect,
        initial=Decision.Outcome.VIOLATION,
    )
    policy_section = forms.ChoiceField(required=False, label="Policy section")
    rationale = forms.CharField(
        label="Rationale",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Internal: why this decision. Never shown to the user or to support.",
    )
    statement_of_reasons = forms.CharField(
        label="Statement of reasons",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Sent to the user. Left as drafted, it is redrafted from the section and "
        "the actions you submit.",
    )
    # The draft the statement was prefilled with: a statement still equal to it was not
    # edited, so the service drafts it again from what is actually submitted.
    statement_draft = forms.CharField(required=False, widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, sections: list[PolicySection], relevant: list[PolicySection], **kw):
        super().__init__(*args, **kw)
        self.fields["policy_section"].choices = section_choices(sections, relevant)
        for row in range(ACTION_ROWS):
            self.fields[f"action_{row}_type"] = forms.ChoiceField(
                choices=ACTION_CHOICES, required=False, label=f"Action {row + 1}"
            )
            self.fields[f"action_{row}_duration"] = forms.IntegerField(
                min_value=1,
                required=False,
                label=f"Duration of action {row + 1}",
                widget=forms.NumberInput(attrs={"class": "duration", "placeholder": "length"}),
            )
            self.fields[f"action_{row}_unit"] = forms.ChoiceField(
                choices=UNIT_CHOICES,
                required=False,
                initial="days",
                label=f"Unit of action {row + 1}",
                widget=forms.Select(attrs={"aria-label": f"Unit of action {row + 1}"}),
            )
            self.fields[f"action_{row}_feature"] = forms.ChoiceField(
                choices=FEATURE_CHOICES, required=False, label=f"Feature of action {row + 1}"
            )
        # Errors of the action list as a whole ("a violation needs at least one action").
        self.action_errors: list[str] = []
        self._rows: list[int] = []

    def action_rows(self) -> list[dict]:
        """The bound fields of each action row, for the template."""
        return [
            {
                "number": row + 1,
                "type": self[f"action_{row}_type"],
                "duration": self[f"action_{row}_duration"],
                "unit": self[f"action_{row}_unit"],
                "feature": self[f"action_{row}_feature"],
            }
            for row in range(ACTION_ROWS)
        ]

    def actions(self) -> list[dict]:
        """The filled rows as the service's ``actions`` list (call after ``is_valid``)."""
        data = self.cleaned_data
        items, self._rows = [], []
        for row in range(ACTION_ROWS):
            action_type = data.get(f"action_{row}_type")
            if not action_type:
                continue
            items.append(
                _action_request(
                    action_type,
                    data.get(f"action_{row}_duration"),
                    data.get(f"action_{row}_unit") or "days",
                    data.get(f"action_{row}_feature") or "",
                )
            )
            self._rows.append(row)
        return items

    def statement(self) -> str:
        """The statement to submit: empty (to be drafted by the service) when left as drafted."""
        text = (self.cleaned_data.get("statement_of_reasons") or "").strip()
        draft = (self.cleaned_data.get("statement_draft") or "").strip()
        return "" if text == draft else text

    def add_service_errors(self, error: ValidationError) -> None:
        """Put a service's errors on the fields they name; ``actions[i].field`` goes to the
        row the i-th submitted action came from."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, messages in error.message_dict.items():
            match = _ACTION_KEY.match(key)
            if match and int(match[1]) < len(self._rows):
                row = self._rows[int(match[1])]
                field = _ROW_FIELD.get(match[2] or "type", "type")
                self.add_error(f"action_{row}_{field}", messages)
            elif key.startswith("actions"):
                self.action_errors.extend(messages)
            elif key in self.fields:
                self.add_error(key, messages)
            else:
                self.add_error(None, messages)


class ReasonForm(forms.Form):
    """Why an action is rejected or reversed (required; recorded on the timeline)."""

    reason = forms.CharField(max_length=2000, label="Reason")
    next = forms.ChoiceField(choices=[("case", "case"), ("approvals", "approvals")], required=False)


class LookupForm(forms.Form):
    """Which subject to look up: its kind and the platform's id for it."""

    kind = forms.ChoiceField(choices=Subject.Kind.choices, initial=Subject.Kind.ACCOUNT)
    external_id = forms.CharField(max_length=200, label="Platform id")

    def clean_external_id(self) -> str:
        return self.cleaned_data["external_id"].strip()


class BulkDecisionForm(forms.Form):
    """Decide the ticked cases of a queue alike (a spam wave): one section, rationale and
    action for all, each case still getting its own decision.

    Its fields live inside the queue page's bulk form (the ticked rows belong to that
    form), so none of them may be required by the browser: "Apply" submits them too.
    """

    use_required_attribute = False

    cases = CaseIdsField(required=False)
    back = forms.CharField(max_length=500, required=False, widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        choices=Decision.Outcome.choices, initial=Decision.Outcome.VIOLATION, label="Outcome"
    )
    policy_section = forms.ChoiceField(required=False, label="Policy section")
    rationale = forms.CharField(max_length=10_000, label="Rationale")
    action_type = forms.ChoiceField(choices=ACTION_CHOICES, required=False, label="Action")
    duration = forms.IntegerField(min_value=1, required=False, label="Duration")
    duration_unit = forms.ChoiceField(
        choices=UNIT_CHOICES,
        required=False,
        initial="days",
        label="Unit",
        widget=forms.Select(attrs={"aria-label": "Unit"}),
    )
    feature = forms.ChoiceField(choices=FEATURE_CHOICES, required=False, label="Feature")

    def __init__(self, *args, sections: list[PolicySection], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy_section"].choices = section_choices(sections, [])

    def actions(self) -> list[dict]:
        data = self.cleaned_data
        if not data.get("action_type"):
            return []
        return [
            _action_request(
                data["action_type"],
                data.get("duration"),
                data.get("duration_unit") or "days",
                data.get("feature") or "",
            )
        ]
