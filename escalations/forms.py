"""Input of the escalation pages: parse and bound-check, then hand over to a service.

The services own the rules (required texts, allowed transitions, what a decision needs);
these forms only turn HTML fields into the arguments the services take.
"""

from __future__ import annotations

from django import forms

from cases.models import Severity
from enforcement.forms import ACTION_CHOICES, FEATURE_CHOICES, UNIT_CHOICES, section_choices
from enforcement.models import Decision, PolicySection
from escalations.models import ReferralKind, Team

SEVERITY_CHOICES = [(f"P{value}", label) for value, label in Severity.choices]
TEXT = {"maxlength": 10_000}

STATUS_TABS = [
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("closed", "Closed"),
]


class EscalateForm(forms.Form):
    """Hand a case to a specialist team: team, urgency, summary, criteria, next steps."""

    # No team is chosen for the raiser: a careless submit to a restricted team would hide the
    # case from them.
    team = forms.ChoiceField(label="Team")
    severity = forms.ChoiceField(
        label="Severity",
        choices=SEVERITY_CHOICES,
        initial="P1",
        help_text="The case takes this severity, and its deadlines are stamped again.",
        widget=forms.Select(attrs={"aria-describedby": "escalate-severity-help"}),
    )
    summary = forms.CharField(
        label="Summary", widget=forms.Textarea(attrs={"rows": 3, **TEXT}), max_length=10_000
    )
    criteria = forms.CharField(
        label="Why it meets the team's criteria",
        widget=forms.Textarea(attrs={"rows": 2, **TEXT}),
        max_length=10_000,
    )
    next_steps = forms.CharField(
        label="Recommended next steps",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, **TEXT}),
        max_length=10_000,
    )

    def __init__(self, *args, teams: list[Team], **kwargs):
        # The case page has other forms with a severity field: keep the ids apart.
        kwargs.setdefault("auto_id", "escalate-%s")
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "Choose a team…")] + [
            (t.slug, f"{t.name} (restricted)" if t.restricted else t.name) for t in teams
        ]


class ReturnForm(forms.Form):
    """Send the case back to its queue with the team's note."""

    note = forms.CharField(
        label="Note to the queue", widget=forms.Textarea(attrs={"rows": 3, **TEXT})
    )
    unrestrict = forms.BooleanField(
        label="Lift the team's restriction (the case becomes visible as before the escalation)",
        required=False,
    )


class ResolveForm(forms.Form):
    """Close the escalation with its outcome, a referral record and, optionally, a decision
    with one action (passed to ``escalation_resolve`` as ``decision``)."""

    outcome = forms.CharField(
        label="Outcome", widget=forms.Textarea(attrs={"rows": 3, **TEXT}), max_length=10_000
    )
    referral_kind = forms.ChoiceField(
        label="Referred to",
        required=False,
        choices=[("", "No referral"), *ReferralKind.choices],
    )
    referral_agency = forms.CharField(
        label="Agency",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Metropolitan Police"}),
        help_text="For NCMEC, left empty it is NCMEC.",
    )
    referral_reference = forms.CharField(label="Reference number", required=False, max_length=200)
    referral_date = forms.DateField(
        label="Referral date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    decision_outcome = forms.ChoiceField(
        label="Decision",
        required=False,
        choices=[("", "— no decision —"), *Decision.Outcome.choices],
    )
    policy_section = forms.ChoiceField(label="Policy section", required=False)
    action_type = forms.ChoiceField(label="Action", choices=ACTION_CHOICES, required=False)
    action_duration = forms.IntegerField(
        label="Duration",
        min_value=1,
        required=False,
        widget=forms.NumberInput(attrs={"class": "duration", "placeholder": "length"}),
    )
    action_unit = forms.ChoiceField(
        label="Unit",
        choices=UNIT_CHOICES,
        required=False,
        initial="days",
        # Shown beside the duration under its one label: the select names itself.
        widget=forms.Select(attrs={"aria-label": "Duration unit"}),
    )
    action_feature = forms.ChoiceField(label="Feature", choices=FEATURE_CHOICES, required=False)
    statement_of_reasons = forms.CharField(
        label="Statement of reasons",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sent to the user. Left empty, it is drafted from the section and the action.",
    )

    def __init__(self, *args, sections: list[PolicySection], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy_section"].choices = section_choices(sections, [])

    def referral(self) -> dict:
        """The referral's fields, as ``escalation_resolve`` takes them."""
        data = self.cleaned_data
        return {
            name: data.get(name) or ("" if name != "referral_date" else None)
            for name in ("referral_kind", "referral_agency", "referral_reference", "referral_date")
        }

    def decision(self) -> dict | None:
        """``escalation_resolve``'s ``decision`` argument, or None without a decision."""
        data = self.cleaned_data
        if not data.get("decision_outcome"):
            return None
        actions = []
        if data.get("action_type"):
            item: dict = {"type": data["action_type"]}
            duration = data.get("action_duration")
            if duration is not None:
                item["duration_hours"] = (
                    duration * 24 if data["action_unit"] != "hours" else duration
                )
            if data.get("action_feature"):
                item["feature"] = data["action_feature"]
            actions.append(item)
        return {
            "outcome": data["decision_outcome"],
            "policy_section": data.get("policy_section") or "",
            # The team's outcome text is the internal rationale of the decision.
            "rationale": data["outcome"],
            "statement_of_reasons": data.get("statement_of_reasons") or "",
            "actions": actions,
        }

    def add_service_errors(self, error) -> None:
        """Put ``escalation_resolve``'s (or ``decision_make``'s) errors on the fields."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for key, messages in error.message_dict.items():
            if key == "actions" or key.startswith("actions["):
                field = "action_type"
            elif key == "outcome" and self.cleaned_data.get("decision_outcome"):
                field = "decision_outcome"
            else:
                field = key if key in self.fields else None
            self.add_error(field, messages)
