"""The labelled-data export's input: a period of days and, optionally, one split."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from detection.selectors.labels import SPLITS, LabelPeriod

DATE_ERROR = "A date in the format YYYY-MM-DD is required."
# Code "period": rules between the two days, which the API answers 404 (no such period, see
# tsops.api.NoSuchPeriod) since its schema cannot state them.
PERIOD = "period"


class LabelExportForm(forms.Form):
    """``from`` and ``to`` (both days included, in the console's time zone) and ``split``."""

    split = forms.ChoiceField(
        label="Split",
        required=False,
        choices=[("", "All rows (each marked with its split)")] + [(s, s.title()) for s in SPLITS],
        error_messages={"invalid_choice": f"Choose one of {', '.join(SPLITS)}, or none."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the date fields are added here rather than declared.
        dates = {}
        for name, label in (("from", "From"), ("to", "To (included)")):
            dates[name] = forms.DateField(
                label=label,
                input_formats=["%Y-%m-%d"],
                error_messages={"required": DATE_ERROR, "invalid": DATE_ERROR},
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )
        self.fields = {**dates, **self.fields}
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("id", f"labels-{name}")

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("from"), cleaned.get("to")
        if first and last:
            limit = settings.TSOPS_LABEL_EXPORT_MAX_DAYS
            if first > last:
                self.add_error(
                    "to", forms.ValidationError("Must be on or after from.", code=PERIOD)
                )
            elif last == date.max:
                # The day after it, where the period ends, is past the calendar's end.
                self.add_error("to", forms.ValidationError("No such day to end on.", code=PERIOD))
            elif (last - first).days + 1 > limit:
                self.add_error(
                    "to",
                    forms.ValidationError(f"Choose a period of at most {limit} days.", code=PERIOD),
                )
        return cleaned

    def only_period_errors(self) -> bool:
        """Whether every error is a period rule (answered 404 by the API, not 400)."""
        errors = [error for found in self.errors.as_data().values() for error in found]
        return bool(errors) and all(error.code == PERIOD for error in errors)

    def days(self) -> tuple[date, date]:
        return self.cleaned_data["from"], self.cleaned_data["to"]

    def period(self) -> LabelPeriod:
        """The days as [start of ``from``, start of the day after ``to``) in local time."""
        first, last = self.days()
        zone = timezone.get_current_timezone()
        return LabelPeriod(
            start=datetime.combine(first, time.min, tzinfo=zone),
            end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
            shares=settings.TSOPS_LABEL_SPLITS,
        )

    def chosen_split(self) -> str:
        return self.cleaned_data.get("split") or ""
