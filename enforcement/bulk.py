"""Deciding many cases alike in a handful of statements: what a wave writes for each member.

:func:`decisions_write_bulk` writes, for a batch of locked, decidable cases, exactly what
``services.decision_make`` writes for one violation with one action each — the decision
(with the ladder's recommendation and the statement of reasons), the action, the strike,
the timeline events (``DECISION_MADE``, ``ACTION_APPLIED``, ``CASE_RESOLVED``), the history
rows and the outbox events (``action.applied``, ``decision.made``, ``report.outcome``) — but
set-based: one ``bulk_create`` per table, one strike count for the batch, one statement
draft per kind of action, and the case moves through ``cases.lifecycle``'s declared bulk
writer. The rules it reuses stay in their homes: the catalogue, the ceilings
(``permissions.can_take_alone``), the ladder (``strikes.recommend_for``), the drafts
(``services.statement_draft``) and the payloads (``events``).

Its caller holds the case locks and commits the batch in one transaction with its own
record of what was done, so a batch is written whole or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from cases.lifecycle import cases_resolve_decided
from cases.models import Case, CaseEvent, Report, Subject
from cases.timeline import EventKind
from enforcement import events, strikes
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision, EnforcementAction, OutboxEvent, PolicySection, Strike
from enforcement.services import (
    ActionConflict,
    ActionRequest,
    _recommendation_followed,
    _target,
    statement_draft,
)
from tsops.errors import ConflictError
from tsops.history import history_snapshot

BATCH_SIZE = 1000


@dataclass(frozen=True)
class BulkItem:
    """One case to decide: locked by the caller, loaded with its subject and the subject's
    owner, and the one action it takes."""

    case: Case
    request: ActionRequest


def recommendations_for(
    account_ids, severity: int, *, now: datetime | None = None
) -> dict[int, strikes.Recommendation]:
    """The ladder's recommendation for each account, with one query for all their strikes
    and one ladder step per distinct strike count."""
    now = now or timezone.now()
    ids = [i for i in set(account_ids) if i is not None]
    counts = dict.fromkeys(ids, 0)
    if ids:
        rows = (
            Strike.objects.filter(strikes.counting_q(now), account_id__in=ids)
            .values("account_id")
            .annotate(total=Sum("points"))
            .values_list("account_id", "total")
        )
        counts.update({account_id: total or 0 for account_id, total in rows})
    policy = strikes.strike_policy()
    steps = {
        count: strikes.recommend_for(count, severity, policy) for count in set(counts.values())
    }
    return {account_id: steps[count] for account_id, count in counts.items()}


def stronger_than(recommendation: strikes.Recommendation | None, request: ActionRequest) -> bool:
    """Whether the ladder recommends more than the chosen action: another account action
    ranked higher (warn < suspend < ban), or a longer suspension."""
    if recommendation is None or recommendation.action is None:
        return False
    rank = {"warn": 1, "restrict_feature": 2, "suspend": 3, "ban": 4}
    chosen = rank.get(request.action_type, 0)
    wanted = rank.get(recommendation.action, 0)
    if wanted != chosen:
        return wanted > chosen
    return (recommendation.duration_hours or 0) > (request.duration_hours or 0)


def decisions_write_bulk(
    *,
    actor,
    section: PolicySection,
    rationale: str,
    statement_of_reasons: str,
    items: list[BulkItem],
    approver=None,
    event_data: dict | None = None,
    now: datetime | None = None,
    automated: bool = False,
) -> dict[int, int]:
    """Decide every item's case (violation of ``section``, one action each) within the
    caller's transaction; decision id by case id. ``approver`` is the senior whose approval
    stands for actions beyond ``actor``'s ceiling (the wave's four-eyes); without one, such an
    action is refused (409) — a batch is never half applied. ``event_data`` is added to each
    timeline event (the wave's id). ``automated`` marks decisions no human made (a rule's),
    which their statements of reasons and the transparency report say."""
    if not items:
        return {}
    now = now or timezone.now()
    extra = dict(event_data or {})
    targets = [_target(item.case, item.request) for item in items]
    _check_ceilings(actor, approver, items)
    decisions = _decisions_create(
        actor, section, rationale, statement_of_reasons, items, now, automated=automated
    )
    actions = _actions_create(actor, approver, items, targets, decisions, now)
    _strikes_create(section, items, decisions, now)
    _timeline_record(actor, section, decisions, actions, extra, now)
    _cases_resolve(actor, decisions, extra, now)
    _outbox_write(section, decisions, actions, items)
    return {decision.case_id: decision.pk for decision in decisions}


def _check_ceilings(actor, approver, items: list[BulkItem]) -> None:
    from enforcement.permissions import can_take_alone

    if approver is not None:
        return
    for item in items:
        request = item.request
        if not can_take_alone(actor, item.case, request.action_type, request.duration_hours):
            raise ActionConflict(
                f"{request.action_type} on case {item.case.pk} needs a senior's approval."
            )


def _decisions_create(
    actor, section, rationale, statement_of_reasons, items: list[BulkItem], now, *, automated
) -> list[Decision]:
    """One decision per case, with the ladder's recommendation (one strike query for the
    batch) and the statement written or drafted once per kind of action."""
    accounts = {item.case.pk: _account_id(item.case) for item in items}
    recommended = recommendations_for(accounts.values(), section.severity, now=now)
    drafts: dict[tuple, tuple] = {}
    written = (statement_of_reasons or "").strip()
    decisions = []
    for item in items:
        request = item.request
        key = (request.action_type, request.duration_hours, request.feature)
        if key not in drafts:
            drafts[key] = (
                (written, None) if written else statement_draft(section, [request], at=now)
            )
        statement, template = drafts[key]
        recommendation = recommended.get(accounts[item.case.pk])
        decision = Decision(
            case=item.case,
            decided_by=actor,
            outcome=Decision.Outcome.VIOLATION,
            policy_section=section,
            rationale=rationale,
            statement_of_reasons=statement,
            recommended_action=recommendation.label if recommendation else "",
            followed_recommendation=_recommendation_followed(recommendation, [request]),
            strikes_before=recommendation.strikes if recommendation else 0,
            automated=automated,
            response_template=template,
            created_at=now,
        )
        decisions.append(decision)
    ids = _insert_by_case(
        "INSERT INTO enforcement_decision (case_id, decided_by_id, outcome, policy_section_id, "
        "rationale, statement_of_reasons, recommended_action, followed_recommendation, "
        "strikes_before, automated, response_template_id, created_at) "
        "SELECT c, %s, %s, %s, %s, st, ra, fr, sb, %s, rt, %s FROM unnest(%s::bigint[], "
        "%s::text[], %s::text[], %s::bool[], %s::int[], %s::bigint[]) "
        "AS t(c, st, ra, fr, sb, rt) RETURNING case_id, id",
        [
            actor.pk,
            Decision.Outcome.VIOLATION,
            section.pk,
            rationale,
            automated,
            now,
            [d.case_id for d in decisions],
            [d.statement_of_reasons for d in decisions],
            [d.recommended_action for d in decisions],
            [d.followed_recommendation for d in decisions],
            [d.strikes_before for d in decisions],
            [d.response_template_id for d in decisions],
        ],
    )
    for decision in decisions:
        decision.pk = ids[decision.case_id]
        decision._state.adding = False
    return decisions


def _insert_by_case(sql: str, params: list) -> dict[int, int]:
    """Run an ``INSERT … RETURNING case_id, id`` from arrays (one row per case); id by case."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def _account_id(case: Case) -> int | None:
    subject = case.subject
    return subject.pk if subject.kind == Subject.Kind.ACCOUNT else subject.owner_id


def _actions_create(actor, approver, items, targets, decisions, now) -> list[EnforcementAction]:
    """One action per decision, applied now (within the actor's ceiling, or approved)."""
    actions = []
    for item, target, decision in zip(items, targets, decisions, strict=True):
        request = item.request
        spec = ACTIONS[request.action_type]
        action = EnforcementAction(
            decision=decision,
            case=item.case,
            subject=target,
            action_type=request.action_type,
            feature=request.feature,
            duration_hours=request.duration_hours,
            status=EnforcementAction.Status.ACTIVE,
            proposed_by=actor,
            approved_by=approver,
            decided_at=now,
            starts_at=now,
            expires_at=now + timedelta(hours=request.duration_hours) if spec.temporary else None,
            created_at=now,
        )
        actions.append(action)
    ids = _insert_by_case(
        "INSERT INTO enforcement_enforcementaction (created_at, updated_at, decision_id, "
        "case_id, subject_id, action_type, feature, duration_hours, status, proposed_by_id, "
        "approved_by_id, decided_at, rejection_reason, starts_at, expires_at, "
        "reversal_reason, version) "
        "SELECT %s, %s, d, c, s, ty, f, h, %s, %s, %s, %s, '', %s, ex, '', 1 "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], "
        "%s::int[], %s::timestamptz[]) AS t(d, c, s, ty, f, h, ex) RETURNING case_id, id",
        [
            now,
            now,
            EnforcementAction.Status.ACTIVE,
            actor.pk,
            approver.pk if approver is not None else None,
            now,
            now,
            [a.decision.pk for a in actions],
            [a.case_id for a in actions],
            [a.subject_id for a in actions],
            [a.action_type for a in actions],
            [a.feature for a in actions],
            [a.duration_hours for a in actions],
            [a.expires_at for a in actions],
        ],
    )
    for action in actions:
        action.pk = ids[action.case_id]
        action._state.adding = False
    history_snapshot(
        EnforcementAction,
        [a.pk for a in actions],
        history_type="+",
        actor=actor,
        reason="decided in a wave",
        at=now,
    )
    return actions


def _strikes_create(section, items, decisions, now) -> None:
    """A violation by a known account counts a strike at the section's severity."""
    policy = strikes.strike_policy()
    points = strikes.points_for(section.severity, policy)
    expires = now + timedelta(days=policy.expiry_days)
    rows = [
        (_account_id(item.case), decision.pk)
        for item, decision in zip(items, decisions, strict=True)
        if _account_id(item.case) is not None
    ]
    _execute(
        "INSERT INTO enforcement_strike (created_at, updated_at, account_id, decision_id, "
        "points, expires_at) SELECT %s, %s, a, d, %s, %s "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS t(a, d)",
        [now, now, points, expires, [r[0] for r in rows], [r[1] for r in rows]],
    )


def _execute(sql: str, params: list) -> None:
    """One set-based INSERT from arrays (Django's bulk_create prepares every value of every
    row in Python, which cost more than the writes)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _timeline_record(actor, section, decisions, actions, extra, now) -> None:
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    rows = []
    for decision, action in zip(decisions, actions, strict=True):
        rows.append(
            CaseEvent(
                case_id=decision.case_id,
                kind=EventKind.DECISION_MADE,
                actor_id=actor_id,
                at=now,
                data={
                    "decision_id": decision.pk,
                    "outcome": decision.outcome,
                    "policy_section": section.code,
                    "recommended": decision.recommended_action,
                    "followed": decision.followed_recommendation,
                    **extra,
                },
            )
        )
        rows.append(
            CaseEvent(
                case_id=decision.case_id,
                kind=EventKind.ACTION_APPLIED,
                actor_id=actor_id,
                at=now,
                data={
                    "action_id": action.pk,
                    "type": action.action_type,
                    "hours": action.duration_hours,
                    **extra,
                },
            )
        )
    _execute(
        "INSERT INTO cases_caseevent (case_id, kind, actor_id, at, data) "
        "SELECT c, k, %s, %s, d::jsonb FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
        "AS t(c, k, d)",
        [
            actor_id,
            now,
            [r.case_id for r in rows],
            [r.kind for r in rows],
            [json.dumps(r.data, cls=DjangoJSONEncoder) for r in rows],
        ],
    )


def _cases_resolve(actor, decisions, extra, now) -> None:
    case_ids = [d.case_id for d in decisions]
    moved = cases_resolve_decided(
        case_ids,
        actor=actor,
        reason="decided: violation",
        data={d.case_id: {"decision_id": d.pk, **extra} for d in decisions},
        at=now,
    )
    if len(moved) != len(case_ids):
        raise ConflictError("A case of the batch changed while it was decided; nothing written.")


def _outbox_write(section, decisions, actions, items) -> None:
    """``action.applied`` and ``decision.made`` per decision, ``report.outcome`` per report,
    with the payloads ``enforcement.events`` gives them."""
    emitted_at = timezone.now().isoformat()
    reports = Report.objects.filter(case_id__in=[d.case_id for d in decisions]).values_list(
        "case_id", "id", "source", "external_id"
    )
    by_case: dict[int, list] = {}
    for case_id, report_id, source, external_id in reports:
        by_case.setdefault(case_id, []).append((report_id, source, external_id))
    rows = []
    for item, decision, action in zip(items, decisions, actions, strict=True):
        action.decision = decision
        payload = events.action_payload(action)
        rows.append(
            OutboxEvent(
                event_type=OutboxEvent.ACTION_APPLIED,
                payload={**payload, "emitted_at": emitted_at},
            )
        )
        rows.append(
            OutboxEvent(
                event_type=OutboxEvent.DECISION_MADE,
                payload={
                    "decision_id": decision.pk,
                    "case_id": decision.case_id,
                    "outcome": decision.outcome,
                    "policy_section": section.code,
                    "subject": {
                        "kind": item.case.subject.kind,
                        "external_id": item.case.subject.external_id,
                    },
                    "actions": [
                        {
                            "action_id": action.pk,
                            "type": action.action_type,
                            "status": action.status,
                        }
                    ],
                    "statement_of_reasons": decision.statement_of_reasons,
                    "emitted_at": emitted_at,
                },
            )
        )
        rows.extend(
            OutboxEvent(
                event_type=OutboxEvent.REPORT_OUTCOME,
                payload={
                    "report_id": report_id,
                    "source": source,
                    "external_id": external_id,
                    "case_id": decision.case_id,
                    "decision_id": decision.pk,
                    "outcome": decision.outcome,
                    "action_taken": True,
                    "emitted_at": emitted_at,
                },
            )
            for report_id, source, external_id in by_case.get(decision.case_id, ())
        )
    _execute(
        "INSERT INTO enforcement_outboxevent (id, event_type, payload, created_at) "
        "SELECT gen_random_uuid(), e, p::jsonb, %s FROM unnest(%s::text[], %s::text[]) "
        "AS t(e, p)",
        [
            timezone.now(),
            [r.event_type for r in rows],
            [json.dumps(r.payload, cls=DjangoJSONEncoder) for r in rows],
        ],
    )
    events._kick_after_commit()
