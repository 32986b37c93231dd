"""Writing events to the outbox, in the transaction of the change they describe.

Delivery (fan-out to webhook endpoints, signing, retries) lives in ``outbox.py``
and runs in Celery; the hand-over is ``transaction.on_commit`` plus a beat task
that sweeps, so an unreachable broker delays events but never loses them.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from enforcement.models import Decision, EnforcementAction, OutboxEvent

log = logging.getLogger(__name__)


def action_payload(action: EnforcementAction) -> dict:
    """What the platform needs to apply an action: no internal rationale, no staff names."""
    section = action.decision.policy_section
    return {
        "action_id": action.pk,
        "case_id": action.case_id,
        "decision_id": action.decision_id,
        "type": action.action_type,
        "status": action.status,
        "subject": {"kind": action.subject.kind, "external_id": action.subject.external_id},
        "feature": action.feature or None,
        "duration_hours": action.duration_hours,
        "starts_at": action.starts_at.isoformat() if action.starts_at else None,
        "expires_at": action.expires_at.isoformat() if action.expires_at else None,
        "policy_section": section.code if section else None,
        "statement_of_reasons": action.decision.statement_of_reasons,
    }


def emit(event_type: str, payload: dict) -> OutboxEvent:
    """Store an event (inside the caller's transaction) and schedule its delivery after commit."""
    event = OutboxEvent.objects.create(
        event_type=event_type, payload={**payload, "emitted_at": timezone.now().isoformat()}
    )
    _kick_after_commit()
    return event


def emit_action(event_type: str, action: EnforcementAction) -> OutboxEvent:
    return emit(event_type, action_payload(action))


def decision_payload(decision: Decision, actions) -> dict:
    """A decision with its actions, for the platform (no rationale, no staff names)."""
    section = decision.policy_section
    return {
        "decision_id": decision.pk,
        "case_id": decision.case_id,
        "outcome": decision.outcome,
        "policy_section": section.code if section else None,
        "subject": {
            "kind": decision.case.subject.kind,
            "external_id": decision.case.subject.external_id,
        },
        "actions": [
            {"action_id": a.pk, "type": a.action_type, "status": a.status} for a in actions
        ],
        "statement_of_reasons": decision.statement_of_reasons,
    }


def emit_report_outcomes(decision: Decision) -> int:
    """One ``report.outcome`` per report on the case, so the platform can tell each reporter."""
    reports = list(decision.case.reports.values_list("id", "source", "external_id"))
    now = timezone.now().isoformat()
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                event_type=OutboxEvent.REPORT_OUTCOME,
                payload={
                    "report_id": report_id,
                    "source": source,
                    "external_id": external_id,
                    "case_id": decision.case_id,
                    "decision_id": decision.pk,
                    "outcome": decision.outcome,
                    "action_taken": decision.outcome == Decision.Outcome.VIOLATION,
                    "emitted_at": now,
                },
            )
            for report_id, source, external_id in reports
        ],
        batch_size=1000,
    )
    _kick_after_commit()
    return len(reports)


def _kick_after_commit() -> None:
    """One delivery kick per transaction, however many events it wrote."""
    pending = transaction.get_connection().run_on_commit
    if not any(callback is _kick_dispatch for _, callback, *_ in pending):
        transaction.on_commit(_kick_dispatch)


def _kick_dispatch() -> None:
    """Ask a worker to deliver now; if the broker is down (or frozen: the kick gives up after a
    second, and then rests; see tsops.broker), the beat sweep delivers later."""
    try:
        from enforcement.tasks import outbox_dispatch
        from tsops.broker import kick

        sent = kick(outbox_dispatch)
    except Exception:  # noqa: BLE001 - any broker failure: the events are safe in the outbox
        sent = False
    if not sent:
        log.warning("broker unavailable: outbox events will go out on the next sweep")
