"""Response templates: seniors' rationale snippets and user-message templates per policy
section, versioned like policy sections, and the safe rendering of a message's variables.

A user message may use exactly the variables in :data:`VARIABLES`. Rendering never calls
``str.format`` on a template: :class:`string.Formatter` only parses the text, and each field
is looked up by its bare name in a dict of strings, so a template cannot reach attributes,
items or format specifications of anything.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from enforcement.appeal_window import appeal_deadline
from enforcement.catalogue import ACTIONS
from enforcement.models import PolicySection, ResponseTemplate
from enforcement.permissions import can_manage_response_templates
from enforcement.presentation import action_text
from enforcement.selectors import message_template_for
from tsops.errors import ConflictError
from tsops.presentation import hours_text

# The variables a user message may use, and what each becomes.
VARIABLES: dict[str, str] = {
    "section_title": "the policy section's title",
    "action": 'the actions in words, e.g. "suspend the account for 7 days"',
    "duration": 'how long the longest timed action lasts, e.g. "7 days"',
    "appeal_deadline": 'the last day to appeal, e.g. "3 January 2027"',
}
MAX_TITLE = 200
MAX_BODY = 5_000
NO_DURATION = "no set period"
PERMANENT = "permanently"


class TemplateConflict(ConflictError):
    pass


# --- Parsing and rendering ----------------------------------------------------------------


def _fields(body: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """The template's parts as :meth:`string.Formatter.parse` yields them, or a
    ValidationError on "body" naming the problem (an unmatched brace)."""
    try:
        return list(string.Formatter().parse(body))
    except ValueError as error:
        raise ValidationError(
            {"body": f"The text has an unmatched brace ({error}); write {{{{ or }}}} for one."}
        ) from None


def template_errors(kind: str, body: str) -> list[str]:
    """What is wrong with a template's text, in words (nothing for a valid one). Rationale
    snippets are plain text, inserted as written; a user message may use :data:`VARIABLES`."""
    if kind == ResponseTemplate.Kind.RATIONALE:
        return []
    try:
        parts = _fields(body)
    except ValidationError as error:
        return error.message_dict["body"]
    errors = []
    allowed = ", ".join("{" + name + "}" for name in VARIABLES)
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in VARIABLES:
            shown = "{" + name + "}" if name else "{}"
            errors.append(f"Unknown variable {shown}: use one of {allowed}.")
        elif spec or conversion:
            errors.append(f"Write {{{name}}} without a format or conversion.")
    return list(dict.fromkeys(errors))


def template_render(body: str, values: dict[str, str]) -> str:
    """The message with each ``{name}`` replaced by ``values[name]`` (a validated body)."""
    out = []
    for literal, name, _spec, _conversion in _fields(body):
        out.append(literal)
        if name is not None:
            out.append(str(values.get(name, "")))
    return "".join(out)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def message_values(
    section: PolicySection, requests: list, *, at: datetime | None = None
) -> dict[str, str]:
    """The variables of a user message for a decision under ``section`` with ``requests``
    (``ActionRequest``-like: action_type, duration_hours, feature), the appeal window counted
    from ``at``."""
    texts = [
        _lower_first(action_text(r.action_type, r.duration_hours, r.feature)) for r in requests
    ]
    timed = [r.duration_hours for r in requests if r.duration_hours]
    if timed:
        duration = hours_text(max(timed))
    elif any(ACTIONS[r.action_type].dsa_value == "DECISION_ACCOUNT_TERMINATED" for r in requests):
        duration = PERMANENT
    else:
        duration = NO_DURATION
    closes = timezone.localtime(appeal_deadline(at or timezone.now()))
    return {
        "section_title": section.title,
        "action": " and ".join(texts) if texts else "take no action",
        "duration": duration,
        "appeal_deadline": f"{closes.day} {closes:%B %Y}",
    }


@dataclass(frozen=True)
class MessageDraft:
    text: str
    template: ResponseTemplate


def message_draft(
    section: PolicySection, requests: list, *, at: datetime | None = None
) -> MessageDraft | None:
    """The section's active user-message template rendered for these actions, or None when
    the section has none."""
    template = message_template_for(section)
    if template is None:
        return None
    return MessageDraft(
        template_render(template.body, message_values(section, requests, at=at)), template
    )


# --- Writes -------------------------------------------------------------------------------


def _check_manage(actor) -> None:
    if not can_manage_response_templates(actor):
        raise PermissionDenied("Response templates are kept by seniors.")


def _clean(*, kind: str, title: str, body: str) -> tuple[str, str]:
    """The stripped title and body, or every input error at once."""
    title = (title or "").strip()
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if kind not in ResponseTemplate.Kind.values:
        errors["kind"] = [f"One of {', '.join(ResponseTemplate.Kind.labels)}."]
    if not title:
        errors["title"] = ["Give the template a title."]
    elif len(title) > MAX_TITLE:
        errors["title"] = [f"At most {MAX_TITLE} characters."]
    if not body:
        errors["body"] = ["The text is required."]
    elif len(body) > MAX_BODY:
        errors["body"] = [f"At most {MAX_BODY} characters."]
    elif "\x00" in body or "\x00" in title:
        errors["body"] = ["The text may not contain NUL characters."]
    elif problems := template_errors(kind, body):
        errors["body"] = problems
    if errors:
        raise ValidationError(errors)
    return title, body


def response_template_create(
    *, actor, section_code: str, kind: str, title: str, body: str
) -> ResponseTemplate:
    """A new template (its version 1) for a current policy section."""
    _check_manage(actor)
    title, body = _clean(kind=kind, title=title, body=body)
    if not PolicySection.objects.filter(code=section_code, superseded_at__isnull=True).exists():
        raise ValidationError({"section_code": f"No current policy section {section_code!r}."})
    return ResponseTemplate.objects.create(
        section_code=section_code, kind=kind, title=title, body=body, created_by=actor
    )


def _lock_current(template_id: int) -> ResponseTemplate:
    """The current version of the template ``template_id`` is a version of, locked."""
    key = ResponseTemplate.objects.filter(pk=template_id).values_list("key", flat=True).first()
    current = (
        ResponseTemplate.objects.select_for_update()
        .filter(key=key, superseded_at__isnull=True)
        .first()
    )
    if key is None or current is None:
        raise Http404("No such template.")
    return current


def response_template_revise(*, actor, template_id: int, title: str, body: str) -> ResponseTemplate:
    """Revise a template: a new current version; the previous one stays, unchanged, with the
    decisions drafted from it. Unchanged text changes nothing."""
    _check_manage(actor)
    with transaction.atomic():
        current = _lock_current(template_id)
        if current.retired_at is not None:
            raise TemplateConflict("A retired template cannot be revised; create a new one.")
        title, body = _clean(kind=current.kind, title=title, body=body)
        if (title, body) == (current.title, current.body):
            return current
        now = timezone.now()
        ResponseTemplate.objects.filter(pk=current.pk).update(superseded_at=now, updated_at=now)
        return ResponseTemplate.objects.create(
            key=current.key,
            section_code=current.section_code,
            kind=current.kind,
            title=title,
            body=body,
            version=current.version + 1,
            created_by=actor,
            created_at=now,
        )


def response_template_retire(*, actor, template_id: int) -> ResponseTemplate:
    """Take a template out of use (its versions stay, for the decisions that used them)."""
    _check_manage(actor)
    with transaction.atomic():
        current = _lock_current(template_id)
        if current.retired_at is None:
            current.retired_at = timezone.now()
            current.save(update_fields=["retired_at", "updated_at"])
    return current
