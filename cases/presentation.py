"""How a case reads on a page: its timeline events in words and its next deadline."""

from __future__ import annotations

from cases.lifecycle import ReopenTrigger
from cases.timeline import EventKind
from tsops.presentation import relative_text


def event_label(kind: str | None) -> str:
    """The human label of a stored kind; a code no longer in the enum shows as itself."""
    try:
        return EventKind(kind).label
    except ValueError:
        return kind or ""


def event_detail(event) -> str:
    """A short plain-text description of a timeline event's data (autoescaped by the template)."""
    data = event.data or {}
    if event.kind == EventKind.REPORT_ADDED and data.get("source"):
        parts = [data["source"].replace("_", " "), data.get("reason") or ""]
        if data.get("detector"):
            score = data.get("score")
            parts.append(f"detector {data['detector']}" + (f" ({score:.2f})" if score else ""))
        return " · ".join(p for p in parts if p)
    if "before" in data and "after" in data:
        before = ", ".join(data["before"]) if isinstance(data["before"], list) else data["before"]
        after = ", ".join(data["after"]) if isinstance(data["after"], list) else data["after"]
        return f"{before or '—'} → {after or '—'}"
    parts = []
    if data.get("trigger") in ReopenTrigger.values:
        parts.append(ReopenTrigger(data["trigger"]).label)
    if data.get("joined_case_id"):
        parts.append(f"the work joined open case #{data['joined_case_id']}")
    # Decisions and enforcement actions (enforcement.services) say what and under which section.
    if data.get("outcome"):
        section = data.get("policy_section")
        parts.append(data["outcome"].replace("_", " ") + (f" under {section}" if section else ""))
    if data.get("recommended"):
        followed = {True: "followed", False: "not followed"}.get(data.get("followed"), "")
        parts.append(f"ladder recommended {data['recommended']} ({followed})".replace(" ()", ""))
    if data.get("type"):
        hours = data.get("hours")
        parts.append(data["type"].replace("_", " ") + (f" {hours} h" if hours else ""))
    if data.get("reason"):
        parts.append(f"reason: {data['reason']}")
    if data.get("queue"):
        parts.append(f"queue {data['queue']}")
    if data.get("kind") and data.get("case_id"):
        parts.append(f"{data['kind'].replace('_', ' ')} #{data['case_id']}")
    if data.get("sha256"):
        parts.append(f"sha256 {data['sha256'][:12]}…")
    if data.get("deadline"):
        parts.append(data["deadline"].replace("_", " ") + " deadline")
    if data.get("bulk"):
        parts.append("bulk")
    return "; ".join(parts)


def mark_deadlines(cases, now) -> None:
    """Per row: the deadline that matters next, and whether it is breached or due soon."""
    for case in cases:
        waiting_first = case.first_action_at is None and case.first_action_due < case.resolve_due
        case.next_deadline = case.first_action_due if waiting_first else case.resolve_due
        case.next_deadline_label = "first action" if waiting_first else "resolve"
        case.breached = case.is_breached(now)
        case.due_soon = case.is_due_soon(now)
        case.next_deadline_text = relative_text(case.next_deadline, now)
