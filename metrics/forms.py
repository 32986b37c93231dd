"""The metrics filters — period, queue, severity, reason — for the pages and the REST API.

One form validates them everywhere: the dashboard shows its errors beside the fields, the
API answers 400 with the same messages per field, or 404 when the only errors name something
that is not there (a queue the actor may not work, a period no report covers). A queue the
actor may not work is answered exactly like a queue that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.utils import timezone

from cases.models import Queue, ReportReason, Severity
from cases.selectors import queue_list

DEFAULT_DAYS = 30
MAX_DAYS = 366
RANGE_PRESETS = (7, 30, 90)
PERIOD_RULE = "period"
SEVERITY_CHOICES = [("", "Any severity")] + [(str(v), f"P{v}") for v in Severity.values]


@dataclass(frozen=True)
class MetricsFilters:
    date_from: date
    date_to: date
    queue: Queue | None = None
    severity: int | None = None
    reason: str = ""

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def as_query(self) -> dict[str, str]:
        """The filters as GET parameters (for links that keep them)."""
        query = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        if self.queue is not None:
            query["queue"] = self.queue.slug
        if self.severity is not None:
            query["severity"] = str(self.severity)
        if self.reason:
            query["reason"] = self.reason
        return query

    def describe(self) -> dict:
        """The filters as plain values (for CSV file names, the access log and the API)."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "queue": self.queue.slug if self.queue else None,
            "severity": self.severity,
            "reason": self.reason or None,
        }


def _period_error(message: str) -> forms.ValidationError:
    return forms.ValidationError(message, code=PERIOD_RULE)


def queue_slugs() -> list[str]:
    """Every case queue's slug, the ``queue`` values the API schema names; ``queue_list`` keeps
    those the actor may work, and the API answers another 404."""
    queues = Queue.objects.filter(active=True, kind=Queue.Kind.CASES)
    return sorted(queues.values_list("slug", flat=True))


def default_period(today: date | None = None) -> tuple[date, date]:
    """The last ``DEFAULT_DAYS`` days, today included."""
    today = today or timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


class MetricsFilterForm(forms.Form):
    """Filters of the metrics pages and API; unbound or empty fields take the defaults."""

    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    # The messages never repeat the value: "no such queue" reads the same for a queue that
    # does not exist and for one the actor may not see.
    queue = forms.ChoiceField(
        required=False, label="Queue", error_messages={"invalid_choice": "Unknown queue."}
    )
    severity = forms.TypedChoiceField(
        choices=SEVERITY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        label="Severity",
        error_messages={"invalid_choice": "Choose a severity from 0 (P0) to 3 (P3)."},
    )
    reason = forms.ChoiceField(
        required=False, label="Reason", error_messages={"invalid_choice": "Unknown reason."}
    )

    # "from" is a Python keyword: the fields are date_from/date_to, their inputs (the query
    # parameters, as in the API) are named from/to.
    PARAMETERS = {"date_from": "from", "date_to": "to"}

    def __init__(self, data=None, *, actor, **kwargs):
        super().__init__(data, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("id", f"filter-{self.PARAMETERS.get(name, name)}")
        self._queues = {q.slug: q for q in queue_list(actor=actor)}
        self.fields["queue"].choices = [("", "All queues")] + [
            (slug, q.name) for slug, q in self._queues.items()
        ]
        self.fields["reason"].choices = [("", "Any reason")] + list(
            ReportReason.objects.order_by("label").values_list("code", "label")
        )

    def clean_queue(self):
        # ChoiceField has already refused a slug that is not among the actor's queues.
        slug = self.cleaned_data.get("queue") or ""
        return self._queues.get(slug) if slug else None

    def clean(self):
        cleaned = super().clean()
        if "date_from" in self.errors or "date_to" in self.errors:
            return cleaned
        default_from, default_to = default_period()
        date_to = cleaned.get("date_to") or default_to
        date_from = cleaned.get("date_from") or (date_to - timedelta(days=DEFAULT_DAYS - 1))
        # Code "period": rules between the two days, which the API answers 404 (no such
        # period, see tsops.api.NoSuchPeriod) since its schema cannot state them.
        if date_to > default_to:
            self.add_error("date_to", _period_error("The period cannot end after today."))
        elif date_from > date_to:
            self.add_error(
                "date_from", _period_error("The period must start on or before its last day.")
            )
        elif (date_to - date_from).days + 1 > MAX_DAYS:
            self.add_error(
                "date_from", _period_error(f"Choose a period of at most {MAX_DAYS} days.")
            )
        cleaned["date_from"], cleaned["date_to"] = date_from, date_to
        return cleaned

    def filters(self) -> MetricsFilters:
        """The validated filters (call after ``is_valid()`` returned True)."""
        data = self.cleaned_data
        return MetricsFilters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            queue=data.get("queue"),
            severity=data.get("severity"),
            reason=data.get("reason") or "",
        )

    def add_prefix(self, field_name: str) -> str:
        return super().add_prefix(self.PARAMETERS.get(field_name, field_name))

    def not_found(self) -> str | None:
        """The first error's message when every error names something that is not there: a
        queue the actor may not work or a period no report covers (which the API answers
        404); None when any error breaks the schema (400)."""
        errors = [(name, error) for name, found in self.errors.as_data().items() for error in found]
        if not errors or not all(
            error.code == PERIOD_RULE or (name == "queue" and error.code == "invalid_choice")
            for name, error in errors
        ):
            return None
        return next(iter(errors[0][1]))

    def api_errors(self) -> dict[str, list[str]]:
        """Errors keyed by query parameter name (``from``, ``to``, ``queue``…)."""
        return {
            "non_field_errors" if name == "__all__" else self.PARAMETERS.get(name, name): list(
                errors
            )
            for name, errors in self.errors.items()
        }
