"""Writing decisions in a handful of set-based statements: the one home of what a decision
writes.

:func:`decision_write` writes one decision as ``services.decision_make`` has checked it: any
outcome, any number of actions (those beyond the decider's ceiling pending a senior's
approval, and the case with them). :func:`decisions_write_bulk` writes, for a batch of locked,
decidable cases, what ``decision_make`` writes for one violation with one action each, with
one strike count for the batch and one statement draft per kind of action.

Both write the same rows through the same statements — the decision (with the ladder's
recommendation and the statement of reasons), the actions and their history rows, the
strike, the timeline events (``DECISION_MADE``, ``ACTION_APPLIED`` / ``ACTION_PROPOSED``,
``CASE_RESOLVED``), the case's move (``cases.lifecycle``'s declared SQL writers, with its
history row) and the outbox events (``action.applied`` / ``action.proposed``,
``decision.made``, one ``report.outcome`` per report, selected from the reports in the same
statement) — one statement per table instead of one per row, because Django's per-row saves
cost more than the writes. The decisions and actions take their ids from their sequences
first (one round trip), so every statement can name them and all of them go to the database
in one more round trip, the case's move last: it answers the cases it moved, and a case that
changed meanwhile refuses the whole transaction. The rules they reuse stay in their homes:
the catalogue, the ceilings (``permissions.can_take_alone``), the ladder
(``strikes.recommend_for``), the drafts (``services.statement_draft``) and the payloads
(``events``).

Their callers hold the case locks and commit in one transaction, so a decision (or a batch)
is written whole or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from cases.lifecycle import DECIDED_IN_BULK, case_move_decided, cases_move_decided
from cases.models import Case, Subject
from cases.timeline import EventKind
from enforcement import events, strikes
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision, EnforcementAction, OutboxEvent, PolicySection, Strike
from enforcement.selectors import DecisionRules
from enforcement.services import (
    ActionConflict,
    ActionRequest,
    _recommendation_followed,
    _target,
    statement_draft,
)
from tsops import prepared
from tsops.errors import ConflictError
from tsops.history import history_insert_sql

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


# --- One decision ------------------------------------------------------------------------------


def decision_write(
    *,
    actor,
    case: Case,
    outcome: str,
    rules: DecisionRules | None,
    requests: list[ActionRequest],
    rationale: str,
    statement_of_reasons: str,
    automated: bool,
    now: datetime,
) -> Decision:
    """Write one decision on ``case`` (locked by the caller and checked decidable by
    ``actor``, loaded with its queue, subject and the subject's owner) under ``rules``' section
    (None: no section). Actions within the actor's ceiling apply at once; the others wait for
    a senior's approval, and so does the case. The decision comes back with its case (moved
    on), its section, its decider and its actions (each with its subject) in hand, so
    answering it reads nothing more."""
    targets = [_target(case, request) for request in requests]
    account = case.subject.account
    section = rules.section if rules is not None else None
    violation = outcome == Decision.Outcome.VIOLATION and section is not None
    policy = rules.strike_policy if violation else None
    decision = _decision_built(
        actor,
        case,
        outcome,
        section,
        policy,
        requests,
        rationale=rationale,
        statement_of_reasons=statement_of_reasons,
        automated=automated,
        now=now,
    )
    actions = _actions_built(actor, case, decision, requests, targets, now)
    _ids_allocate([decision], actions)
    _actions_in_hand(decision, actions)
    pending = any(a.status == EnforcementAction.Status.PENDING_APPROVAL for a in actions)
    statements = [
        _decisions_insert(
            [decision], actor=actor, rationale=rationale, automated=automated, now=now
        ),
        _actions_insert(actions, actor=actor, reason="", now=now),
        _strikes_insert(
            [(account.pk, decision.pk)] if violation and account is not None else [],
            section=section,
            policy=policy,
            now=now,
        ),
        _timeline_insert(_decision_events(decision, actions, {}), actor=actor, now=now),
        _outbox_insert(
            [*_action_events(actions), _decision_made(decision, actions)],
            outcomes=[] if pending else [decision],
        ),
    ]
    # Every write goes in one round trip, the case's move (which answers what it moved) last.
    case_move_decided(
        case,
        Case.Status.PENDING_APPROVAL if pending else Case.Status.RESOLVED,
        actor=actor,
        reason=f"decided: {outcome}",
        # A decision awaiting approval is on the timeline already (DECISION_MADE).
        event=None if pending else EventKind.CASE_RESOLVED,
        data={"decision_id": decision.pk},
        at=now,
        before=[statement for statement in statements if statement is not None],
    )
    events._kick_after_commit()
    return decision


def _decision_built(
    actor,
    case: Case,
    outcome: str,
    section: PolicySection | None,
    policy,
    requests: list[ActionRequest],
    *,
    rationale: str,
    statement_of_reasons: str,
    automated: bool,
    now: datetime,
) -> Decision:
    """The decision in memory: the ladder's recommendation for a violation (``policy``: the
    strike policy in force, None for any other outcome) and the statement of reasons as
    written or drafted from the section's template."""
    recommendation = (
        strikes.recommend_for(
            strikes.active_strikes(case.subject.account, now), section.severity, policy
        )
        if policy is not None
        else None
    )
    statement, template = (statement_of_reasons or "").strip(), None
    if not statement:
        statement, template = statement_draft(section, requests, at=now)
    return _decision(
        actor,
        case,
        outcome,
        section,
        recommendation,
        requests,
        (statement, template),
        rationale=rationale,
        automated=automated,
        now=now,
    )


def _decision(
    actor, case, outcome, section, recommendation, requests, drafted, *, rationale, automated, now
) -> Decision:
    """One decision row in memory, with the ladder's ``recommendation`` (or None) and the
    ``drafted`` (statement of reasons, template it was rendered from)."""
    statement, template = drafted
    return Decision(
        case=case,
        decided_by=actor,
        outcome=outcome,
        policy_section=section,
        rationale=rationale,
        statement_of_reasons=statement,
        recommended_action=recommendation.label if recommendation else "",
        followed_recommendation=_recommendation_followed(recommendation, requests),
        strikes_before=recommendation.strikes if recommendation else 0,
        automated=automated,
        response_template=template,
        created_at=now,
    )


def _actions_built(actor, case, decision, requests, targets, now) -> list[EnforcementAction]:
    """The decision's actions in memory: within the actor's ceiling active at once, beyond it
    pending a senior's approval."""
    from enforcement.permissions import can_take_alone

    return [
        _action(
            actor,
            decision,
            request,
            target,
            now,
            approver=None,
            alone=can_take_alone(actor, case, request.action_type, request.duration_hours),
        )
        for request, target in zip(requests, targets, strict=True)
    ]


def _actions_in_hand(decision: Decision, actions: list[EnforcementAction]) -> None:
    """``decision.actions.all()`` answers the actions just written, as a prefetch would."""
    cached = EnforcementAction.objects.filter(decision_id=decision.pk)
    cached._result_cache = actions
    cached._prefetch_done = True
    decision._prefetched_objects_cache = {"actions": cached}


# --- A batch of violations ---------------------------------------------------------------------


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
    actions = [
        _action(actor, decision, item.request, target, now, approver=approver, alone=True)
        for item, target, decision in zip(items, targets, decisions, strict=True)
    ]
    _ids_allocate(decisions, actions)
    rows = []
    for decision, action in zip(decisions, actions, strict=True):
        rows += _decision_events(decision, [action], extra)
    statements = [
        _decisions_insert(
            decisions, actor=actor, rationale=rationale, automated=automated, now=now
        ),
        _actions_insert(actions, actor=actor, reason="decided in a wave", now=now),
        _strikes_create(section, items, decisions, now),
        _timeline_insert(rows, actor=actor, now=now),
        _outbox_insert(
            [
                event
                for decision, action in zip(decisions, actions, strict=True)
                for event in (*_action_events([action]), _decision_made(decision, [action]))
            ],
            outcomes=decisions,
        ),
    ]
    _cases_resolve(
        actor, decisions, extra, now, before=[statement for statement in statements if statement]
    )
    events._kick_after_commit()
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
        decisions.append(
            _decision(
                actor,
                item.case,
                Decision.Outcome.VIOLATION,
                section,
                recommended.get(accounts[item.case.pk]),
                [request],
                drafts[key],
                rationale=rationale,
                automated=automated,
                now=now,
            )
        )
    return decisions


def _account_id(case: Case) -> int | None:
    subject = case.subject
    return subject.pk if subject.kind == Subject.Kind.ACCOUNT else subject.owner_id


def _strikes_create(section, items, decisions, now) -> Statement | None:
    """A violation by a known account counts a strike at the section's severity."""
    rows = [
        (_account_id(item.case), decision.pk)
        for item, decision in zip(items, decisions, strict=True)
        if _account_id(item.case) is not None
    ]
    return _strikes_insert(rows, section=section, policy=strikes.strike_policy(), now=now)


def _cases_resolve(actor, decisions, extra, now, *, before: list[Statement]) -> None:
    case_ids = [d.case_id for d in decisions]
    moved = cases_move_decided(
        case_ids,
        Case.Status.RESOLVED,
        writer=DECIDED_IN_BULK,
        actor=actor,
        reason="decided: violation",
        event=EventKind.CASE_RESOLVED,
        data={d.case_id: {"decision_id": d.pk, **extra} for d in decisions},
        at=now,
        before=before,
    )
    if len(moved) != len(case_ids):
        raise ConflictError("A case of the batch changed while it was decided; nothing written.")


# --- The rows, built in memory ---------------------------------------------------------------


def _action(
    actor, decision: Decision, request: ActionRequest, target: Subject, now, *, approver, alone
) -> EnforcementAction:
    """The action a request asks for: active at once when taken alone or approved, else
    pending a senior's approval."""
    action = EnforcementAction(
        decision=decision,
        case=decision.case,
        subject=target,
        action_type=request.action_type,
        feature=request.feature,
        duration_hours=request.duration_hours,
        status=EnforcementAction.Status.PENDING_APPROVAL,
        proposed_by=actor,
        approved_by=approver,
        created_at=now,
        updated_at=now,
    )
    if alone or approver is not None:
        action.status = EnforcementAction.Status.ACTIVE
        action.decided_at = now
        action.starts_at = now
        if ACTIONS[request.action_type].temporary:
            action.expires_at = now + timedelta(hours=request.duration_hours)
    return action


def _decision_events(decision: Decision, actions, extra: dict) -> list[tuple[int, str, dict]]:
    """The decision and each of its actions on the case's timeline."""
    section = decision.policy_section
    rows = [
        (
            decision.case_id,
            EventKind.DECISION_MADE,
            {
                "decision_id": decision.pk,
                "outcome": decision.outcome,
                "policy_section": section.code if section else None,
                "recommended": decision.recommended_action,
                "followed": decision.followed_recommendation,
                **extra,
            },
        )
    ]
    for action in actions:
        applied = action.status == EnforcementAction.Status.ACTIVE
        rows.append(
            (
                decision.case_id,
                EventKind.ACTION_APPLIED if applied else EventKind.ACTION_PROPOSED,
                {
                    "action_id": action.pk,
                    "type": action.action_type,
                    "hours": action.duration_hours,
                    **extra,
                },
            )
        )
    return rows


def _action_events(actions) -> list[tuple[str, dict]]:
    return [
        (
            OutboxEvent.ACTION_APPLIED
            if action.status == EnforcementAction.Status.ACTIVE
            else OutboxEvent.ACTION_PROPOSED,
            events.action_payload(action),
        )
        for action in actions
    ]


def _decision_made(decision: Decision, actions) -> tuple[str, dict]:
    return OutboxEvent.DECISION_MADE, events.decision_payload(decision, actions)


# --- The statements --------------------------------------------------------------------------

# A statement and its parameters, sent with the others of a decision in one round trip.
Statement = tuple[str, list]


def _ids_allocate(decisions: list[Decision], actions: list[EnforcementAction]) -> None:
    """Give the decisions and the actions their ids from their tables' sequences in one
    round trip, so that every statement after can name them and all go together."""
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            [
                (
                    "SELECT ARRAY(SELECT nextval(s) FROM pg_get_serial_sequence(%s, 'id') AS s, "
                    "generate_series(1, %s)), ARRAY(SELECT nextval(s) FROM "
                    "pg_get_serial_sequence(%s, 'id') AS s, generate_series(1, %s))",
                    [
                        Decision._meta.db_table,
                        len(decisions),
                        EnforcementAction._meta.db_table,
                        len(actions),
                    ],
                )
            ],
        )
        decision_ids, action_ids = cursor.fetchone()
    for decision, pk in zip(decisions, decision_ids, strict=True):
        decision.pk = pk
        decision._state.adding = False
    for action, pk in zip(actions, action_ids, strict=True):
        action.pk = pk
        # Assigned again now that the decision has its id: sets decision_id, keeps it in hand.
        action.decision = action.decision
        action._state.adding = False


def _decisions_insert(decisions: list[Decision], *, actor, rationale, automated, now) -> Statement:
    """One row per decision (one per case), with the ids :func:`_ids_allocate` gave."""
    return (
        "INSERT INTO enforcement_decision (id, case_id, decided_by_id, outcome, "
        "policy_section_id, rationale, statement_of_reasons, recommended_action, "
        "followed_recommendation, strikes_before, automated, response_template_id, created_at) "
        "SELECT i, c, %s, oc, ps, %s, st, ra, fr, sb, %s, rt, %s FROM unnest(%s::bigint[], "
        "%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[], %s::bool[], %s::int[], "
        "%s::bigint[]) AS t(i, c, oc, ps, st, ra, fr, sb, rt)",
        [
            actor.pk,
            rationale,
            automated,
            now,
            [d.pk for d in decisions],
            [d.case_id for d in decisions],
            [d.outcome for d in decisions],
            [d.policy_section_id for d in decisions],
            [d.statement_of_reasons for d in decisions],
            [d.recommended_action for d in decisions],
            [d.followed_recommendation for d in decisions],
            [d.strikes_before for d in decisions],
            [d.response_template_id for d in decisions],
        ],
    )


def _actions_insert(
    actions: list[EnforcementAction], *, actor, reason: str, now
) -> Statement | None:
    """The actions (with the ids :func:`_ids_allocate` gave) and their history rows (``+``,
    naming the actor) in one statement."""
    if not actions:
        return None
    # The history statement comes from the models, never from input.
    sql = (
        "WITH made AS (INSERT INTO enforcement_enforcementaction (id, created_at, updated_at, "  # noqa: S608
        "decision_id, case_id, subject_id, action_type, feature, duration_hours, status, "
        "proposed_by_id, approved_by_id, decided_at, rejection_reason, starts_at, expires_at, "
        "reversal_reason, version) "
        "SELECT i, %s, %s, d, c, s, ty, f, h, st, %s, ap, da, '', sa, ex, '', 1 "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
        "%s::text[], %s::text[], %s::int[], %s::text[], %s::timestamptz[], %s::timestamptz[], "
        "%s::timestamptz[]) AS t(i, ap, d, c, s, ty, f, h, st, da, sa, ex) RETURNING *), "
        f"history AS ({history_insert_sql(EnforcementAction, 'made')}) "
        "SELECT id FROM made"
    )
    params = [now, now, actor.pk]
    params += [
        [a.pk for a in actions],
        [a.approved_by_id for a in actions],
        [a.decision_id for a in actions],
        [a.case_id for a in actions],
        [a.subject_id for a in actions],
        [a.action_type for a in actions],
        [a.feature for a in actions],
        [a.duration_hours for a in actions],
        [a.status for a in actions],
        [a.decided_at for a in actions],
        [a.starts_at for a in actions],
        [a.expires_at for a in actions],
    ]
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    params += [now, "+", actor_id, reason or None]
    return sql, params


def _strikes_insert(rows: list[tuple[int, int]], *, section, policy, now) -> Statement | None:
    """A strike per (account id, decision id) at the section's severity."""
    if not rows:
        return None
    return (
        "INSERT INTO enforcement_strike (created_at, updated_at, account_id, decision_id, "
        "points, expires_at) SELECT %s, %s, a, d, %s, %s "
        "FROM unnest(%s::bigint[], %s::bigint[]) AS t(a, d)",
        [
            now,
            now,
            strikes.points_for(section.severity, policy),
            now + timedelta(days=policy.expiry_days),
            [r[0] for r in rows],
            [r[1] for r in rows],
        ],
    )


def _timeline_insert(rows: list[tuple[int, str, dict]], *, actor, now) -> Statement:
    """Timeline events (case id, kind, data), in this order, all at ``now``."""
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    return (
        "INSERT INTO cases_caseevent (case_id, kind, actor_id, at, data) "
        "SELECT c, k, %s, %s, d::jsonb FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
        "WITH ORDINALITY AS t(c, k, d, o) ORDER BY o",
        [
            actor_id,
            now,
            [case_id for case_id, _, _ in rows],
            [EventKind(kind).value for _, kind, _ in rows],
            [json.dumps(data, cls=DjangoJSONEncoder) for _, _, data in rows],
        ],
    )


def _outbox_insert(rows: list[tuple[str, dict]], *, outcomes: list[Decision]) -> Statement:
    """The events (type, payload), then one ``report.outcome`` per report on each decision's
    case (the payload :func:`events.emit_report_outcomes` gives), in one statement. Each
    event is a microsecond after the one before, so they go out in the order written. The
    caller kicks the delivery once the statement is sent (``events._kick_after_commit``)."""
    now = timezone.now()
    emitted_at = now.isoformat()
    return (
        "INSERT INTO enforcement_outboxevent (id, event_type, payload, created_at) "
        "SELECT gen_random_uuid(), e, p::jsonb, "
        "%s::timestamptz + (o - 1) * interval '1 microsecond' "
        "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(e, p, o) "
        "UNION ALL "
        "SELECT gen_random_uuid(), %s::text, jsonb_build_object('report_id', r.id, "
        "'source', r.source, 'external_id', r.external_id, 'case_id', r.case_id, "
        "'decision_id', d.di, 'outcome', d.oc, 'action_taken', d.taken, "
        "'emitted_at', %s::text), "
        "%s::timestamptz + (%s::bigint + row_number() OVER (ORDER BY d.o, r.id) - 1) "
        "* interval '1 microsecond' "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bool[]) "
        "WITH ORDINALITY AS d(c, di, oc, taken, o) JOIN cases_report r ON r.case_id = d.c",
        [
            now,
            [event_type for event_type, _ in rows],
            [
                json.dumps({**payload, "emitted_at": emitted_at}, cls=DjangoJSONEncoder)
                for _, payload in rows
            ],
            OutboxEvent.REPORT_OUTCOME,
            emitted_at,
            now,
            len(rows),
            [d.case_id for d in outcomes],
            [d.pk for d in outcomes],
            [d.outcome for d in outcomes],
            [d.outcome == Decision.Outcome.VIOLATION for d in outcomes],
        ],
    )
