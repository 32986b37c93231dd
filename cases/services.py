"""Every write to cases outside intake: claiming, releasing, editing, notes, evidence, bulk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import Http404, HttpRequest
from django.utils import timezone

from cases import lifecycle, timeline
from cases.lifecycle import LEASE, InvalidTransition, case_lock, case_transition
from cases.models import (
    Case,
    CaseLink,
    CaseSkip,
    Evidence,
    Identifier,
    Note,
    Queue,
)
from cases.permissions import (
    can_edit_case,
    can_release_case,
    can_reveal_pii,
    can_work_case,
    check_bulk_edit,
    reveal_needs_reason,
)
from cases.sla import deadlines_restamp
from cases.timeline import EventKind
from cases.visibility import can_view_case, can_work_queue
from tsops.errors import ConflictError, HiddenObject
from tsops.models import AccessLog
from tsops.services import access_log_insert_params, access_log_insert_sql, access_log_record

SKIP_MEMORY = timedelta(hours=1)
MAX_BULK = 500


class StaleEdit(ConflictError):
    """The case changed since the editor loaded it (version mismatch)."""

    def __init__(self, case: Case):
        self.case = case
        changed_by = case.history.first()
        user = getattr(changed_by, "history_user", None) if changed_by else None
        self.changed_by = user.get_username() if user else "someone"
        super().__init__(f"Case {case.pk} was changed by {self.changed_by} meanwhile.")


def case_expire_leases(*, queue: Queue | None = None) -> int:
    """Return cases whose claim lease ran out to their queue; return how many."""
    with transaction.atomic():
        return _expire_leases(queue, timezone.now())


def _expire_leases(queue: Queue | None, now) -> int:
    """The expiry itself, inside the caller's transaction."""
    expired = lifecycle.CASE_WORK.expire_leases(
        now=now,
        scope=EXPIRE_SCOPE,
        params={"queue": queue.pk if queue is not None else None, **_EXPIRED_EVENT_PARAMS},
        also=EXPIRE_ALSO,
    )
    return len(expired)


# The lease expiry of one queue (``queue``; NULL for every queue), and the timeline entry of
# each case it puts back (the claimant who lost it in its data), written by the statement.
EXPIRE_SCOPE = "%(queue)s::bigint IS NULL OR t.queue_id = %(queue)s"
EXPIRE_ALSO = {
    "expired_event": "INSERT INTO cases_caseevent (case_id, kind, actor_id, at, data) "
    "SELECT expired.id, %(expired_event_kind)s, NULL, %(expire_history_date)s, "
    "jsonb_build_object('user_id', expired.previous_claimant) FROM expired"
}
_EXPIRED_EVENT_PARAMS = {"expired_event_kind": EventKind.CASE_LEASE_EXPIRED.value}


class ClaimRefused(ConflictError, PermissionDenied):
    """A claim guard's refusal: the claimer's state forbids the claim for now (the API
    answers 409; the case page shows the message). A caller that does not catch it shows
    the 403 page with the message. The message says why and what the claimer can do."""


# Rules of apps above cases that may refuse a claim (workspace: the exposure budgets of
# graphic queues). Each is ``guard(actor, queue)`` and raises ClaimRefused to refuse; the
# owning app registers it from its AppConfig.ready(), so cases never imports it.
ClaimGuard = Callable[[object, Queue], None]
_claim_guards: list[ClaimGuard] = []
_claim_guard_relations: list[str] = []


def register_claim_guard(guard: ClaimGuard, *, queue_related: Iterable[str] = ()) -> None:
    """Have ``guard(actor, queue)`` checked before every claim of a case (once per guard).
    ``queue_related`` names the queue's relations the guard reads (its own app's one-to-one
    rows): :func:`claim_guard_relations` lets a caller load them with the queue."""
    if guard not in _claim_guards:
        _claim_guards.append(guard)
    for name in queue_related:
        if name not in _claim_guard_relations:
            _claim_guard_relations.append(name)


def claim_guard_relations() -> tuple[str, ...]:
    """The queue relations the claim guards read (for ``select_related`` on the queue)."""
    return tuple(_claim_guard_relations)


def _claim_guards_check(actor, queue: Queue) -> None:
    for guard in _claim_guards:
        guard(actor, queue)


# The claim statement (tsops.claims): the top unclaimed case of the queue in claim order,
# passing over cases the claimer skipped within the last hour. Besides its history row it
# writes the CASE_CLAIMED timeline entry and, when the claim answers the case to a request,
# the access log's "viewed" entry; it answers the claimed case with its subject (and the
# subject's owner), so nothing is read again.
CLAIM_WHERE = (
    "t.queue_id = %(queue)s AND NOT EXISTS (SELECT 1 FROM cases_caseskip s "
    "WHERE s.case_id = t.id AND s.user_id = %(user)s AND s.created_at > %(skip_since)s)"
)
CLAIM_ORDER = "t.severity, t.priority DESC, t.resolve_due, t.report_count DESC, t.id"
_CLAIM_RESULT_COLUMNS = lifecycle.case_row_columns("claimed", "s", "o")
CLAIM_STATEMENTS = lifecycle.CASE_WORK.claim_statements(
    "case_claim",
    # Cases whose lease ran out in this queue go back first, in the same round trip, so the
    # claim can hand them out again even when no worker is running.
    expire="t.queue_id = %(queue)s",
    expire_also=EXPIRE_ALSO,
    where=CLAIM_WHERE,
    order_by=CLAIM_ORDER,
    also={
        # Dated as the statement runs and never before the case's latest event: a lease
        # another claimer expired (and committed) after this claimer read its clock is
        # visible to this statement, so the claim follows that expiry on the timeline.
        "event": "INSERT INTO cases_caseevent (case_id, kind, actor_id, at, data) "
        "SELECT claimed.id, %(event_kind)s, %(user)s, GREATEST(%(history_date)s, "
        "(SELECT max(e.at) FROM cases_caseevent e WHERE e.case_id = claimed.id)), "
        "%(event_data)s::jsonb FROM claimed",
        "viewed": access_log_insert_sql(
            source="claimed", object_type=Case._meta.label_lower, when="%(log_when)s"
        ),
    },
    result=f"SELECT {_CLAIM_RESULT_COLUMNS} FROM claimed "  # noqa: S608 - names from the models
    "JOIN cases_subject s ON s.id = claimed.subject_id "
    "LEFT JOIN cases_subject o ON o.id = s.owner_id",
)


def case_claim_next(*, actor, queue: Queue, request: HttpRequest | None = None) -> Case | None:
    """Claim the top case of ``queue`` for ``actor``; None when the queue has nothing for them.

    With ``request`` the claim answers the case to that request (the API does): the view is
    recorded in the access log by the claim's own statement, with the timeline entry and the
    history row, all in one transaction."""
    if not can_work_queue(actor, queue):
        raise PermissionDenied("You may not work this queue.")
    _claim_guards_check(actor, queue)
    now = timezone.now()
    # One round trip: the queue's lease expiry, then the claim with its history row, timeline
    # entry and access-log entry, run by PostgreSQL as one transaction, planned once per
    # connection (tsops.claims, tsops.prepared).
    row = lifecycle.CASE_WORK.claim_row(
        sql=CLAIM_STATEMENTS,
        actor=actor,
        now=now,
        params={
            "queue": queue.pk,
            "skip_since": now - SKIP_MEMORY,
            "event_kind": EventKind.CASE_CLAIMED.value,
            "event_data": json.dumps({"queue": queue.slug}),
            **_EXPIRED_EVENT_PARAMS,
            **access_log_insert_params(actor=actor, request=request, when=request is not None),
        },
    )
    if row is None:
        return None
    return _claimed_case(row, queue=queue, actor=actor)


def _claimed_case(row: tuple, *, queue: Queue, actor) -> Case:
    """The case the claim statement answered, with its queue, claimant, subject and owner."""
    case, _ = lifecycle.case_from_row(row)
    case.queue, case.claimed_by = queue, actor
    return case


def case_claim(*, actor, case_id: int) -> Case:
    """Claim one particular case (from its page); it must be unclaimed or already the actor's."""
    with transaction.atomic():
        case = case_lock(case_id, actor)
        if not can_work_case(actor, case):
            raise PermissionDenied("You may not work this case's queue.")
        if case.status == Case.Status.IN_REVIEW and case.claimed_by_id == actor.pk:
            return case_renew_lease(actor=actor, case_id=case.pk)
        if case.status == Case.Status.IN_REVIEW and case.lease_expires_at > timezone.now():
            raise InvalidTransition(case, "claimed: it is claimed by someone else")
        _claim_guards_check(actor, case.queue)
        case_transition(
            case,
            Case.Status.IN_REVIEW,
            actor=actor,
            reason="claimed",
            event=EventKind.CASE_CLAIMED,
            data={"queue": case.queue.slug},
        )
    return case


def case_renew_lease(*, actor, case_id: int) -> Case:
    """Extend the actor's claim while they work on the case (no history row: it is a heartbeat)."""
    now = timezone.now()
    updated = Case.objects.filter(
        pk=case_id, status=Case.Status.IN_REVIEW, claimed_by=actor
    ).update(lease_expires_at=now + LEASE)
    case = Case.objects.select_related("queue").filter(pk=case_id).first()
    if case is None:
        raise Http404("No such case.")
    if not can_view_case(actor, case):
        raise HiddenObject("No such case.", actor=actor, obj=case)
    if not updated:
        raise InvalidTransition(case, "renewed: you do not hold its claim")
    return case


def case_release(*, actor, case_id: int, reason: str = "", skip: bool = False) -> Case:
    """Give a claimed case back to its queue (``skip`` also keeps it from the actor for an hour)."""
    if skip and not reason.strip():
        raise ValidationError({"reason": "Say why you are skipping this case."})
    with transaction.atomic():
        case = case_lock(case_id, actor)
        if case.status != Case.Status.IN_REVIEW:
            raise InvalidTransition(case, "released: it is not claimed")
        if not can_release_case(actor, case):
            raise PermissionDenied("Only the claimant (or an analyst) may release this case.")
        previous = case.claimed_by_id
        if skip:
            CaseSkip.objects.create(case=case, user=actor, reason=reason.strip())
        case_transition(
            case,
            Case.Status.NEW,
            actor=actor,
            reason="skipped" if skip else "released",
            event=EventKind.CASE_SKIPPED if skip else EventKind.CASE_RELEASED,
            data={"reason": reason.strip(), "previous_claimant_id": previous},
        )
    return case


def case_update(
    *,
    actor,
    case_id: int,
    version: int,
    tags: list[str] | None = None,
    severity: int | None = None,
    queue: Queue | None = None,
) -> Case:
    """Edit tags, severity or queue; ``version`` must match or StaleEdit is raised (409)."""
    with transaction.atomic():
        case = case_lock(case_id, actor)
        if not can_edit_case(actor, case):
            raise PermissionDenied("You may not edit this case.")
        if case.version != version:
            raise StaleEdit(case)
        if not case.is_open:
            raise InvalidTransition(case, "edited: it is resolved")
        changes = []
        if tags is not None:
            clean = sorted({t.strip().lower() for t in tags if t.strip()})
            if clean != sorted(case.tags):
                timeline.record(case, EventKind.CASE_TAGGED, actor, before=case.tags, after=clean)
                case.tags = clean
                changes.append("tags")
        if queue is not None and queue.pk != case.queue_id:
            if queue.team != case.team or not can_work_queue(actor, queue):
                raise ValidationError({"queue": f"You may not move cases to {queue.slug}."})
            timeline.record(
                case, EventKind.CASE_MOVED, actor, before=case.queue.slug, after=queue.slug
            )
            case.queue = queue
            changes.append("queue")
        if severity is not None and severity != case.severity:
            timeline.record(
                case,
                EventKind.CASE_SEVERITY_CHANGED,
                actor,
                before=f"P{case.severity}",
                after=f"P{severity}",
            )
            case.severity = severity
            changes.append("severity")
        if "severity" in changes:
            # Re-prioritised: the deadlines are stamped again for the new severity.
            deadlines_restamp(case, timezone.now())
        if changes:
            case.version += 1
            case._change_reason = "edited: " + ", ".join(changes)
            case._history_user = actor
            case.save()
    return case


def note_add(*, actor, case_id: int, body: str) -> Note:
    """Add an internal note; it joins the case's full-text search."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "A note cannot be empty."})
    if len(body) > 20_000:
        raise ValidationError({"body": "A note is at most 20,000 characters."})
    with transaction.atomic():
        case = case_lock(case_id, actor)
        note = Note.objects.create(case=case, author=actor, body=body)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE cases_case SET search_document = coalesce(search_document, ''::tsvector) "
                "|| to_tsvector('english', %s) WHERE id = %s",
                [body, case.pk],
            )
        timeline.record(case, EventKind.NOTE_ADDED, actor, note_id=note.pk)
        if case.claimed_by_id == actor.pk:
            Case.objects.filter(pk=case.pk).update(lease_expires_at=timezone.now() + LEASE)
    return note


def evidence_add(
    *,
    actor,
    case_id: int,
    kind: str,
    url: str = "",
    excerpt: str = "",
    content: bytes | None = None,
    sensitive: bool = False,
) -> Evidence:
    """Attach evidence with the SHA-256 of its content (the excerpt or URL when no content)."""
    if kind not in Evidence.Kind.values:
        raise ValidationError({"kind": f"Unknown kind; valid: {', '.join(Evidence.Kind.values)}."})
    if not url and not excerpt:
        raise ValidationError({"url": "Give a URL or an excerpt."})
    digest = hashlib.sha256(content if content is not None else (excerpt or url).encode())
    with transaction.atomic():
        case = case_lock(case_id, actor)
        evidence = Evidence.objects.create(
            case=case,
            kind=kind,
            url=url,
            excerpt=excerpt,
            sha256=digest.hexdigest(),
            sensitive=sensitive,
            added_by=actor,
        )
        timeline.record(
            case, EventKind.EVIDENCE_ADDED, actor, evidence_id=evidence.pk, sha256=evidence.sha256
        )
    return evidence


def evidence_reveal(*, actor, evidence_id: int, reason: str = "", request=None) -> Evidence:
    """Unblur sensitive evidence for the actor; the reveal is logged. A click is enough on a
    standard queue; on a restricted case or team queue the actor must say why."""
    evidence = (
        Evidence.objects.select_related("case", "case__queue", "media")
        .filter(pk=evidence_id)
        .first()
    )
    if evidence is None:
        raise Http404("No such evidence.")
    if not can_view_case(actor, evidence.case):
        raise HiddenObject("No such evidence.", actor=actor, obj=evidence)
    reason = (reason or "").strip()
    if reveal_needs_reason(evidence.case) and len(reason) < 5:
        raise ValidationError({"reason": "This is a restricted case: say why you reveal it."})
    with transaction.atomic():
        access_log_record(
            actor=actor,
            action=AccessLog.Action.REVEALED_MEDIA,
            obj=evidence,
            reason=reason,
            request=request,
            detail={"case_id": evidence.case_id, "sha256": evidence.sha256},
        )
        timeline.record(
            evidence.case_id,
            EventKind.EVIDENCE_REVEALED,
            actor,
            evidence_id=evidence.pk,
            **({"reason": reason} if reason else {}),
        )
    return evidence


def identifier_reveal(*, actor, case_id: int, identifier_id: int, reason: str, request=None):
    """Show an identifier's fingerprint and linked accounts; associates must say why (logged)."""
    case = Case.objects.select_related("queue", "subject").filter(pk=case_id).first()
    if case is None:
        raise Http404("No such case.")
    if not can_view_case(actor, case):
        raise HiddenObject("No such case.", actor=actor, obj=case)
    if not can_reveal_pii(actor):
        raise PermissionDenied("Your role may not reveal identifiers.")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationError({"reason": "Say why you need to see this identifier."})
    account = case.subject.account
    identifier = Identifier.objects.filter(pk=identifier_id, account=account).first()
    if identifier is None:
        raise Http404("No such identifier on this case's account.")
    with transaction.atomic():
        access_log_record(
            actor=actor,
            action=AccessLog.Action.REVEALED_PII,
            obj=identifier,
            reason=reason,
            request=request,
            detail={"case_id": case.pk, "kind": identifier.kind},
        )
        timeline.record(
            case, EventKind.IDENTIFIER_REVEALED, actor, identifier_id=identifier.pk, reason=reason
        )
    return identifier


def case_link_add(*, actor, case_id: int, to_case_id: int, kind: str) -> CaseLink:
    if kind not in CaseLink.Kind.values:
        raise ValidationError(
            {"kind": f"Unknown link kind; valid: {', '.join(CaseLink.Kind.values)}."}
        )
    if case_id == to_case_id:
        raise ValidationError({"to_case": "A case cannot link to itself."})
    with transaction.atomic():
        case = case_lock(case_id, actor)
        other = Case.objects.select_related("queue").filter(pk=to_case_id).first()
        if other is None or not can_view_case(actor, other):
            raise ValidationError({"to_case": "No such case."})
        link, _ = CaseLink.objects.get_or_create(
            from_case=case, to_case=other, kind=kind, defaults={"created_by": actor}
        )
        timeline.record(case, EventKind.CASE_LINKED, actor, kind=kind, case_id=other.pk)
    return link


def case_view_record(*, actor, case: Case, request=None) -> None:
    """Every case view by anyone goes to the access log."""
    access_log_record(actor=actor, action=AccessLog.Action.VIEWED, obj=case, request=request)


def cases_bulk(
    *,
    actor,
    case_ids: list[int],
    operation: str,
    queue: Queue | None = None,
    tag: str = "",
    assignee=None,
) -> int:
    """Move, tag, assign or release many cases; cases the actor can't see are refused as a whole."""
    check_bulk_edit(actor)
    if not case_ids:
        raise ValidationError({"cases": "Select at least one case."})
    if len(case_ids) > MAX_BULK:
        raise ValidationError({"cases": f"At most {MAX_BULK} cases at once."})
    if operation not in ("move", "tag", "assign", "release"):
        raise ValidationError({"operation": "One of move, tag, assign, release."})
    with transaction.atomic():
        cases = _bulk_lock(actor=actor, case_ids=case_ids)
        now = timezone.now()
        for case in cases:
            if not case.is_open:
                raise ValidationError({"cases": f"Case {case.pk} is resolved."})
            if operation == "move":
                _bulk_move(actor=actor, case=case, queue=queue)
            elif operation == "tag":
                _bulk_tag(actor=actor, case=case, tag=tag)
            elif operation == "assign":
                _bulk_assign(actor=actor, case=case, assignee=assignee, now=now)
            elif case.status == Case.Status.IN_REVIEW:
                case_transition(
                    case,
                    Case.Status.NEW,
                    actor=actor,
                    reason="bulk release",
                    event=EventKind.CASE_RELEASED,
                    at=now,
                    data={"bulk": True},
                )
    return len(cases)


def _bulk_lock(*, actor, case_ids: list[int]) -> list[Case]:
    """The cases, locked in id order; all of them or none (one the actor may not see is
    answered as one that does not exist)."""
    cases = list(
        Case.objects.select_for_update(of=("self",))
        .select_related("queue")
        .filter(pk__in=case_ids)
        .order_by("pk")
    )
    if len(cases) != len(set(case_ids)) or not all(can_view_case(actor, c) for c in cases):
        raise ValidationError({"cases": "Some selected cases do not exist."})
    return cases


def _bulk_save(*, actor, case: Case, operation: str) -> None:
    case.version += 1
    case._change_reason = f"bulk {operation}"
    case._history_user = actor
    case.save()


def _bulk_move(*, actor, case: Case, queue: Queue | None) -> None:
    if queue is None or queue.team != case.team or not can_work_queue(actor, queue):
        raise ValidationError({"queue": "Choose a queue you may move these cases to."})
    if case.queue_id != queue.pk:
        timeline.record(case, EventKind.CASE_MOVED, actor, before=case.queue.slug, after=queue.slug)
        case.queue = queue
    _bulk_save(actor=actor, case=case, operation="move")


def _bulk_tag(*, actor, case: Case, tag: str) -> None:
    tag_clean = tag.strip().lower()
    if not tag_clean:
        raise ValidationError({"tag": "Give a tag."})
    if tag_clean not in case.tags:
        timeline.record(
            case, EventKind.CASE_TAGGED, actor, before=case.tags, after=[*case.tags, tag_clean]
        )
        case.tags = [*case.tags, tag_clean]
    _bulk_save(actor=actor, case=case, operation="tag")


def _bulk_assign(*, actor, case: Case, assignee, now) -> None:
    if assignee is None or not can_work_case(assignee, case):
        raise ValidationError({"assignee": "That member may not work these cases."})
    if not lifecycle.allowed(case.status, Case.Status.IN_REVIEW):
        raise ValidationError({"cases": f"Case {case.pk} cannot be assigned now."})
    case_transition(
        case,
        Case.Status.IN_REVIEW,
        actor=actor,
        reason="bulk assign",
        event=EventKind.CASE_ASSIGNED,
        at=now,
        claimant=assignee,
        data={"assignee_id": assignee.pk},
    )
