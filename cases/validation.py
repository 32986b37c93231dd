"""Validation of incoming reports: fast, field-by-field, with errors that name the field.

Intake takes up to 1,000 reports per request, so this is plain Python rather
than a DRF serializer per item; the OpenAPI description lives in ``api.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.models import Identifier, Report, ReportReason, Subject

MAX_TEXT = 100_000
MAX_ID = 200
MAX_IDENTIFIERS = 50
FUTURE_TOLERANCE = timedelta(minutes=5)

SOURCES = set(Report.Source.values)
SUBJECT_KINDS = set(Subject.Kind.values)
IDENTIFIER_KINDS = set(Identifier.Kind.values)


def report_reason_codes() -> list[str]:
    """The taxonomy's reason codes as stored now (seniors may edit them in the admin): the
    ``reason`` values intake accepts, read from the same table as ``RoutingContext.reasons``."""
    return sorted(ReportReason.objects.values_list("code", flat=True))


@dataclass
class CleanReport:
    source: str
    external_id: str
    reason: str
    description: str
    reporter_id: str
    subject_kind: str
    subject_external_id: str
    owner_id: str
    text: str
    url: str
    media: list[str]
    content_created_at: datetime | None
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    detector: str = ""
    score: float | None = None
    received_at: datetime | None = None


def _string(data: dict, name: str, errors: dict, *, required=False, max_length=MAX_ID) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            errors[name] = ["This field is required."]
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and max_length == MAX_ID:
        value = str(value)
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return ""
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail on the insert.
        errors[name] = ["Null characters are not allowed."]
        return ""
    if len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
        return ""
    return value


def _datetime(data: dict, name: str, errors: dict, now: datetime) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) and value else None
    if parsed is None:
        errors[name] = ["Must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z."]
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    try:
        # In UTC: PostgreSQL refuses an offset beyond 15:59 that ISO 8601 allows.
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        errors[name] = ["Must be a date-time in years 1 to 9999 (in UTC)."]
        return None
    if parsed > now + FUTURE_TOLERANCE:
        errors[name] = ["Must not be in the future."]
        return None
    return parsed


@dataclass
class _CleanSubject:
    kind: str = ""
    external_id: str = ""
    owner_id: str = ""
    text: str = ""
    url: str = ""
    media: list[str] = field(default_factory=list)
    created_at: datetime | None = None


def _score(data: dict, errors: dict) -> float | None:
    """A detector's score in [0, 1], or None."""
    score = data.get("score")
    if score is None:
        return None
    if isinstance(score, bool) or not isinstance(score, int | float):
        errors["score"] = ["Must be a number between 0 and 1."]
        return None
    if not 0 <= score <= 1:
        errors["score"] = ["Must be between 0 and 1."]
        return None
    return float(score)


def _subject(data: dict, errors: dict, now: datetime) -> _CleanSubject:
    """The reported subject; its errors nest under ``subject``."""
    subject = data.get("subject")
    if not isinstance(subject, dict):
        errors["subject"] = ["This field is required and must be an object."]
        return _CleanSubject()
    subject_errors: dict = {}
    clean = _CleanSubject()
    clean.kind = kind = _string(subject, "kind", subject_errors, required=True)
    if kind and kind not in SUBJECT_KINDS:
        subject_errors["kind"] = [
            f"Unknown kind {kind!r}; valid: {', '.join(sorted(SUBJECT_KINDS))}."
        ]
    clean.external_id = _string(subject, "external_id", subject_errors, required=True)
    clean.owner_id = _string(subject, "owner_id", subject_errors)
    if kind == Subject.Kind.ACCOUNT and clean.owner_id and clean.owner_id != clean.external_id:
        subject_errors["owner_id"] = ["An account subject has no separate owner."]
    clean.text = _string(subject, "text", subject_errors, max_length=MAX_TEXT)
    clean.url = _string(subject, "url", subject_errors, max_length=2000)
    if clean.url and urlparse(clean.url).scheme not in ("http", "https"):
        subject_errors["url"] = ["Must be an http(s) URL."]
    raw_media = subject.get("media")
    raw_media = [] if raw_media is None else raw_media
    if not isinstance(raw_media, list) or not all(
        isinstance(m, str) and "\x00" not in m for m in raw_media
    ):
        subject_errors["media"] = ["Must be a list of strings (media references)."]
    else:
        clean.media = raw_media[:50]
    clean.created_at = _datetime(subject, "created_at", subject_errors, now)
    if subject_errors:
        errors["subject"] = subject_errors
    return clean


def _identifiers(data: dict, errors: dict, subject: _CleanSubject) -> list[tuple[str, str]]:
    """(kind, value) of each identifier; they belong to an account, so a content subject
    needs its owner."""
    identifiers: list[tuple[str, str]] = []
    raw_identifiers = data.get("identifiers")
    raw_identifiers = [] if raw_identifiers is None else raw_identifiers
    if not isinstance(raw_identifiers, list) or len(raw_identifiers) > MAX_IDENTIFIERS:
        errors["identifiers"] = [f"Must be a list of at most {MAX_IDENTIFIERS} objects."]
        return identifiers
    item_errors = {}
    for position, entry in enumerate(raw_identifiers):
        entry_errors: dict = {}
        if not isinstance(entry, dict):
            item_errors[str(position)] = {"non_field_errors": ["Must be an object."]}
            continue
        ident_kind = _string(entry, "kind", entry_errors, required=True)
        if ident_kind and ident_kind not in IDENTIFIER_KINDS:
            entry_errors["kind"] = [
                f"Unknown kind {ident_kind!r}; valid: {', '.join(sorted(IDENTIFIER_KINDS))}."
            ]
        value = _string(entry, "value", entry_errors, required=True, max_length=500)
        if entry_errors:
            item_errors[str(position)] = entry_errors
        else:
            identifiers.append((ident_kind, value))
    if item_errors:
        errors["identifiers"] = item_errors
    elif (
        identifiers
        and subject.kind
        and subject.kind != Subject.Kind.ACCOUNT
        and not subject.owner_id
    ):
        errors["identifiers"] = ["Identifiers need an account: give subject.owner_id."]
    return identifiers


def validate_report(
    data, *, reasons: dict, now: datetime
) -> tuple[CleanReport | None, dict | None]:
    """Return the cleaned report, or None and ``{field: [messages]}``."""
    if not isinstance(data, dict):
        return None, {"non_field_errors": ["Each report must be a JSON object."]}
    errors: dict = {}
    source = _string(data, "source", errors, required=True)
    if source and source not in SOURCES:
        errors["source"] = [f"Unknown source {source!r}; valid: {', '.join(sorted(SOURCES))}."]
    external_id = _string(data, "external_id", errors, required=True)
    reason = _string(data, "reason", errors, required=True)
    if reason and reason not in reasons:
        errors["reason"] = [f"Unknown reason {reason!r}; valid: {', '.join(sorted(reasons))}."]
    description = _string(data, "description", errors, max_length=MAX_TEXT)
    reporter_id = _string(data, "reporter_id", errors)
    detector = _string(data, "detector", errors, max_length=100)
    score = _score(data, errors)
    if source == Report.Source.AUTOMATED_FLAG and not detector:
        errors["detector"] = ["Automated flags must name their detector."]
    received_at = _datetime(data, "received_at", errors, now)
    subject = _subject(data, errors, now)
    identifiers = _identifiers(data, errors, subject)
    if errors:
        return None, errors
    return (
        CleanReport(
            source=source,
            external_id=external_id,
            reason=reason,
            description=description,
            reporter_id=reporter_id,
            subject_kind=subject.kind,
            subject_external_id=subject.external_id,
            owner_id=subject.owner_id if subject.kind != Subject.Kind.ACCOUNT else "",
            text=subject.text,
            url=subject.url,
            media=subject.media,
            content_created_at=subject.created_at,
            identifiers=identifiers,
            detector=detector,
            score=score,
            received_at=received_at or now,
        ),
        None,
    )
