"""Input of the response-template pages: parse and bound-check, then hand over to
:mod:`enforcement.responses` (which owns the rules, the variables among them)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from enforcement.models import PolicySection, ResponseTemplate
from enforcement.responses import MAX_BODY, MAX_TITLE, VARIABLES


def _body_widget() -> forms.Textarea:
    """The text, previewed live: htmx posts the form to the preview on each pause in typing."""
    return forms.Textarea(
        attrs={
            "rows": 8,
            "maxlength": MAX_BODY,
            "hx-post": reverse("enforcement:response-template-preview"),
            "hx-trigger": "load, input changed delay:400ms",
            "hx-target": "#template-preview",
            "hx-include": "closest form",
            "aria-describedby": "template-variables",
        }
    )


class ResponseTemplateForm(forms.Form):
    """A new template: its section, kind, title and text."""

    section_code = forms.ChoiceField(label="Policy section")
    kind = forms.ChoiceField(label="Kind", choices=ResponseTemplate.Kind.choices)
    title = forms.CharField(label="Title", max_length=MAX_TITLE)
    body = forms.CharField(label="Text", max_length=MAX_BODY, strip=False)

    def __init__(self, *args, sections: list[PolicySection], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["section_code"].choices = [(s.code, f"{s.code} {s.title}") for s in sections]
        self.fields["body"].widget = _body_widget()

    def add_service_errors(self, error: ValidationError) -> None:
        for key, messages in getattr(error, "message_dict", {"body": error.messages}).items():
            self.add_error(key if key in self.fields else None, messages)


class ResponseTemplateReviseForm(ResponseTemplateForm):
    """A revision: title and text only (section and kind stay those of the template)."""

    def __init__(self, *args, template: ResponseTemplate, **kwargs):
        super().__init__(*args, sections=[], **kwargs)
        # Section and kind are the template's own (the page sends them, hidden, to the preview).
        del self.fields["section_code"]
        del self.fields["kind"]
        self.template = template


class PreviewForm(forms.Form):
    """What the live preview renders (nothing is saved)."""

    kind = forms.ChoiceField(choices=ResponseTemplate.Kind.choices, required=False)
    section_code = forms.CharField(max_length=20, required=False)
    body = forms.CharField(max_length=MAX_BODY, required=False, strip=False)


VARIABLE_HELP = [("{" + name + "}", meaning) for name, meaning in VARIABLES.items()]
