"""Input cleaning shared by the qa services."""

from __future__ import annotations


def clean_text(value, field: str, errors: dict, *, limit: int, required: bool = False) -> str:
    """``value`` stripped ("" for None); a non-text value, a missing required one or one
    longer than ``limit`` records its message on ``field`` in ``errors``."""
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        errors[field] = "Must be text."
        return ""
    if required and not text:
        errors[field] = "Required."
    elif len(text) > limit:
        errors[field] = f"At most {limit} characters."
    return text
