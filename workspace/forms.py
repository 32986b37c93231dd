"""Input of the workspace pages."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms

from cases.models import Queue
from workspace import selectors
from workspace.services import MAX_EXTRA_CASES, MAX_EXTRA_MINUTES

MAX_CASE_IDS = 200
FIRST_DAY = date(2020, 1, 1)


class DayForm(forms.Form):
    """The day a lead looks at (default today; not in the future)."""

    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean_day(self) -> date:
        day = self.cleaned_data.get("day") or selectors.today()
        if day > selectors.today():
            raise forms.ValidationError("Choose today or an earlier day.")
        if day < FIRST_DAY:
            raise forms.ValidationError("Choose a day since 2020.")
        return day


class OverrideForm(forms.Form):
    """A senior's extension of one reviewer's budget for today."""

    reviewer = forms.ModelChoiceField(queryset=None, label="Reviewer")
    queue = forms.ModelChoiceField(queryset=None, label="Graphic queue")
    extra_minutes = forms.IntegerField(
        min_value=0, max_value=MAX_EXTRA_MINUTES, initial=15, label="Extra minutes"
    )
    extra_cases = forms.IntegerField(
        min_value=0, max_value=MAX_EXTRA_CASES, initial=0, label="Extra cases"
    )
    reason = forms.CharField(
        max_length=1000, min_length=5, widget=forms.Textarea(attrs={"rows": 2}), label="Why"
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].queryset = selectors.reviewers_for(actor=actor)
        queues = [q.pk for q in selectors.graphic_queues_for(actor=actor)]
        self.fields["queue"].queryset = Queue.objects.filter(pk__in=queues).order_by("name")


class CaseIdsField(forms.Field):
    """Repeated ``case=<id>`` parameters: whole numbers, each once."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        ids = []
        for item in value or []:
            if not (isinstance(item, str) and item.isdigit() and len(item) < 12):
                raise forms.ValidationError("Case ids are whole numbers.")
            ids.append(int(item))
        ids = list(dict.fromkeys(ids))
        if len(ids) > MAX_CASE_IDS:
            raise forms.ValidationError(f"At most {MAX_CASE_IDS} cases.")
        return ids


class CaseIdsForm(forms.Form):
    """The case ids of a queue page's rows, whose presence cells it refreshes."""

    case = CaseIdsField(required=False)


def day_links(day: date) -> dict[str, date | None]:
    """The days before and after ``day`` a lead can step to (none after today)."""
    after = day + timedelta(days=1)
    return {
        "previous": day - timedelta(days=1),
        "next": after if after <= selectors.today() else None,
    }
