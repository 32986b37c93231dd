"""The case lifecycle: every change of ``Case.status`` goes through here.

:func:`case_transition` is the one function that moves a case (already locked by the caller)
from one status to another: it checks ``Case.TRANSITIONS``, sets or clears the claim, stamps
the first action and the resolution, bumps the version, saves with the history row naming
the actor and the reason, and records the timeline event — so no path can forget one of
them. The writers that stay set-based SQL for speed (the claim statement, lease expiry,
intake) take their status values from :data:`SQL_WRITERS`, which is checked against the same
table when this module loads, and a test walks every move each of them makes.

A resolved case is *reopened* (``resolved`` → ``new``) by an overturned appeal, by a failed
QA review whose correction changes the outcome, or by new evidence. It goes back to its
queue with its whole history and fresh deadlines, and is worked and decided again: the new
decision supersedes the one that did not stand, so every figure labelled by human decisions
(detector precision, rule backtests, reporter reputation) follows the corrected outcome.
Each reopen is one ``CASE_REOPENED`` event — the rework KPI counts them. When the subject
already has another open case (a newer report opened one), the work joins that case instead:
the old case stays resolved, records the reopen (it is still rework) and is linked to it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Expression, TextChoices
from django.http import Http404
from django.utils import timezone

from cases.models import Case, CaseLink, Evidence, Queue, Subject
from cases.permissions import check_reopen_case
from cases.sla import deadlines_restamp
from cases.timeline import EventKind, record
from cases.visibility import (
    CaseCondition,
    can_view_case,
    case_access_annotations,
    case_access_refusal,
    team_access_annotations,
)
from tsops import prepared
from tsops.claims import LeasedWork
from tsops.errors import ConflictError, HiddenObject
from tsops.history import history_fields, history_insert_sql
from tsops.models import instance_from_row

Status = Case.Status

# A claimed case is held this long unless the claimant keeps working on it.
LEASE = timedelta(minutes=15)

# Leaving the queue this way is the case's first action (its first-action deadline is met).
FIRST_ACTION_TARGETS = frozenset({Status.PENDING_APPROVAL, Status.ESCALATED, Status.RESOLVED})

CASE_WORK = LeasedWork(
    model=Case,
    lease=LEASE,
    open_status=Status.NEW,
    claimed_status=Status.IN_REVIEW,
    claim_extra_set="first_claimed_at = COALESCE(t.first_claimed_at, %(now)s)",
)


class InvalidTransition(ConflictError):
    def __init__(self, case: Case, target: str):
        super().__init__(f"A {case.get_status_display().lower()} case cannot become {target}.")


class ReopenTrigger(TextChoices):
    """Why a resolved case is worked again (each counts as rework)."""

    APPEAL_OVERTURNED = "appeal_overturned", "Appeal overturned"
    QA_CORRECTION = "qa_correction", "QA review corrected the outcome"
    NEW_EVIDENCE = "new_evidence", "New evidence"


@dataclass(frozen=True)
class SqlWriter:
    """A set-based statement that changes ``Case.status``, and the moves it may make."""

    name: str
    moves: tuple[tuple[str, str], ...]


# Every SQL statement that writes cases_case.status, with the moves it makes. They read their
# status values from here, and the table check below runs when the module loads.
CLAIM = SqlWriter("claim", ((CASE_WORK.open_status, CASE_WORK.claimed_status),))
LEASE_EXPIRY = SqlWriter("lease expiry", ((CASE_WORK.claimed_status, CASE_WORK.open_status),))
# A joining report that restricts a claimed case hands it back to the (team's) queue.
INTAKE_RESTRICT = SqlWriter("intake restricts a claimed case", ((Status.IN_REVIEW, Status.NEW),))
# A wave decides many open cases at once (enforcement.bulk): :func:`cases_move_decided`.
DECIDED_IN_BULK = SqlWriter(
    "decided in bulk", ((Status.NEW, Status.RESOLVED), (Status.IN_REVIEW, Status.RESOLVED))
)
# One decision (enforcement.services.decision_make) moves its decidable case on: resolved, or
# pending approval while an action waits for a senior (:func:`cases_move_decided`).
DECIDED = SqlWriter(
    "a decision",
    tuple(
        (source, target)
        for source in (Status.NEW, Status.IN_REVIEW, Status.ESCALATED)
        for target in (Status.RESOLVED, Status.PENDING_APPROVAL)
    ),
)
SQL_WRITERS = (CLAIM, LEASE_EXPIRY, INTAKE_RESTRICT, DECIDED_IN_BULK, DECIDED)


def allowed(source: str, target: str) -> bool:
    """Whether the lifecycle table allows ``source`` → ``target``."""
    return target in Case.TRANSITIONS[source]


def _check_sql_writers() -> None:
    for writer in SQL_WRITERS:
        for source, target in writer.moves:
            if not allowed(source, target):
                raise AssertionError(f"{writer.name}: {source} -> {target} is not allowed")


_check_sql_writers()


def case_lock(case_id: int, actor, *, related: tuple[str, ...] = (), guarded: bool = False) -> Case:
    """Lock a case row for update; a case the actor may not see does not exist for them.
    ``related`` are more relations to load with it (the queue always is), and whether the
    actor's teams may see it is read in the same query. ``guarded`` also refuses (403) a
    visible case a registered guard closes to the actor for now (QA's blind review: see
    :func:`cases.visibility.case_access_refusal`), read in the same query too."""
    cases = Case.objects.select_for_update(of=("self",)).select_related("queue", *related)
    try:
        case = cases.annotate(**_access_annotations(actor, guarded)).get(pk=case_id)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None
    return _access_checked(case, actor, guarded=guarded)


# A case as hand-written statements answer it (the claim's, the decision's lock): the columns
# its history copies, then its subject's, then its subject owner's (NULL without an owner).
CASE_FIELDS = history_fields(Case)
SUBJECT_FIELDS = tuple(Subject._meta.concrete_fields)
OWNER_FIELDS = tuple(Subject._meta.get_field(name) for name in ("id", "kind", "external_id"))
_QUEUE_FIELDS = tuple(Queue._meta.concrete_fields)


def case_row_columns(case: str, subject: str, owner: str) -> str:
    """The select list :func:`case_from_row` reads, from the tables' aliases."""
    return ", ".join(
        [f'{case}."{f.column}"' for f in CASE_FIELDS]
        + [f'{subject}."{f.column}"' for f in SUBJECT_FIELDS]
        + [f'{owner}."{f.column}"' for f in OWNER_FIELDS]
    )


def case_from_row(row: tuple) -> tuple[Case, tuple]:
    """The case of a row selected by :func:`case_row_columns`, with its subject and the
    subject's owner, and the row's further columns."""
    case_end = len(CASE_FIELDS)
    subject_end = case_end + len(SUBJECT_FIELDS)
    owner_end = subject_end + len(OWNER_FIELDS)
    case = instance_from_row(Case, CASE_FIELDS, row[:case_end])
    case.subject = instance_from_row(Subject, SUBJECT_FIELDS, row[case_end:subject_end])
    if row[subject_end] is not None:
        case.subject.owner = instance_from_row(Subject, OWNER_FIELDS, row[subject_end:owner_end])
    return case, row[owner_end:]


def case_lock_with_subject(case_id: int, actor, *, guarded: bool = False) -> Case:
    """:func:`case_lock` with ``related=("subject", "subject__owner")`` in one hand-written
    statement (the claim's shape) instead of a query compiled per call: the same lock, the
    same 404 for a case the actor may not see and, when ``guarded``, the same refusal (403).
    The subject's owner comes with its id, kind and external id."""
    annotations = _access_annotations(actor, guarded)
    access_sql, access_params = _access_columns(annotations, case_id)
    # Column lists and access conditions come from the models and the registered rules.
    sql = (
        f"SELECT {case_row_columns('c', 's', 'o')}, "  # noqa: S608
        + ", ".join([f'q."{f.column}"' for f in _QUEUE_FIELDS] + access_sql)
        + " FROM cases_case c JOIN cases_subject s ON s.id = c.subject_id "
        "LEFT JOIN cases_subject o ON o.id = s.owner_id JOIN cases_queue q ON q.id = c.queue_id "
        "WHERE c.id = %s FOR UPDATE OF c"
    )
    with connection.cursor() as cursor:
        prepared.execute(cursor, [(sql, [*access_params, case_id])])
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such case.")
    case, rest = case_from_row(row)
    case.queue = instance_from_row(Queue, _QUEUE_FIELDS, rest[: len(_QUEUE_FIELDS)])
    for name, value in zip(annotations, rest[len(_QUEUE_FIELDS) :], strict=True):
        case.__dict__[name] = value
    return _access_checked(case, actor, guarded=guarded)


def _access_annotations(actor, guarded: bool) -> dict[str, Expression]:
    return case_access_annotations(actor) if guarded else team_access_annotations(actor)


def _access_columns(annotations: dict[str, Expression], case_id: int) -> tuple[list[str], list]:
    """The annotations as select-list items over the case ``c``: a :class:`CaseCondition` as
    its own SQL, any other expression compiled in a subquery on the same case."""
    columns, params = [], []
    for name, expression in annotations.items():
        if isinstance(expression, CaseCondition):
            sql, values = expression.sql_for("c.id")
        else:
            query = Case.objects.filter(pk=case_id).annotate(**{name: expression}).values(name)
            sql, values = query.query.sql_with_params()
            sql = f"({sql})"
        columns.append(sql)
        params += values
    return columns, params


def _access_checked(case: Case, actor, *, guarded: bool) -> Case:
    """The locked case once the actor may see it (else 404) and, when ``guarded``, no guard
    closes it to them for now (else 403)."""
    if not can_view_case(actor, case):
        raise HiddenObject("No such case.", actor=actor, obj=case)
    if guarded and (refusal := case_access_refusal(case)):
        raise PermissionDenied(refusal)
    return case


def check_transition(case: Case, target: str, *, describe: str = "") -> None:
    """Refuse (409) a move the table does not allow."""
    if not allowed(case.status, target):
        raise InvalidTransition(case, describe or Status(target).label.lower())


def case_transition(
    case: Case,
    target: str,
    *,
    actor,
    reason: str,
    event: EventKind | None,
    data: dict | None = None,
    at: datetime | None = None,
    claimant=None,
) -> Case:
    """Move a locked ``case`` to ``target`` and save it; the caller holds the row lock and has
    checked the actor's permission. ``claimant`` is who holds an ``in_review`` case (the
    actor unless assigned); ``event`` is the timeline entry recorded with ``data`` (None only
    when the caller records a richer one for the same moment); ``reason`` goes to history."""
    check_transition(case, target)
    now = at or timezone.now()
    if target == Status.IN_REVIEW:
        case.claimed_by = claimant or actor
        case.claimed_at = now
        case.first_claimed_at = case.first_claimed_at or now
        case.lease_expires_at = now + LEASE
    else:
        case.claimed_by = None
        case.claimed_at = None
        case.lease_expires_at = None
    if target in FIRST_ACTION_TARGETS:
        case.first_action_at = case.first_action_at or now
    if target == Status.RESOLVED:
        case.resolved_at = now
    elif case.status == Status.RESOLVED:
        _reopen_fields(case, now)
    case.status = target
    case.version += 1
    case._change_reason = reason
    # Name the actor in the history row even outside a browser request (REST, tasks):
    # StaleEdit tells the next editor who changed the case.
    case._history_user = actor if actor is not None and actor.is_authenticated else None
    case.save()
    if event is not None:
        record(case, event, actor, at=now, **(data or {}))
    return case


def cases_move_decided(
    case_ids: list[int],
    target: str,
    *,
    writer: SqlWriter,
    actor,
    reason: str,
    event: EventKind | None,
    data: dict[int, dict],
    at: datetime,
    before: Sequence[tuple[str, list]] = (),
) -> list[int]:
    """Move decided cases, locked by the caller, to ``target`` (resolved, or pending approval)
    in one statement making ``writer``'s moves, with what :func:`case_transition` writes for
    each: the claim cleared, first action (and resolution) stamped, the version bumped, a
    history row naming the actor and the reason, and the ``event`` with ``data[case_id]``
    (None: the caller records a richer one). Returns the ids moved; a case no longer in a
    source status is left as it is. ``before`` are the caller's statements (SQL, parameters)
    sent ahead of the move in the same round trip, in the caller's transaction."""
    sources = sorted({source for source, to in writer.moves if to == target})
    if not sources:
        raise AssertionError(f"{writer.name} never moves a case to {target}")
    ids = list(case_ids)
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    # Data-modifying CTEs all run, and each sees the rows the UPDATE returned. The history
    # statement is built from the models, never from input.
    sql = (
        "WITH moved AS (UPDATE cases_case SET status = %s, claimed_by_id = NULL, "  # noqa: S608
        "claimed_at = NULL, lease_expires_at = NULL, "
        "first_action_at = COALESCE(first_action_at, %s), "
        "resolved_at = CASE WHEN %s THEN %s ELSE resolved_at END, version = version + 1, "
        "updated_at = %s WHERE id = ANY(%s) AND status = ANY(%s) RETURNING *), "
        f"history AS ({history_insert_sql(Case, 'moved')}) "
    )
    params = [target, at, target == Status.RESOLVED, at, at, ids, sources]
    params += [at, "~", actor_id, reason or None]
    if event is None:
        sql += "SELECT id FROM moved"
    else:
        sql += (
            "INSERT INTO cases_caseevent (case_id, kind, actor_id, at, data) "
            "SELECT moved.id, %s, %s, %s, t.d::jsonb FROM moved "
            "JOIN unnest(%s::bigint[], %s::text[]) AS t(c, d) ON t.c = moved.id "
            "ORDER BY moved.id RETURNING case_id"
        )
        params += [
            EventKind(event),
            actor_id,
            at,
            ids,
            [json.dumps(data.get(case_id, {}), cls=DjangoJSONEncoder) for case_id in ids],
        ]
    # psycopg binds the parameters client-side: the statements go as one, and the last (the
    # move) answers.
    with connection.cursor() as cursor:
        prepared.execute(cursor, [*before, (sql, params)])
        return sorted(row[0] for row in cursor.fetchall())


def case_move_decided(
    case: Case,
    target: str,
    *,
    actor,
    reason: str,
    event: EventKind | None,
    data: dict,
    at,
    before: Sequence[tuple[str, list]] = (),
) -> Case:
    """:func:`cases_move_decided` for one decided case the caller has locked and loaded, with
    the change mirrored on ``case`` (what :func:`case_transition` would have saved);
    ``before`` as there."""
    check_transition(case, target)
    moved = cases_move_decided(
        [case.pk],
        target,
        writer=DECIDED,
        actor=actor,
        reason=reason,
        event=event,
        data={case.pk: data},
        at=at,
        before=before,
    )
    if moved != [case.pk]:
        raise ConflictError("The case changed while it was decided; nothing written.")
    case.claimed_by = None
    case.claimed_at = None
    case.lease_expires_at = None
    case.first_action_at = case.first_action_at or at
    if target == Status.RESOLVED:
        case.resolved_at = at
    case.status = target
    case.version += 1
    case.updated_at = at
    return case


def _reopen_fields(case: Case, now: datetime) -> None:
    """A reopened case is open work again: fresh deadlines at its severity, counted rework."""
    case.resolved_at = None
    case.reopen_count += 1
    deadlines_restamp(case, now)


# --- Reopening --------------------------------------------------------------------------------


def case_reopen(
    *,
    actor,
    case_id: int,
    trigger: str,
    reason: str,
    checked: bool = False,
    **data,
) -> Case:
    """Reopen a resolved case as rework (see the module docstring for what that means).

    ``checked`` is for services that have authorised their own part (an appeal reviewer
    overturning, a QA failure becoming final); anyone else is checked by
    :func:`cases.permissions.check_reopen_case`.
    Returns the case that holds the work now (the open one it joined, if any).
    """
    trigger = ReopenTrigger(trigger)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the case is reopened."})
    with transaction.atomic():
        if checked:
            case = Case.objects.select_for_update(of=("self",)).select_related("queue")
            case = case.get(pk=case_id)
        else:
            case = case_lock(case_id, actor)
        if not checked:
            check_reopen_case(actor, case)
        elif case.is_open:
            # Already reworked (another appeal on the same decision reopened it): the open
            # case is where this correction lands too; one reopen, one piece of rework.
            return case
        check_transition(case, Status.NEW, describe="reopened: it is still open")
        open_case = Case.objects.filter(subject_id=case.subject_id).exclude(status=Status.RESOLVED)
        joined = open_case.select_for_update(of=("self",)).first()
        if joined is None:
            return case_transition(
                case,
                Status.NEW,
                actor=actor,
                reason=f"reopened: {trigger.label.lower()}",
                event=EventKind.CASE_REOPENED,
                data={"trigger": trigger.value, "reason": reason, **data},
            )
        return _reopen_into(case, joined, actor=actor, trigger=trigger, reason=reason, **data)


def _reopen_into(case: Case, joined: Case, *, actor, trigger: ReopenTrigger, reason: str, **data):
    """The subject has another open case: the reopened work joins it (one open case per
    subject). The old case stays resolved, records the reopen and links to the open one."""
    case.reopen_count += 1
    case.version += 1
    case._change_reason = f"reopened into case {joined.pk}: {trigger.label.lower()}"
    case._history_user = actor if actor is not None and actor.is_authenticated else None
    case.save()
    record(
        case,
        EventKind.CASE_REOPENED,
        actor,
        trigger=trigger.value,
        reason=reason,
        joined_case_id=joined.pk,
        **data,
    )
    CaseLink.objects.get_or_create(
        from_case=joined,
        to_case=case,
        kind=CaseLink.Kind.RELATED,
        defaults={"created_by": actor if actor.is_authenticated else None},
    )
    record(joined, EventKind.CASE_LINKED, actor, kind=CaseLink.Kind.RELATED, case_id=case.pk)
    return joined


def case_reopen_with_evidence(*, actor, case_id: int, reason: str) -> Case:
    """Reopen a resolved case because evidence was added to it after its resolution."""
    case = Case.objects.filter(pk=case_id).only("resolved_at").first()
    fresh = (
        Evidence.objects.filter(case_id=case_id, created_at__gt=case.resolved_at)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
        if case is not None and case.resolved_at is not None
        else None
    )
    if case is not None and case.resolved_at is not None and fresh is None:
        raise ValidationError(
            {"reason": "Add the new evidence to the case first; it reopens with that evidence."}
        )
    return case_reopen(
        actor=actor,
        case_id=case_id,
        trigger=ReopenTrigger.NEW_EVIDENCE,
        reason=reason,
        evidence_id=fresh,
    )
