"""Timeline event kinds, and history rows for writes done in set-based SQL."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.db import connection

from cases.models import Case, CaseEvent

CASE_CREATED = "CASE_CREATED"
REPORT_ADDED = "REPORT_ADDED"
CASE_SEVERITY_RAISED = "CASE_SEVERITY_RAISED"
CASE_SEVERITY_CHANGED = "CASE_SEVERITY_CHANGED"
CASE_RESTRICTED = "CASE_RESTRICTED"
CASE_MOVED = "CASE_MOVED"
CASE_CLAIMED = "CASE_CLAIMED"
CASE_RELEASED = "CASE_RELEASED"
CASE_SKIPPED = "CASE_SKIPPED"
CASE_LEASE_EXPIRED = "CASE_LEASE_EXPIRED"
# Written by the SLA sweep (cases.sla), with data {"deadline": "first_action" | "resolve"}.
CASE_SLA_WARNED = "CASE_SLA_WARNED"
CASE_SLA_BREACHED = "CASE_SLA_BREACHED"
CASE_ASSIGNED = "CASE_ASSIGNED"
CASE_TAGGED = "CASE_TAGGED"
CASE_LINKED = "CASE_LINKED"
NOTE_ADDED = "NOTE_ADDED"
EVIDENCE_ADDED = "EVIDENCE_ADDED"
EVIDENCE_REVEALED = "EVIDENCE_REVEALED"
IDENTIFIER_REVEALED = "IDENTIFIER_REVEALED"

LABELS = {
    CASE_CREATED: "Case opened",
    REPORT_ADDED: "Report received",
    CASE_SEVERITY_RAISED: "Severity raised",
    CASE_SEVERITY_CHANGED: "Severity changed",
    CASE_RESTRICTED: "Case restricted",
    CASE_MOVED: "Moved to another queue",
    CASE_CLAIMED: "Claimed",
    CASE_RELEASED: "Released",
    CASE_SKIPPED: "Skipped",
    CASE_LEASE_EXPIRED: "Claim expired",
    CASE_SLA_WARNED: "Deadline due soon",
    CASE_SLA_BREACHED: "Deadline breached",
    CASE_ASSIGNED: "Assigned",
    CASE_TAGGED: "Tags changed",
    CASE_LINKED: "Linked",
    NOTE_ADDED: "Note added",
    EVIDENCE_ADDED: "Evidence added",
    EVIDENCE_REVEALED: "Sensitive evidence revealed",
    IDENTIFIER_REVEALED: "Identifier revealed",
}


def record(case: Case | int, kind: str, actor=None, *, at=None, **data) -> CaseEvent:
    """Add one event to a case's timeline (``at`` only for backdated imports)."""
    case_id = case if isinstance(case, int) else case.pk
    return CaseEvent.objects.create(
        case_id=case_id,
        kind=kind,
        actor=actor if actor and actor.is_authenticated else None,
        data=data,
        **({"at": at} if at is not None else {}),
    )


@cache
def _history_sql() -> str:
    historical = Case.history.model
    columns = [
        f.column
        for f in Case._meta.concrete_fields
        if f.column not in ("search_document",) and historical._meta.get_field(f.attname)
    ]
    column_list = ", ".join(f'"{c}"' for c in columns)
    # Column names come from the models, never from input.
    insert = f"INSERT INTO {historical._meta.db_table} ({column_list}, "
    select = f"SELECT {column_list}, now(), %s, %s, %s FROM {Case._meta.db_table} "  # noqa: S608
    return (
        insert
        + "history_date, history_type, history_user_id, history_change_reason) "
        + select
        + "WHERE id = ANY(%s)"
    )


def history_snapshot(
    case_ids: Iterable[int], *, history_type: str, actor=None, reason: str = ""
) -> None:
    """History rows for cases changed by set-based SQL (``+`` created, ``~`` changed)."""
    ids = list(case_ids)
    if not ids:
        return
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    with connection.cursor() as cursor:
        cursor.execute(_history_sql(), [history_type, actor_id, reason or None, ids])
