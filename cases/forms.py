"""Input of the queue and case pages: parse and bound-check, then hand over to a service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from cases.models import Case, Evidence, Queue, ReportReason, Severity
from cases.selectors import CaseFilters

SEVERITY_CHOICES = [("", "Any severity")] + [(str(v), f"P{v}") for v in Severity.values]
STATUS_TABS = [
    (Case.Status.NEW.value, "New"),
    (Case.Status.IN_REVIEW.value, "In review"),
    ("open", "All open"),
]
SOURCE_CHOICES = [("", "Automated or human"), ("automated", "Automated"), ("human", "Human")]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Cursor:
    """Where a queue page ends, in the queue's sort order: severity, -priority, deadline,
    -reports, id.

    Written into "next page" links as
    ``<severity>.<priority>.<deadline µs since epoch>.<reports>.<id>``, so the next page
    starts after the last row seen instead of counting rows to skip.
    """

    def __init__(
        self, severity: int, priority: int, resolve_due: datetime, report_count: int, case_id: int
    ):
        self.severity = severity
        self.priority = priority
        self.resolve_due = resolve_due
        self.report_count = report_count
        self.case_id = case_id

    @classmethod
    def after(cls, case: Case) -> Cursor:
        return cls(case.severity, case.priority, case.resolve_due, case.report_count, case.pk)

    @classmethod
    def parse(cls, value: str) -> Cursor | None:
        try:
            severity, priority, micros, reports, case_id = (int(part) for part in value.split("."))
        except ValueError:
            return None
        if abs(micros) > 10**17 or abs(priority) > 2**15:
            return None
        return cls(severity, priority, _EPOCH + timedelta(microseconds=micros), reports, case_id)

    def __str__(self) -> str:
        micros = (self.resolve_due - _EPOCH) // timedelta(microseconds=1)
        return f"{self.severity}.{self.priority}.{micros}.{self.report_count}.{self.case_id}"

    def q(self) -> Q:
        """Rows sorting strictly after this cursor (the leading range lets an index seek)."""
        s, p, d, r, i = (
            self.severity,
            self.priority,
            self.resolve_due,
            self.report_count,
            self.case_id,
        )
        return Q(severity__gte=s) & (
            Q(severity__gt=s)
            | Q(priority__lt=p)
            | Q(priority=p, resolve_due__gt=d)
            | Q(priority=p, resolve_due=d, report_count__lt=r)
            | Q(priority=p, resolve_due=d, report_count=r, pk__gt=i)
        )


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_TABS, required=False)
    severity = forms.TypedChoiceField(
        choices=SEVERITY_CHOICES, coerce=int, empty_value=None, required=False
    )
    reason = forms.ChoiceField(required=False)
    source = forms.ChoiceField(choices=SOURCE_CHOICES, required=False)
    tag = forms.CharField(max_length=50, required=False)
    breached = forms.BooleanField(required=False, label="Breached only")
    after = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [("", "Any reason")] + [
            (code, label) for code, label in ReportReason.objects.values_list("code", "label")
        ]

    def filters(self) -> CaseFilters:
        """The valid part of the query (an invalid filter is ignored rather than failing)."""
        data = self._valid_data()
        return CaseFilters(
            status=data.get("status") or Case.Status.NEW,
            severity=data.get("severity"),
            reason=data.get("reason", ""),
            source=data.get("source", ""),
            tag=(data.get("tag") or "").strip().lower(),
            breached=bool(data.get("breached")),
        )

    def cursor(self) -> Cursor | None:
        after = self._valid_data().get("after")
        return Cursor.parse(after) if after else None

    def _valid_data(self) -> dict:
        # A bound form keeps its valid fields in cleaned_data even when another one fails.
        if not self.is_bound:
            return {}
        self.is_valid()
        return self.cleaned_data


class CaseIdsField(forms.Field):
    """The ticked rows of a queue page: a list of case ids."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        try:
            return sorted({int(v) for v in value})
        except (TypeError, ValueError):
            raise forms.ValidationError("Invalid case selection.") from None


class BulkForm(forms.Form):
    OPERATIONS = [
        ("move", "Move to queue"),
        ("tag", "Add tag"),
        ("assign", "Assign to member"),
        ("release", "Release"),
    ]

    cases = CaseIdsField(required=False)
    operation = forms.ChoiceField(choices=OPERATIONS)
    queue = forms.ModelChoiceField(queryset=Queue.objects.none(), required=False)
    tag = forms.CharField(max_length=50, required=False)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, to_field_name="username"
    )
    back = forms.CharField(max_length=500, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, queues, queue: Queue, **kwargs):
        super().__init__(*args, **kwargs)
        # Move targets: queues of the same team (a restricted case never leaves its team).
        self.fields["queue"].queryset = Queue.objects.filter(
            pk__in=[q.pk for q in queues if q.team == queue.team]
        ).order_by("name")
        groups = [queue.team] if queue.team else list(queue.allowed_roles)
        self.fields["assignee"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__name__in=groups)
            .distinct()
            .order_by("username")
        )
        self.fields["assignee"].label_from_instance = lambda user: user.get_username()


class CaseEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    tags = forms.CharField(
        max_length=500, required=False, help_text="Comma-separated", label="Tags"
    )
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    queue = forms.ModelChoiceField(queryset=Queue.objects.none(), empty_label=None)

    def __init__(self, *args, queues, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = Queue.objects.filter(
            Q(pk__in=[q.pk for q in queues if q.team == case.team]) | Q(pk=case.queue_id)
        ).order_by("name")

    @classmethod
    def for_case(cls, case: Case, queues) -> CaseEditForm:
        return cls(
            initial={
                "version": case.version,
                "tags": ", ".join(case.tags),
                "severity": case.severity,
                "queue": case.queue_id,
            },
            queues=queues,
            case=case,
        )

    def clean_tags(self) -> list[str]:
        tags = [t.strip() for t in self.cleaned_data.get("tags", "").split(",") if t.strip()]
        if any(len(t) > 50 for t in tags):
            raise forms.ValidationError("A tag is at most 50 characters.")
        return tags


class NoteForm(forms.Form):
    body = forms.CharField(
        max_length=20_000, widget=forms.Textarea(attrs={"rows": 3}), label="Internal note"
    )


class ReleaseForm(forms.Form):
    skip = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=1000, required=False)


class RevealForm(forms.Form):
    reason = forms.CharField(max_length=1000, required=False)


class EvidenceForm(forms.Form):
    """Evidence an analyst adds: a URL or excerpt, or a media file (then its kind is media and
    the excerpt, if any, is its caption). The page's form needs
    ``enctype="multipart/form-data"`` for the file to arrive."""

    kind = forms.ChoiceField(choices=Evidence.Kind.choices)
    url = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    excerpt = forms.CharField(max_length=20_000, required=False, widget=forms.Textarea)
    file = forms.FileField(
        required=False,
        allow_empty_file=False,
        label="Media file",
        help_text="An image is hashed, thumbnailed and blurred if sensitive; any other file is "
        "kept for download only.",
    )
    sensitive = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("file"):
            data["kind"] = Evidence.Kind.MEDIA
        elif data.get("kind") == Evidence.Kind.MEDIA and not data.get("url"):
            # A media reference may still be a URL only (as before files were taken).
            self.add_error("file", "Choose the media file to add (or give its URL).")
        return data


class SearchForm(forms.Form):
    """The search page: words or ids, and filters that narrow what the words found (or list
    every visible case that matches them when no words are given). Queue choices are the
    queues the searcher may work."""

    q = forms.CharField(max_length=200, required=False, label="Case id, subject id or words")
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("open", "Open (any)"), *Case.Status.choices],
    )
    queue = forms.ChoiceField(required=False, choices=[("", "Any queue")])
    reason = forms.ChoiceField(required=False, choices=[("", "Any reason")])
    severity = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any severity"), *[(str(v), label) for v, label in Severity.choices]],
    )
    created_from = forms.DateField(required=False, label="Opened from")
    created_to = forms.DateField(required=False, label="Opened to")
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)

    FILTERS = ("status", "queue", "reason", "severity", "created_from", "created_to")

    def __init__(self, *args, queues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", "Any queue"), *[(q.slug, q.name) for q in queues]]
        reasons = ReportReason.objects.order_by("label").values_list("code", "label")
        self.fields["reason"].choices = [("", "Any reason"), *reasons]
        for name in ("created_from", "created_to"):
            self.fields[name].widget.input_type = "date"

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and end < start:
            self.add_error("created_to", "The end of the range is before its start.")
        return data

    def has_filters(self) -> bool:
        return any(self.cleaned_data.get(name) not in (None, "") for name in self.FILTERS)
