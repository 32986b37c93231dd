"""Template filters for a case's timeline: ``{% load cases_presentation %}``."""

from __future__ import annotations

from django import template

from cases import presentation

register = template.Library()


@register.filter
def event_label(kind: str | None) -> str:
    """``{{ event.kind|event_label }}``: "Claimed" for CASE_CLAIMED."""
    return presentation.event_label(kind)


@register.filter
def event_detail(event) -> str:
    """``{{ event|event_detail }}``: what the event's data says, in one line."""
    return presentation.event_detail(event)
