"""Timeline event kinds with their labels, and recording an event on a case's timeline."""

from __future__ import annotations

from django.db import models

from cases.models import Case, CaseEvent


class EventKind(models.TextChoices):
    """Every kind of event a case's timeline holds, with the label the case page shows.

    Kinds written by the apps above cases (decisions, actions, escalations, appeals, QA) are
    listed here too: the timeline belongs to the case, and cases may not import those apps.
    """

    # Intake and triage.
    CASE_CREATED = "CASE_CREATED", "Case opened"
    REPORT_ADDED = "REPORT_ADDED", "Report received"
    CASE_SEVERITY_RAISED = "CASE_SEVERITY_RAISED", "Severity raised"
    CASE_SEVERITY_CHANGED = "CASE_SEVERITY_CHANGED", "Severity changed"
    CASE_RESTRICTED = "CASE_RESTRICTED", "Case restricted"
    CASE_UNRESTRICTED = "CASE_UNRESTRICTED", "Restriction lifted"
    CASE_MOVED = "CASE_MOVED", "Moved to another queue"
    CASE_CLAIMED = "CASE_CLAIMED", "Claimed"
    CASE_RELEASED = "CASE_RELEASED", "Released"
    CASE_SKIPPED = "CASE_SKIPPED", "Skipped"
    CASE_LEASE_EXPIRED = "CASE_LEASE_EXPIRED", "Claim expired"
    # Written by the SLA sweep (cases.sla), with data {"deadline": "first_action" | "resolve"}.
    CASE_SLA_WARNED = "CASE_SLA_WARNED", "Deadline due soon"
    CASE_SLA_BREACHED = "CASE_SLA_BREACHED", "Deadline breached"
    CASE_ASSIGNED = "CASE_ASSIGNED", "Assigned"
    CASE_TAGGED = "CASE_TAGGED", "Tags changed"
    CASE_LINKED = "CASE_LINKED", "Linked"
    # Written at intake (investigations.services.evasion): the account shares a strong
    # identifier with an account under an active suspension or ban.
    EVASION_SUSPECTED = "EVASION_SUSPECTED", "Evasion suspect"
    # Written by detection rules: an automated action scheduled, proposed, applied or called
    # off before it was applied.
    RULE_ACTION_SCHEDULED = "RULE_ACTION_SCHEDULED", "Automated action scheduled"
    RULE_ACTION_PROPOSED = "RULE_ACTION_PROPOSED", "Rule proposed an action"
    RULE_ACTION_APPLIED = "RULE_ACTION_APPLIED", "Automated action applied"
    RULE_ACTION_CANCELLED = "RULE_ACTION_CANCELLED", "Automated action called off"
    # Detection: a senior set a mass-flagging reporter's reports aside, or put them back.
    REPORTS_INVALIDATED = "REPORTS_INVALIDATED", "Reports set aside as mass flagging"
    REPORTS_RESTORED = "REPORTS_RESTORED", "Reports set aside restored"
    NOTE_ADDED = "NOTE_ADDED", "Note added"
    EVIDENCE_ADDED = "EVIDENCE_ADDED", "Evidence added"
    EVIDENCE_REVEALED = "EVIDENCE_REVEALED", "Sensitive evidence revealed"
    IDENTIFIER_REVEALED = "IDENTIFIER_REVEALED", "Identifier revealed"
    # Decisions and actions (enforcement).
    DECISION_MADE = "DECISION_MADE", "Decision made"
    ACTION_APPLIED = "ACTION_APPLIED", "Action applied"
    ACTION_PROPOSED = "ACTION_PROPOSED", "Action proposed for approval"
    ACTION_APPROVED = "ACTION_APPROVED", "Action approved"
    ACTION_REJECTED = "ACTION_REJECTED", "Action rejected"
    ACTION_EXPIRED = "ACTION_EXPIRED", "Action expired"
    ACTION_REVERSED = "ACTION_REVERSED", "Action reversed"
    CASE_RESOLVED = "CASE_RESOLVED", "Case resolved"
    CASE_RETURNED = "CASE_RETURNED", "Returned to the queue"
    # Escalations.
    ESCALATION_RAISED = "ESCALATION_RAISED", "Escalated"
    ESCALATION_ACKNOWLEDGED = "ESCALATION_ACKNOWLEDGED", "Escalation acknowledged"
    ESCALATION_RESOLVED = "ESCALATION_RESOLVED", "Escalation resolved"
    ESCALATION_RETURNED = "ESCALATION_RETURNED", "Escalation returned to the queue"
    # Appeals.
    APPEAL_FILED = "APPEAL_FILED", "Appeal filed"
    APPEAL_CLAIMED = "APPEAL_CLAIMED", "Appeal claimed"
    APPEAL_RELEASED = "APPEAL_RELEASED", "Appeal released"
    APPEAL_LEASE_EXPIRED = "APPEAL_LEASE_EXPIRED", "Appeal claim expired"
    APPEAL_DECIDED = "APPEAL_DECIDED", "Appeal decided"
    CASE_REOPENED = "CASE_REOPENED", "Reopened as rework"
    # Quality assurance.
    QA_REVIEW_SCORED = "QA_REVIEW_SCORED", "QA review scored"
    QA_REVIEW_DISPUTED = "QA_REVIEW_DISPUTED", "QA review disputed"
    QA_REVIEW_ADJUDICATED = "QA_REVIEW_ADJUDICATED", "QA dispute adjudicated"


def record(case: Case | int, kind: EventKind, actor=None, /, *, at=None, **data) -> CaseEvent:
    """Add one event to a case's timeline (``at`` only for backdated imports).

    An unknown kind raises ValueError: a kind without a label would show as a raw code. The
    first three are positional-only, so the event's data may hold keys named like them.
    """
    kind = EventKind(kind)
    case_id = case if isinstance(case, int) else case.pk
    return CaseEvent.objects.create(
        case_id=case_id,
        kind=kind,
        actor=actor if actor and actor.is_authenticated else None,
        data=data,
        **({"at": at} if at is not None else {}),
    )
