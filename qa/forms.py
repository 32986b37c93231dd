"""Forms of the QA pages: sampling plans, the blind answer, the rubric score, feedback."""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib.auth import get_user_model

from cases.models import Queue, ReportReason
from enforcement import catalogue
from enforcement.models import Decision, PolicySection
from qa import stats
from qa.models import ErrorType, Rubric, SamplingPlan
from tsops import roles

CONFIDENCE_CHOICES = [("0.900", "90%"), ("0.950", "95%"), ("0.990", "99%")]


def _action_choices() -> list[tuple[str, str]]:
    return [(code, spec.label) for code, spec in catalogue.ACTIONS.items()]


def _section_choices() -> list[tuple[str, str]]:
    sections = PolicySection.objects.filter(superseded_at__isnull=True).order_by("code")
    return [("", "— none —")] + [(s.code, f"{s.code} · {s.title}") for s in sections]


class SamplingPlanForm(forms.ModelForm):
    """A plan's scope, size, stratification and always-include rules."""

    queues = forms.ModelMultipleChoiceField(
        queryset=Queue.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every queue",
    )
    reasons = forms.MultipleChoiceField(
        choices=(), required=False, widget=forms.CheckboxSelectMultiple
    )
    action_types = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only decisions with one of these actions (none ticked: any)",
    )
    analysts = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    roles = forms.MultipleChoiceField(
        choices=[(r, roles.ROLE_LABELS[r]) for r in (roles.ASSOCIATE, roles.ANALYST, roles.SENIOR)],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only decisions by members of these roles (none ticked: any)",
    )
    team = forms.ChoiceField(choices=(), required=False)
    confidence = forms.TypedChoiceField(
        choices=CONFIDENCE_CHOICES, coerce=str, initial="0.950", required=False
    )
    always_action_types = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Every decision with one of these actions is reviewed",
    )

    class Meta:
        model = SamplingPlan
        fields = [
            "name",
            "active",
            "rubric",
            "period",
            "queues",
            "reasons",
            "action_types",
            "analysts",
            "roles",
            "decision_kind",
            "team",
            "size_mode",
            "fixed_size",
            "confidence",
            "margin",
            "expected_rate",
            "stratify_by",
            "always_action_types",
            "always_new_analyst_days",
        ]
        widgets = {"margin": forms.NumberInput(attrs={"step": "0.005", "min": "0.005"})}

    def __init__(self, *args, queues, teams: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queues"].queryset = Queue.objects.filter(pk__in=[q.pk for q in queues])
        self.fields["reasons"].choices = list(
            ReportReason.objects.order_by("code").values_list("code", "label")
        )
        self.fields["action_types"].choices = _action_choices()
        self.fields["always_action_types"].choices = _action_choices()
        self.fields["analysts"].queryset = (
            get_user_model()
            .objects.filter(
                is_active=True, groups__name__in=[roles.ASSOCIATE, roles.ANALYST, roles.SENIOR]
            )
            .distinct()
            .order_by("username")
        )
        labels = roles.team_labels()
        self.fields["team"].choices = [("", "— non-restricted decisions —")] + [
            (t, labels.get(t, t)) for t in teams
        ]
        self.fields["rubric"].queryset = Rubric.objects.filter(active=True)
        if self.instance.pk is None:
            self.fields["rubric"].initial = Rubric.objects.filter(active=True).first()

    FIELDSETS = (
        ("Plan", ("name", "active", "rubric", "period")),
        (
            "Size",
            ("size_mode", "fixed_size", "confidence", "margin", "expected_rate", "stratify_by"),
        ),
        (
            "Scope",
            ("queues", "reasons", "action_types", "analysts", "roles", "decision_kind", "team"),
        ),
        ("Always include", ("always_action_types", "always_new_analyst_days")),
    )

    def fieldsets(self) -> list[tuple[str, list]]:
        return [(legend, [self[name] for name in names]) for legend, names in self.FIELDSETS]

    def clean_margin(self):
        margin = self.cleaned_data.get("margin")
        if margin is not None and not 0 < margin < 1:
            raise forms.ValidationError("Between 0 and 1 (0.05 is ±5 percentage points).")
        return margin

    def clean_expected_rate(self):
        rate = self.cleaned_data.get("expected_rate")
        if rate is not None and not 0 < rate < 1:
            raise forms.ValidationError("Between 0 and 1 (0.5 when unknown).")
        return rate

    def clean(self):
        data = super().clean()
        if data.get("size_mode") == SamplingPlan.SizeMode.FIXED and not data.get("fixed_size"):
            self.add_error("fixed_size", "A fixed-size plan needs a size above 0.")
        if data.get("size_mode") == SamplingPlan.SizeMode.MARGIN and not data.get("confidence"):
            self.add_error("confidence", "Choose a confidence level.")
        return data


def margin_size_preview(plan: SamplingPlan, population: int | None) -> int | None:
    """The n the page shows beside a margin-of-error plan."""
    if plan.size_mode != SamplingPlan.SizeMode.MARGIN:
        return None
    return stats.sample_size(
        confidence=float(plan.confidence),
        margin=float(plan.margin),
        p=float(plan.expected_rate),
        population=population,
    )


class BlindAnswerForm(forms.Form):
    outcome = forms.ChoiceField(choices=Decision.Outcome.choices, widget=forms.RadioSelect)
    policy_section = forms.ChoiceField(choices=(), required=False)
    action = forms.ChoiceField(choices=(), required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy_section"].choices = _section_choices()
        self.fields["action"].choices = [("", "— no action —")] + _action_choices()


class ScoreForm(forms.Form):
    """One pass/fail radio per rubric criterion, error types and notes."""

    error_types = forms.MultipleChoiceField(
        choices=ErrorType.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Shown to the analyst with the result",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, criteria: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for criterion in criteria:
            self.fields[f"criterion_{criterion['key']}"] = forms.TypedChoiceField(
                label=criterion["label"],
                help_text=criterion["help"],
                choices=[("pass", "Pass"), ("fail", "Fail")],
                coerce=lambda value: value == "pass",
                widget=forms.RadioSelect,
            )

    def criterion_fields(self):
        return [self[f"criterion_{c['key']}"] for c in self.criteria]

    def scores(self) -> dict[str, bool]:
        return {c["key"]: self.cleaned_data[f"criterion_{c['key']}"] for c in self.criteria}


class DisputeForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class AdjudicateForm(forms.Form):
    verdict = forms.ChoiceField(
        choices=[
            ("uphold", "Uphold the review (the decision stays failed)"),
            ("overturn", "Overturn the review (the decision passes)"),
        ],
        widget=forms.RadioSelect,
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class ReverseForm(forms.Form):
    action_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class RatesFilterForm(forms.Form):
    group_by = forms.ChoiceField(
        choices=[
            ("analyst", "Analyst"),
            ("queue", "Queue"),
            ("policy_section", "Policy section"),
            ("period", "Week"),
            ("inclusion", "How it was sampled"),
        ],
        required=False,
    )
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    include_targeted = forms.BooleanField(
        required=False, label="Include always-included (targeted) reviews"
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end is before the start.")
        return data

    def range(self) -> tuple[date | None, date | None]:
        return self.cleaned_data.get("start"), self.cleaned_data.get("end")
