"""How a case reads on a page: its timeline events in words and its next deadline."""

from __future__ import annotations

from django.core.signals import request_finished
from django.db.models.signals import post_delete, post_save

from cases.lifecycle import ReopenTrigger
from cases.models import Case, CaseLink, Evidence, Identifier, Report, ReportReason, Subject
from cases.timeline import EventKind
from tsops.presentation import (
    choices_vocabulary,
    duration_text,
    humanize_code,
    label_for,
    relative_text,
    vocabulary_register,
)

# The report reasons' labels, read once and kept until the request ends or a reason changes
# (the taxonomy is edited in the admin), so a list page asks the database once, not per row.
_reason_labels: dict[str, str] | None = None


def reason_labels() -> dict[str, str]:
    """Every stored report reason's code with its label (one query per request at most)."""
    global _reason_labels
    labels = _reason_labels
    if labels is None:
        labels = dict(ReportReason.objects.values_list("code", "label"))
        _reason_labels = labels
    return labels


def reason_labels_forget(**_kwargs) -> None:
    """Read the reasons' labels afresh next time (the request ended, or a reason changed)."""
    global _reason_labels
    _reason_labels = None


def reason_label(code: str | None) -> str:
    """``violent_threat`` -> "Violent threat" (its stored label)."""
    return label_for("reason", code)


def register_vocabularies() -> None:
    """The codes this app stores, in words for the ``labels`` template library."""
    vocabulary_register("reason", reason_labels)
    vocabulary_register("source", choices_vocabulary(Report.Source))
    vocabulary_register("case_status", choices_vocabulary(Case.Status))
    vocabulary_register("event", choices_vocabulary(EventKind))
    vocabulary_register("link_kind", choices_vocabulary(CaseLink.Kind))
    kinds = [*Subject.Kind.values, *Identifier.Kind.values, *Evidence.Kind.values]
    acronyms = {"ip": "IP address", "url": "URL"}
    vocabulary_register(
        "kind", choices_vocabulary([(k, acronyms.get(k, k.capitalize())) for k in kinds])
    )
    request_finished.connect(reason_labels_forget, dispatch_uid="reason-labels-forget")
    for signal, name in ((post_save, "saved"), (post_delete, "deleted")):
        signal.connect(reason_labels_forget, sender=ReportReason, dispatch_uid=f"reason-{name}")


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
        parts = [label_for("source", data["source"]), reason_label(data.get("reason"))]
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
        parts.append(
            label_for("outcome", data["outcome"]) + (f" under {section}" if section else "")
        )
    if data.get("recommended"):
        followed = {True: "followed", False: "not followed"}.get(data.get("followed"), "")
        recommended = label_for("action", data["recommended"])
        parts.append(f"ladder recommended {recommended} ({followed})".replace(" ()", ""))
    if data.get("type"):
        hours = data.get("hours")
        parts.append(
            label_for("action", data["type"])
            + (f" for {duration_text(hours, 'hours')}" if hours else "")
        )
    if data.get("reason"):
        # A report reason's code reads as its label; a member's own words stay as written.
        reason = data["reason"]
        parts.append(f"reason: {reason_labels().get(reason, reason)}")
    if data.get("queue"):
        parts.append(f"queue {data['queue']}")
    if data.get("kind") and data.get("case_id"):
        parts.append(f"{label_for('link_kind', data['kind']).lower()} #{data['case_id']}")
    if data.get("sha256"):
        parts.append(f"sha256 {data['sha256'][:12]}…")
    if data.get("deadline"):
        parts.append(humanize_code(data["deadline"]).lower() + " deadline")
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
