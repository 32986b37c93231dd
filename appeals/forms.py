"""Input of the appeal pages: parse and bound-check, then hand over to a service.

The services own the rules (eligibility, who may review, what a modified outcome needs);
these forms turn HTML fields into the arguments the services take and put the services'
errors back on the fields they name.
"""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import ValidationError

from appeals.models import Appeal
from enforcement.forms import ACTION_CHOICES, FEATURE_CHOICES, UNIT_CHOICES

OUTCOME_CHOICES = [
    (Appeal.Status.UPHELD.value, "Upheld — the action stands"),
    (Appeal.Status.OVERTURNED.value, "Overturned — reverse the action"),
    (Appeal.Status.MODIFIED.value, "Modified — replace it with a lighter action"),
]
STATUS_TABS = [
    (Appeal.Status.NEW.value, "New"),
    (Appeal.Status.IN_REVIEW.value, "In review"),
    ("decided", "Decided"),
]


def new_external_id() -> str:
    """An idempotency key for an appeal filed from the support page (one per page load, so a
    double submit files one appeal)."""
    return f"support-{uuid.uuid4().hex[:16]}"


class AppealFileForm(forms.Form):
    """An appeal filed by support on a user's behalf."""

    action_id = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    statement = forms.CharField(
        label="The user's statement",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="In the user's own words: why they think the action is wrong.",
    )
    appellant_id = forms.CharField(
        label="Appellant's platform id",
        max_length=200,
        required=False,
        help_text="Stored only as a fingerprint.",
    )
    external_id = forms.CharField(
        label="External id",
        max_length=200,
        help_text="The ticket or request id; filing twice with the same id files one appeal.",
    )

    def clean_statement(self) -> str:
        return self.cleaned_data["statement"].strip()

    def clean_external_id(self) -> str:
        return self.cleaned_data["external_id"].strip()


class AppealDecisionForm(forms.Form):
    """The reviewer's decision: outcome, internal rationale, response to the user, and for a
    modified outcome the lighter action that replaces the original."""

    outcome = forms.ChoiceField(choices=OUTCOME_CHOICES, widget=forms.RadioSelect)
    rationale = forms.CharField(
        label="Rationale",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Internal. An overturn sends it to the original decider as feedback.",
    )
    response_to_user = forms.CharField(
        label="Response to the user",
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Sent to the user and shown to support.",
    )
    replacement_type = forms.ChoiceField(
        choices=ACTION_CHOICES, required=False, label="Replacement action"
    )
    replacement_duration = forms.IntegerField(
        min_value=1,
        required=False,
        label="Duration",
        widget=forms.NumberInput(attrs={"class": "duration", "placeholder": "length"}),
    )
    replacement_unit = forms.ChoiceField(
        choices=UNIT_CHOICES,
        required=False,
        initial="days",
        label="Unit",
        widget=forms.Select(attrs={"aria-label": "Unit of the replacement's duration"}),
    )
    replacement_feature = forms.ChoiceField(
        choices=FEATURE_CHOICES, required=False, label="Feature"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def replacement(self) -> dict | None:
        """The replacement as the service takes it; only a modified outcome sends one."""
        data = self.cleaned_data
        if data.get("outcome") != Appeal.Status.MODIFIED or not data.get("replacement_type"):
            return None
        item: dict = {"type": data["replacement_type"]}
        duration = data.get("replacement_duration")
        if duration is not None:
            item["duration_hours"] = (
                duration * 24 if data.get("replacement_unit") == "days" else duration
            )
        if data.get("replacement_feature"):
            item["feature"] = data["replacement_feature"]
        return item

    def add_service_errors(self, error: ValidationError) -> None:
        """Put a service's errors on the fields they name; the replacement's on its type."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, messages in error.message_dict.items():
            if key in ("replacement_action", "actions") or key.startswith("actions["):
                self.add_error("replacement_type", messages)
            elif key in self.fields:
                self.add_error(key, messages)
            else:
                self.add_error(None, messages)
