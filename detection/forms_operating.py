"""The window of the operating points, as pages and the API take it: ``from`` and ``to``."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from detection.selectors.operating import Window

# The longest window one reading covers (a year of flags).
MAX_DAYS = 366


class OperatingWindowForm(forms.Form):
    """``from``/``to`` (both optional, days included). A malformed date is a field error; a
    well-formed pair that names no window (``to`` before ``from``, longer than
    :data:`MAX_DAYS`, ending after today) is :meth:`no_such_period`."""

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["from"] = forms.DateField(
            required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
        )

    def window(self) -> Window:
        today = timezone.now().date()
        date_to = self.cleaned_data.get("to") or today
        default_days = settings.TSOPS_DETECTOR_WINDOW_DAYS
        date_from = self.cleaned_data.get("from") or date_to - timedelta(days=default_days - 1)
        return Window(date_from, date_to)

    def no_such_period(self) -> str:
        """Why the valid dates name no window, or "" when they name one."""
        window = self.window()
        if window.date_to > timezone.now().date():
            return "The window ends after today."
        if window.date_to < window.date_from:
            return "`to` is before `from`."
        if (window.date_to - window.date_from).days + 1 > MAX_DAYS:
            return f"The window is longer than {MAX_DAYS} days."
        return ""
