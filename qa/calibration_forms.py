"""Input of the calibration pages: parse and bound-check, then hand over to
:mod:`qa.services.calibration`, whose services own the rules and whose errors come back onto the
fields they name."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from cases.models import Severity
from cases.selectors import queue_list
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision
from enforcement.selectors import policy_sections_current
from qa import calibration_selectors
from qa.services import calibration

SOURCE_CHOICES = [
    ("picked", "Cases I pick by id"),
    ("queue", "Resolved cases drawn at random from a queue"),
]
SEVERITY_CHOICES = [("", "— none —")] + [(f"P{value}", label) for value, label in Severity.choices]
_CASE_ID = re.compile(r"^#?(\d{1,18})$")


def section_choices() -> list[tuple[str, str]]:
    sections = policy_sections_current().order_by("code")
    return [("", "— none —")] + [(s.code, f"{s.code} · {s.title}") for s in sections]


def action_choices() -> list[tuple[str, str]]:
    return [("", "— none —")] + [(code, spec.label) for code, spec in ACTIONS.items()]


def apply_service_errors(form: forms.Form, error: ValidationError, fields: dict | None = None):
    """Put a service's errors on the form fields they name (``fields`` renames keys)."""
    fields = fields or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, problems in error.message_dict.items():
        name = fields.get(key, key)
        form.add_error(name if name in form.fields else None, problems)


class SessionCreateForm(forms.Form):
    """A new session: its name, where its cases come from, who takes part."""

    name = forms.CharField(max_length=calibration.MAX_NAME)
    description = forms.CharField(
        required=False,
        max_length=calibration.MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the session is about; participants see it.",
    )
    source = forms.ChoiceField(choices=SOURCE_CHOICES, widget=forms.RadioSelect, initial="picked")
    case_ids = forms.CharField(
        required=False,
        label="Case ids",
        help_text="Separated by commas or spaces, e.g. 1042, 1043 #1050. Restricted cases "
        "cannot be used.",
    )
    queue = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Queue")
    draw = forms.IntegerField(
        min_value=1,
        max_value=calibration.MAX_CASES,
        initial=calibration.DEFAULT_DRAW,
        required=False,
        label="Number of cases to draw",
    )
    participants = forms.TypedMultipleChoiceField(
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="Associates, analysts and seniors; at least two.",
    )
    low_agreement_threshold = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=60,
        label="Low agreement below (%)",
        help_text="Cases whose agreement falls below this are listed as policy-ambiguity "
        "candidates.",
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", "— queue —")] + [
            (q.pk, q.name) for q in queue_list(actor=actor) if not q.team
        ]
        self.fields["participants"].choices = [
            (u.pk, u.get_username())
            for u in calibration_selectors.participant_candidates(actor=actor)
        ]

    def clean_case_ids(self) -> list[int]:
        ids = []
        for token in re.split(r"[\s,;]+", self.cleaned_data["case_ids"].strip()):
            if not token:
                continue
            match = _CASE_ID.match(token)
            if match is None:
                raise ValidationError(f"Not a case id: {token!r}.")
            ids.append(int(match.group(1)))
        return ids

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        arguments = {
            "name": data["name"],
            "description": data["description"],
            "participant_ids": list(data["participants"]),
            "low_agreement_threshold": data["low_agreement_threshold"],
        }
        if data["source"] == "queue":
            arguments["queue_id"] = data["queue"]
            arguments["draw"] = data["draw"] or calibration.DEFAULT_DRAW
            if data["queue"] is None:
                # The service answers "pick cases or a queue"; here the queue is what's missing.
                arguments["queue_id"] = 0
        else:
            arguments["case_ids"] = data["case_ids"]
        return arguments

    def add_service_errors(self, error: ValidationError) -> None:
        apply_service_errors(self, error, {"queue_id": "queue", "participant_ids": "participants"})


class AnswerForm(forms.Form):
    """A blind answer on one case (or, without notes, its gold answer)."""

    outcome = forms.ChoiceField(choices=Decision.Outcome.choices, widget=forms.RadioSelect)
    policy_section = forms.ChoiceField(required=False, label="Policy section")
    action = forms.ChoiceField(required=False, label="Action")
    severity = forms.ChoiceField(choices=SEVERITY_CHOICES, required=False, label="Severity")
    notes = forms.CharField(
        required=False,
        max_length=calibration.MAX_NOTES,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Notes",
        help_text="Why you decided so, or what made it hard. Shown to everyone after the close.",
    )

    def __init__(self, *args, with_notes: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy_section"].choices = section_choices()
        self.fields["action"].choices = action_choices()
        if not with_notes:
            del self.fields["notes"]

    @classmethod
    def initial_from(cls, values: dict | None) -> dict:
        """Initial data from a saved answer's (or gold's) values."""
        if not values:
            return {}
        initial = dict(values)
        initial["severity"] = calibration_selectors.severity_label(values.get("severity"))
        return initial

    def service_arguments(self) -> dict:
        return dict(self.cleaned_data)

    def add_service_errors(self, error: ValidationError) -> None:
        apply_service_errors(self, error)


class InviteForm(forms.Form):
    users = forms.TypedMultipleChoiceField(
        coerce=int, widget=forms.CheckboxSelectMultiple, label="Invite"
    )

    def __init__(self, *args, actor, session, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].choices = [
            (u.pk, u.get_username())
            for u in calibration_selectors.participant_candidates(actor=actor, session=session)
        ]

    def add_service_errors(self, error: ValidationError) -> None:
        apply_service_errors(self, error, {"user_ids": "users"})


class ClarificationForm(forms.Form):
    clarification = forms.CharField(
        required=False,
        max_length=calibration.MAX_CLARIFICATION,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Policy clarification",
    )
