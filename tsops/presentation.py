"""How durations read on every page: one wording for deadlines, leases and ages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta


def short_duration(delta: timedelta) -> str:
    """A compact duration for a table cell: "2 d 4 h", "3 h 20 m", "12 m" (sign dropped)."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m"


def relative_text(moment: datetime, now: datetime) -> str:
    """A deadline against now: "in 3 h 20 m" or "2 d 4 h ago"."""
    left = short_duration(moment - now)
    return f"{left} ago" if moment < now else f"in {left}"


def hours_text(hours: int | None) -> str:
    """A whole number of hours in words: "72 hours", "7 days" (whole days read as days)."""
    if not hours:
        return ""
    days, rest = divmod(hours, 24)
    if days and not rest:
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{hours} hour" + ("s" if hours != 1 else "")


# --- Durations in words ----------------------------------------------------------------------

# The units a person chooses a duration in, each with its length in minutes.
UNIT_MINUTES: dict[str, int] = {"minute": 1, "hour": 60, "day": 24 * 60, "week": 7 * 24 * 60}
_UNIT_ALIASES = {
    "m": "minute",
    "min": "minute",
    "minutes": "minute",
    "h": "hour",
    "hours": "hour",
    "d": "day",
    "days": "day",
    "w": "week",
    "weeks": "week",
}


def amount_text(amount: int, unit: str) -> str:
    """``amount`` of ``unit`` in words, pluralised: "1 day", "7 days", "0 hours"."""
    unit = _UNIT_ALIASES.get(unit, unit)
    if unit not in UNIT_MINUTES:
        raise ValueError(f"unknown duration unit {unit!r}")
    return f"{amount} {unit}" + ("" if amount == 1 else "s")


def duration_text(value, unit: str | None = None, parts: int = 2) -> str:
    """A duration as a person reads it: "7 days", "3 hours 20 minutes", "45 minutes".

    ``value`` is a timedelta (the largest units first, at most ``parts`` of them, the sign
    dropped), an ``(amount, unit)`` pair, or a number of ``unit`` (hours when no unit is
    given), which stays in its unit ("36 hours") unless it is whole days ("7 days", never
    "168 hours": durations are stored in hours, chosen in days). The empty value reads "".
    """
    if value is None or value == "":
        return ""
    if isinstance(value, tuple | list):
        value, unit = value
    if not isinstance(value, timedelta):
        unit = _UNIT_ALIASES.get(unit or "hour", unit or "hour")
        amount = int(value)
        minutes = amount * UNIT_MINUTES[unit]
        if minutes and minutes % UNIT_MINUTES["day"] == 0 and unit != "week":
            return amount_text(minutes // UNIT_MINUTES["day"], "day")
        return amount_text(amount, unit)
    total = int(abs(value.total_seconds()) // 60)
    if total == 0:
        return "under a minute" if value else "0 minutes"
    words = []
    for name in ("day", "hour", "minute"):
        count, total = divmod(total, UNIT_MINUTES[name])
        if count:
            words.append(amount_text(count, name))
        elif words:
            # "2 days 0 hours 5 minutes" reads as "2 days": stop at the first gap.
            break
        if len(words) == parts:
            break
    return " ".join(words)


# --- Codes in words --------------------------------------------------------------------------

# A vocabulary maps the stored codes of one kind (report reasons, action types, outcomes…) to
# the words a person reads. The app that owns the codes registers its vocabularies from its
# AppConfig.ready(); pages read them through the ``labels`` template library.
VocabularyProvider = Callable[[], Mapping[str, str]]
_VOCABULARIES: dict[str, list[VocabularyProvider]] = {}


def vocabulary_register(name: str, provider: VocabularyProvider) -> None:
    """Let ``provider`` (called on each lookup; cache inside it) name the codes of ``name``."""
    providers = _VOCABULARIES.setdefault(name, [])
    if provider not in providers:
        providers.append(provider)


def vocabulary(name: str) -> dict[str, str]:
    """Every code of vocabulary ``name`` with its label (empty for an unknown vocabulary)."""
    merged: dict[str, str] = {}
    for provider in _VOCABULARIES.get(name, ()):
        merged.update(provider())
    return merged


def vocabulary_names() -> list[str]:
    return sorted(_VOCABULARIES)


def humanize_code(code) -> str:
    """The last resort for a code no vocabulary knows: "violent_threat" -> "Violent threat"."""
    text = str(code).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def label_for(name: str, code) -> str:
    """The label of ``code`` in vocabulary ``name``; a list of codes reads as a list of labels."""
    if code is None or code == "":
        return ""
    if isinstance(code, list | tuple | set):
        return ", ".join(label_for(name, item) for item in code)
    for provider in _VOCABULARIES.get(name, ()):
        label = provider().get(str(code))
        if label:
            return str(label)
    return humanize_code(code)


def choices_vocabulary(choices) -> VocabularyProvider:
    """A provider for a Django ``TextChoices`` (or any ``(code, label)`` pairs)."""
    table = {str(code): str(label) for code, label in getattr(choices, "choices", choices)}
    return lambda: table
