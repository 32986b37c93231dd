"""Codes, durations and dates as a person reads them: ``{% load labels %}``.

``{{ case.reason|reason_label }}``, ``{{ report.source|source_label }}``,
``{{ action.action_type|action_label }}``, ``{{ decision.outcome|outcome_label }}``,
``{{ review.error_types|qa_error_label }}`` (a list reads as a list), any vocabulary by name
with ``{{ code|label:"case_status" }}``; ``{{ delta|duration_text }}`` ("28 days 16 hours"),
``{{ hours|duration_text:"hours" }}`` ("7 days"); ``{{ moment|when }}`` (a ``<time>`` that
never wraps). The vocabularies are registered by the apps that own the codes
(:func:`tsops.presentation.vocabulary_register`).
"""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from tsops import presentation

register = template.Library()


@register.filter
def label(code, vocabulary: str) -> str:
    """``{{ code|label:"appeal_status" }}``: the code's label in the named vocabulary."""
    return presentation.label_for(vocabulary, code)


def _vocabulary_filter(name: str, vocabulary: str, doc: str) -> None:
    def filter_(code) -> str:
        return presentation.label_for(vocabulary, code)

    filter_.__name__ = name
    filter_.__doc__ = doc
    register.filter(name, filter_)


# Filter name -> (vocabulary, what it names).
VOCABULARY_FILTERS: dict[str, tuple[str, str]] = {
    "reason_label": ("reason", "A report reason: violent_threat -> Violent threat."),
    "source_label": ("source", "A report source: user_report -> User report."),
    "action_label": ("action", "An action type: remove_content -> Remove content."),
    "outcome_label": ("outcome", "A decision or appeal outcome: no_violation -> No violation."),
    "qa_error_label": ("qa_error", "A QA error type (or a list of them)."),
    "case_status_label": ("case_status", "A case status: pending_approval -> Pending approval."),
    "action_status_label": ("action_status", "An enforcement action's status."),
    "appeal_status_label": ("appeal_status", "An appeal's status."),
    "escalation_status_label": ("escalation_status", "An escalation's status."),
    "feature_label": ("feature", "A restricted feature: live_streaming -> Live streaming."),
    "kind_label": ("kind", "A subject, identifier or evidence kind: account -> Account."),
}
for _name, (_vocabulary, _doc) in VOCABULARY_FILTERS.items():
    _vocabulary_filter(_name, _vocabulary, _doc)


@register.filter
def duration_text(value, unit: str = "") -> str:
    """A timedelta, an (amount, unit) pair, or a number of ``unit`` in words: "7 days"."""
    return presentation.duration_text(value, unit or None)


@register.filter
def when(value, fmt: str = "Y-m-d H:i") -> str:
    """A date or time as ``<time class="nowrap" datetime="…">`` in the console's time zone."""
    if not value:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        iso = value.isoformat()
    elif isinstance(value, date):
        iso = value.isoformat()
        if fmt == "Y-m-d H:i":
            fmt = "Y-m-d"
    else:
        return str(value)
    return format_html('<time class="nowrap" datetime="{}">{}</time>', iso, date_format(value, fmt))
