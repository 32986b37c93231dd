"""DSA statements of reasons in the EU Transparency Database format, and their validator.

``statement_for`` turns one applied enforcement action into the statement the
Transparency Database API accepts (Art. 17 and Art. 24(5) DSA), with its field
names and enum values spelled exactly as the API defines them (see
``shared/reference/dsa-statement-of-reasons.md``). ``validate_statement`` applies
the database's own submission rules, so a statement that would be refused with a
422 is caught here first. ``statements_export`` streams a period's statements for
bulk submission.

A statement carries no personal data: no usernames, reporter or account ids,
identifiers or emails. It describes the decision (what was restricted, on which
ground, what kind of content, how it was found), never the people involved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone

from cases.models import Case, Report, ReportReason, Subject
from enforcement.catalogue import ACTIONS, ActionSpec
from enforcement.models import EnforcementAction, PolicySection
from enforcement.permissions import can_export_statements
from enforcement.selectors import action_get_for
from enforcement.territories import EU_EEA_COUNTRIES
from tsops.errors import ConflictError

# --- The Transparency Database's vocabulary ------------------------------------------------

DECISION_VISIBILITY = (
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
)
DECISION_MONETARY = (
    "DECISION_MONETARY_SUSPENSION",
    "DECISION_MONETARY_TERMINATION",
    "DECISION_MONETARY_OTHER",
)
DECISION_PROVISION = (
    "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "DECISION_PROVISION_TOTAL_SUSPENSION",
    "DECISION_PROVISION_PARTIAL_TERMINATION",
    "DECISION_PROVISION_TOTAL_TERMINATION",
)
DECISION_ACCOUNT = ("DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED")
DECISION_FIELDS = (
    "decision_visibility",
    "decision_monetary",
    "decision_provision",
    "decision_account",
)

GROUND_ILLEGAL = "DECISION_GROUND_ILLEGAL_CONTENT"
GROUND_INCOMPATIBLE = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
DECISION_GROUNDS = (GROUND_ILLEGAL, GROUND_INCOMPATIBLE)

CONTENT_TYPES = (
    "CONTENT_TYPE_APP",
    "CONTENT_TYPE_AUDIO",
    "CONTENT_TYPE_IMAGE",
    "CONTENT_TYPE_PRODUCT",
    "CONTENT_TYPE_SYNTHETIC_MEDIA",
    "CONTENT_TYPE_TEXT",
    "CONTENT_TYPE_VIDEO",
    "CONTENT_TYPE_OTHER",
)

CATEGORIES = (
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
)
FALLBACK_CATEGORY = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"

SOURCE_ARTICLE_16 = "SOURCE_ARTICLE_16"
SOURCE_TRUSTED_FLAGGER = "SOURCE_TRUSTED_FLAGGER"
SOURCE_OTHER_NOTIFICATION = "SOURCE_TYPE_OTHER_NOTIFICATION"
SOURCE_VOLUNTARY = "SOURCE_VOLUNTARY"
SOURCE_TYPES = (
    SOURCE_ARTICLE_16,
    SOURCE_TRUSTED_FLAGGER,
    SOURCE_OTHER_NOTIFICATION,
    SOURCE_VOLUNTARY,
)

YES_NO = ("Yes", "No")
AUTOMATED_DECISIONS = (
    "AUTOMATED_DECISION_FULLY",
    "AUTOMATED_DECISION_PARTIALLY",
    "AUTOMATED_DECISION_NOT_AUTOMATED",
)
ACCOUNT_TYPES = ("ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE")

# Which end date goes with which restriction field, for temporary actions.
END_DATE_FIELDS = {
    "decision_visibility": "end_date_visibility_restriction",
    "decision_monetary": "end_date_monetary_restriction",
    "decision_provision": "end_date_service_restriction",
    "decision_account": "end_date_account_restriction",
}

# Texts for the *_OTHER values, per action type (required by the database when used).
OTHER_TEXTS = {
    "warn": "Formal warning issued to the account holder; the content stays visible.",
    "hold_transaction": "A pending transaction was held while the decision applies.",
}

PUID_PATTERN = re.compile(r"[a-zA-Z0-9\-_]+")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
LANGUAGE_PATTERN = re.compile(r"[A-Z]{2}")
EAN13_PATTERN = re.compile(r"\d{13}")

MAX_FACTS = 5000
MAX_SHORT = 500
MAX_EXPLANATION = 2000
MIN_CONTENT_DATE = date(2000, 1, 1)
MIN_APPLICATION_DATE = date(2020, 1, 1)

# Applied actions owe a statement; pending and rejected ones were never applied.
APPLIED_STATUSES = (
    EnforcementAction.Status.ACTIVE,
    EnforcementAction.Status.EXPIRED,
    EnforcementAction.Status.REVERSED,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".bmp", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v", ".mpeg", ".mpg", ".3gp"}
AUDIO_SUFFIXES = {".mp3", ".wav", ".ogg", ".oga", ".m4a", ".aac", ".flac", ".opus"}

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
REDACTED = "[redacted]"


def territorial_scope() -> list[str]:
    """Where the decisions apply: every EU/EEA country unless ``TSOPS_DSA_TERRITORIAL_SCOPE``
    narrows it."""
    return list(settings.TSOPS_DSA_TERRITORIAL_SCOPE)


# --- Building -------------------------------------------------------------------------------


def _day(value: datetime | None) -> str | None:
    return timezone.localtime(value).date().isoformat() if value else None


def _source_type(sources: set[str]) -> str:
    """A trusted flagger's notice (Art. 22) outranks any other user's notice (Art. 16), which
    outranks a support ticket, which outranks own initiative."""
    if Report.Source.TRUSTED_FLAGGER in sources:
        return SOURCE_TRUSTED_FLAGGER
    if Report.Source.USER_REPORT in sources:
        return SOURCE_ARTICLE_16
    if Report.Source.SUPPORT in sources:
        return SOURCE_OTHER_NOTIFICATION
    return SOURCE_VOLUNTARY


def _media_types(media: Iterable) -> set[str]:
    """Content types the snapshot's media references suggest (by MIME prefix or file suffix)."""
    found = set()
    for item in media or ():
        if not isinstance(item, str):
            continue
        ref = item.strip().lower()
        suffix = PurePosixPath(urlparse(ref).path).suffix
        if ref.startswith("image/") or suffix in IMAGE_SUFFIXES:
            found.add("CONTENT_TYPE_IMAGE")
        elif ref.startswith("video/") or suffix in VIDEO_SUFFIXES:
            found.add("CONTENT_TYPE_VIDEO")
        elif ref.startswith("audio/") or suffix in AUDIO_SUFFIXES:
            found.add("CONTENT_TYPE_AUDIO")
    return found


def _content_type(subject: Subject) -> tuple[list[str], str]:
    """(content_type values, content_type_other text or "") for the reported subject."""
    if subject.kind == Subject.Kind.LISTING:
        return ["CONTENT_TYPE_PRODUCT"], ""
    if subject.kind == Subject.Kind.ACCOUNT:
        return ["CONTENT_TYPE_OTHER"], "User account"
    if subject.kind == Subject.Kind.PROFILE:
        return ["CONTENT_TYPE_OTHER"], "User profile"
    media = _media_types(subject.snapshot_media)
    types = set(media)
    if subject.snapshot_text or not media:
        types.add("CONTENT_TYPE_TEXT")
    return [t for t in CONTENT_TYPES if t in types], ""


def _redact(text: str, secrets: Iterable[str]) -> str:
    """Remove emails and the platform's ids of the people involved from free text."""
    text = EMAIL.sub(REDACTED, text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = re.sub(re.escape(secret), REDACTED, text, flags=re.IGNORECASE)
    return text


def _case_reports(action: EnforcementAction) -> list[tuple[str, datetime]]:
    return list(Report.objects.filter(case_id=action.case_id).values_list("source", "received_at"))


def _sources_before(reports: list[tuple[str, datetime]], decided_at: datetime) -> set[str]:
    """The sources of the reports the decision was made on: those received by then (a report
    that joined a reopened case later belongs to the next decision). Imported, backdated
    decisions may predate their reports' receipt; then every report counts."""
    before = {source for source, received in reports if received <= decided_at}
    return before or {source for source, _ in reports}


def _restriction_fields(action: EnforcementAction, spec: ActionSpec) -> dict:
    """The restriction the action is, in the database's field for its kind."""
    fields: dict = {}
    if spec.dsa_field == "decision_visibility":
        fields["decision_visibility"] = [spec.dsa_value]
    else:
        fields[spec.dsa_field] = spec.dsa_value
    if spec.dsa_value == "DECISION_VISIBILITY_OTHER":
        fields["decision_visibility_other"] = OTHER_TEXTS.get(action.action_type, spec.label)
    if spec.dsa_value == "DECISION_MONETARY_OTHER":
        fields["decision_monetary_other"] = OTHER_TEXTS.get(action.action_type, spec.label)
    return fields


def _ground_fields(section: PolicySection | None) -> dict:
    """Illegal content when the section names a legal ground, else incompatible with the
    terms."""
    if section is not None and section.legal_ground:
        return {
            "decision_ground": GROUND_ILLEGAL,
            "illegal_content_legal_ground": section.legal_ground[:MAX_SHORT],
            "illegal_content_explanation": section.public_summary[:MAX_EXPLANATION],
        }
    ground = f"{section.code} {section.title}" if section is not None else ""
    return {
        "decision_ground": GROUND_INCOMPATIBLE,
        "incompatible_content_ground": ground[:MAX_SHORT],
        "incompatible_content_explanation": (
            section.public_summary[:MAX_EXPLANATION] if section is not None else ""
        ),
    }


def _date_fields(
    action: EnforcementAction, spec: ActionSpec, reports: list[tuple[str, datetime]]
) -> dict[str, str]:
    """When the content was made, when the action applied and, for a temporary one, when it
    ends."""
    decision, case = action.decision, action.case
    applied_at = action.starts_at or decision.created_at
    first_report = min((received for _, received in reports), default=None)
    fields = {
        "content_date": _day(case.subject.content_created_at or first_report or case.created_at),
        "application_date": _day(applied_at),
    }
    if spec.temporary:
        end = action.expires_at
        if end is None and action.duration_hours:
            end = applied_at + timedelta(hours=action.duration_hours)
        if end is not None:
            fields[END_DATE_FIELDS[spec.dsa_field]] = _day(end)
    return fields


def _facts(action: EnforcementAction) -> str:
    """The statement's facts with the people it concerns redacted."""
    decision, subject = action.decision, action.case.subject
    section = decision.policy_section
    facts = decision.statement_of_reasons or (section.public_summary if section else "")
    people = [subject.external_id]
    if subject.owner_id:
        people.append(subject.owner.external_id)
    if action.subject_id not in (subject.pk, subject.owner_id):
        people.append(action.subject.external_id)
    return _redact(facts, people)[:MAX_FACTS]


def statement_for(
    action: EnforcementAction,
    *,
    reports: list[tuple[str, datetime]] | None = None,
    categories: dict[str, str] | None = None,
) -> dict:
    """The Transparency Database statement of reasons for one enforcement action.

    ``reports`` ((source, received_at) of the case's reports) and ``categories`` (report
    reason -> DSA category) may be passed in by bulk callers to avoid a query per action.
    """
    decision = action.decision
    section = decision.policy_section
    case: Case = action.case
    subject: Subject = case.subject
    spec = ACTIONS[action.action_type]

    if reports is None:
        reports = _case_reports(action)
    sources = _sources_before(reports, decision.created_at)
    if categories is None:
        category = (
            ReportReason.objects.filter(code=case.reason)
            .values_list("dsa_category", flat=True)
            .first()
        )
    else:
        category = categories.get(case.reason)

    statement = _restriction_fields(action, spec)
    statement.update(_ground_fields(section))
    statement["category"] = category if category in CATEGORIES else FALLBACK_CATEGORY
    content_types, content_other = _content_type(subject)
    statement["content_type"] = content_types
    if content_other:
        statement["content_type_other"] = content_other

    statement["source_type"] = _source_type(sources)
    statement["automated_detection"] = "Yes" if Report.Source.AUTOMATED_FLAG in sources else "No"
    statement["automated_decision"] = (
        "AUTOMATED_DECISION_FULLY" if decision.automated else "AUTOMATED_DECISION_NOT_AUTOMATED"
    )

    statement.update(_date_fields(action, spec, reports))
    statement["decision_facts"] = _facts(action)
    statement["territorial_scope"] = territorial_scope()
    statement["puid"] = f"tsops-action-{action.pk}"
    return statement


def statement_get_for(*, actor, action_id: int) -> dict:
    """The statement of an action the actor may see (404 otherwise); 409 for an action that
    was never applied (pending approval or rejected), which owes no statement."""
    action = action_get_for(actor=actor, action_id=action_id)
    if action.status not in APPLIED_STATUSES:
        raise ConflictError(
            f"No statement of reasons: the action is {action.get_status_display().lower()}."
        )
    return statement_for(action)


# --- Validating -----------------------------------------------------------------------------

KNOWN_FIELDS = frozenset(
    {
        *DECISION_FIELDS,
        "decision_visibility_other",
        "decision_monetary_other",
        "decision_ground",
        "decision_ground_reference_url",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "incompatible_content_illegal",
        "content_type",
        "content_type_other",
        "category",
        "category_addition",
        "category_specification",
        "category_specification_other",
        "source_type",
        "source_identity",
        "automated_detection",
        "automated_decision",
        "content_date",
        "application_date",
        *END_DATE_FIELDS.values(),
        "decision_facts",
        "puid",
        "territorial_scope",
        "account_type",
        "content_language",
        "content_id",
    }
)


class _Errors(dict):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)


def _present(value) -> bool:
    return value not in (None, "", [])


def _text(s: dict, errors: _Errors, field: str, max_length: int, *, required: bool) -> None:
    value = s.get(field)
    if not _present(value):
        if required:
            errors.add(field, "This field is required.")
        return
    if not isinstance(value, str):
        errors.add(field, "Must be a string.")
    elif len(value) > max_length:
        errors.add(field, f"At most {max_length} characters (got {len(value)}).")


def _choice(s: dict, errors: _Errors, field: str, allowed: tuple, *, required: bool) -> None:
    value = s.get(field)
    if not _present(value):
        if required:
            errors.add(field, "This field is required.")
        return
    if not isinstance(value, str) or value not in allowed:
        errors.add(field, f"{value!r} is not one of: {', '.join(allowed)}.")


def _choices(s: dict, errors: _Errors, field: str, allowed: tuple, *, required: bool) -> None:
    value = s.get(field)
    if not _present(value):
        if required:
            errors.add(field, "This field is required.")
        return
    if not isinstance(value, list):
        errors.add(field, "Must be an array.")
        return
    for item in value:
        if not isinstance(item, str) or item not in allowed:
            errors.add(field, f"{item!r} is not one of: {', '.join(allowed)}.")
    if len(set(map(str, value))) != len(value):
        errors.add(field, "Values must be distinct.")


def _date(
    s: dict, errors: _Errors, field: str, *, required: bool, minimum: date | None = None
) -> date | None:
    value = s.get(field)
    if not _present(value):
        if required:
            errors.add(field, "This field is required.")
        return None
    parsed = None
    if isinstance(value, str) and DATE_PATTERN.fullmatch(value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        errors.add(field, "Must be a date in the format Y-m-d (e.g. 2025-01-31).")
        return None
    if minimum and parsed < minimum:
        errors.add(field, f"Must be on or after {minimum.isoformat()}.")
    return parsed


def validate_statement(statement: dict) -> dict[str, list[str]]:
    """Apply the Transparency Database's submission rules; ``{field: [messages]}``, empty when
    the database would accept the statement. Unknown field names are reported too, since a
    misspelt field is silently dropped by the database."""
    errors = _Errors()
    if not isinstance(statement, dict):
        errors.add("non_field_errors", "A statement must be a JSON object.")
        return dict(errors)
    s = statement

    for field in sorted(set(s) - KNOWN_FIELDS):
        errors.add(field, "Unknown field: not part of the Transparency Database format.")
    _check_decision(s, errors)
    _check_ground(s, errors)
    _check_content(s, errors)
    _check_source(s, errors)
    _check_dates(s, errors)
    _check_identity(s, errors)
    return dict(errors)


def _check_decision(s: dict, errors: _Errors) -> None:
    """At least one of the four restriction fields, and each one's "other" text."""
    if not any(_present(s.get(field)) for field in DECISION_FIELDS):
        for field in DECISION_FIELDS:
            errors.add(field, f"At least one of {', '.join(DECISION_FIELDS)} is required.")
    _choices(s, errors, "decision_visibility", DECISION_VISIBILITY, required=False)
    visibility = s.get("decision_visibility")
    _text(
        s,
        errors,
        "decision_visibility_other",
        MAX_SHORT,
        required=isinstance(visibility, list) and "DECISION_VISIBILITY_OTHER" in visibility,
    )
    _choice(s, errors, "decision_monetary", DECISION_MONETARY, required=False)
    _text(
        s,
        errors,
        "decision_monetary_other",
        MAX_SHORT,
        required=s.get("decision_monetary") == "DECISION_MONETARY_OTHER",
    )
    _choice(s, errors, "decision_provision", DECISION_PROVISION, required=False)
    _choice(s, errors, "decision_account", DECISION_ACCOUNT, required=False)


def _check_ground(s: dict, errors: _Errors) -> None:
    """The ground, with the fields each ground requires."""
    _choice(s, errors, "decision_ground", DECISION_GROUNDS, required=True)
    ground = s.get("decision_ground")
    illegal, incompatible = ground == GROUND_ILLEGAL, ground == GROUND_INCOMPATIBLE
    _text(s, errors, "illegal_content_legal_ground", MAX_SHORT, required=illegal)
    _text(s, errors, "illegal_content_explanation", MAX_EXPLANATION, required=illegal)
    _text(s, errors, "incompatible_content_ground", MAX_SHORT, required=incompatible)
    _text(s, errors, "incompatible_content_explanation", MAX_EXPLANATION, required=incompatible)
    _choice(s, errors, "incompatible_content_illegal", YES_NO, required=False)
    url = s.get("decision_ground_reference_url")
    if _present(url):
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.add("decision_ground_reference_url", "Must be an http(s) URL.")
        elif len(url) > MAX_SHORT:
            errors.add("decision_ground_reference_url", f"At most {MAX_SHORT} characters.")


def _check_content(s: dict, errors: _Errors) -> None:
    """The content's type and its category."""
    _choices(s, errors, "content_type", CONTENT_TYPES, required=True)
    content_type = s.get("content_type")
    _text(
        s,
        errors,
        "content_type_other",
        MAX_SHORT,
        required=isinstance(content_type, list) and "CONTENT_TYPE_OTHER" in content_type,
    )
    _choice(s, errors, "category", CATEGORIES, required=True)
    _choices(s, errors, "category_addition", CATEGORIES, required=False)
    specification = s.get("category_specification")
    if _present(specification):
        if not isinstance(specification, list):
            errors.add("category_specification", "Must be an array.")
        else:
            for item in specification:
                if not isinstance(item, str) or not item.startswith("KEYWORD_"):
                    errors.add("category_specification", f"{item!r} is not a KEYWORD_* value.")
    _text(s, errors, "category_specification_other", MAX_SHORT, required=False)


def _check_source(s: dict, errors: _Errors) -> None:
    """Where the notice came from, and what was automated."""
    _choice(s, errors, "source_type", SOURCE_TYPES, required=True)
    _text(s, errors, "source_identity", MAX_SHORT, required=False)
    _choice(s, errors, "automated_detection", YES_NO, required=True)
    _choice(s, errors, "automated_decision", AUTOMATED_DECISIONS, required=True)


def _check_dates(s: dict, errors: _Errors) -> None:
    """The content's and the application's dates; an end date is not before application."""
    _date(s, errors, "content_date", required=True, minimum=MIN_CONTENT_DATE)
    applied = _date(s, errors, "application_date", required=True, minimum=MIN_APPLICATION_DATE)
    for field in END_DATE_FIELDS.values():
        end = _date(s, errors, field, required=False)
        if end and applied and end < applied:
            errors.add(field, "Must be on or after the application_date.")


def _check_identity(s: dict, errors: _Errors) -> None:
    """The facts, the statement's identifier, the territorial scope and the optional
    account type, language and content identifier."""
    _text(s, errors, "decision_facts", MAX_FACTS, required=True)
    _text(s, errors, "puid", MAX_SHORT, required=True)
    puid = s.get("puid")
    if isinstance(puid, str) and puid and not PUID_PATTERN.fullmatch(puid):
        errors.add("puid", "Must match ^[a-zA-Z0-9-_]+$.")
    _choices(s, errors, "territorial_scope", EU_EEA_COUNTRIES, required=True)

    _choice(s, errors, "account_type", ACCOUNT_TYPES, required=False)
    language = s.get("content_language")
    if _present(language) and not (
        isinstance(language, str) and LANGUAGE_PATTERN.fullmatch(language)
    ):
        errors.add("content_language", "Must be an upper-case ISO 639-1 code, e.g. EN.")
    content_id = s.get("content_id")
    if _present(content_id) and (
        not isinstance(content_id, dict)
        or set(content_id) != {"EAN-13"}
        or not isinstance(content_id["EAN-13"], str)
        or not EAN13_PATTERN.fullmatch(content_id["EAN-13"])
    ):
        errors.add("content_id", 'Must be {"EAN-13": "<13 digits>"}.')


# --- Exporting ------------------------------------------------------------------------------


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the project's time zone: both days included."""
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def export_teams(actor) -> list[str] | None:
    """Whose restricted cases an export for ``actor`` may include: None for every case (the
    platform's service account, which submits every statement to the Transparency Database),
    otherwise the teams of the actor, whose restricted cases they see."""
    from tsops.permissions import has_capability, teams_of

    return None if has_capability(actor, "receive_events") else teams_of(actor)


def export_cases_q(teams: list[str] | None, *, prefix: str = "case__") -> Q:
    """The rows (reached through ``prefix``, e.g. an action's ``case__``) whose case an export
    scoped by :func:`export_teams` may include: unrestricted ones and those of ``teams``."""
    if teams is None:
        return Q()
    return Q(**{f"{prefix}restricted": False}) | Q(**{f"{prefix}team__in": teams})


def statements_export(*, actor, start: date, end: date, chunk_size: int = 500) -> Iterator[dict]:
    """The statements of every action applied between ``start`` and ``end`` (inclusive days),
    in action order.

    The permission is checked at the call, before anything is streamed. Restricted cases'
    statements go only to the platform's service account (which submits every statement to
    the Transparency Database, as Art. 24(5) DSA requires) and to members of the case's team;
    for everyone else those cases do not exist, in exports as everywhere. Reads in keyset
    chunks, a few queries each, so a long period neither loads at once nor holds a cursor
    open across the stream.
    """
    if not can_export_statements(actor):
        raise PermissionDenied("Exporting statements of reasons needs the export permission.")
    since, until = period_bounds(start, end)
    return _export_rows(since, until, chunk_size, export_teams(actor))


def _export_rows(
    since: datetime, until: datetime, chunk_size: int, teams: list[str] | None = None
) -> Iterator[dict]:
    """``teams`` None: every case; a list: unrestricted cases and those of these teams."""
    categories = dict(ReportReason.objects.values_list("code", "dsa_category"))
    last_id = 0
    while True:
        actions = EnforcementAction.objects.filter(
            status__in=APPLIED_STATUSES,
            starts_at__gte=since,
            starts_at__lt=until,
            pk__gt=last_id,
        )
        actions = actions.filter(export_cases_q(teams))
        chunk = list(
            actions.select_related(
                "subject",
                "case",
                "case__subject",
                "case__subject__owner",
                "decision",
                "decision__policy_section",
            ).order_by("pk")[:chunk_size]
        )
        if not chunk:
            return
        reports: dict[int, list[tuple[str, datetime]]] = {}
        for case_id, source, received in Report.objects.filter(
            case_id__in={a.case_id for a in chunk}
        ).values_list("case_id", "source", "received_at"):
            reports.setdefault(case_id, []).append((source, received))
        for action in chunk:
            yield statement_for(
                action, reports=reports.get(action.case_id, []), categories=categories
            )
        last_id = chunk[-1].pk
