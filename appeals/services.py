"""Every write of appeals: filing, claiming, releasing and deciding."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from appeals.models import Appeal
from appeals.permissions import can_review_appeal, can_view_appeal, check_file_appeal, is_conflicted
from cases import timeline
from cases.identifiers import hash_for_text
from cases.lifecycle import ReopenTrigger, case_reopen
from cases.models import Queue
from cases.timeline import EventKind
from cases.visibility import can_work_queue
from enforcement import events
from enforcement import services as enforcement_services
from enforcement.appeal_window import appeal_eligibility
from enforcement.models import EnforcementAction, OutboxEvent
from enforcement.services import ActionRequest
from tsops.claims import LeasedWork
from tsops.errors import ConflictError, HiddenObject
from tsops.permissions import has_capability, teams_of
from tsops.services import notification_send

LEASE = timedelta(minutes=15)


class AppealConflict(ConflictError):
    pass


class NoSuchAction(ValidationError):
    """The action to appeal does not exist: the form shows it beside the field, the API
    answers 404 (stored state, which no request schema can state)."""


class ActionNotAppealable(ValidationError):
    """The action exists but its state does not allow an appeal now (window passed, reversed,
    pending): the form shows why, the API answers 409."""


def appeals_queue() -> Queue:
    return Queue.objects.select_related("sla_policy").get(slug="appeals")


def appeal_file(
    *, actor, action_id, statement: str, appellant_id: str = "", external_id: str
) -> tuple[Appeal, bool]:
    """File an appeal (idempotent on ``external_id``); return it and whether it is new."""
    check_file_appeal(actor)
    errors = {}
    statement = (statement or "").strip()
    if not statement:
        errors["statement"] = "The user's statement is required."
    elif len(statement) > 10_000:
        errors["statement"] = "At most 10,000 characters."
    if not external_id or not str(external_id).strip():
        errors["external_id"] = "An external id is required (the idempotency key)."
    if not isinstance(action_id, int) or isinstance(action_id, bool):
        errors["action_id"] = "Must be the id of an enforcement action."
    if errors:
        raise ValidationError(errors)
    existing = Appeal.objects.filter(external_id=external_id).first()
    if existing is not None:
        return existing, False
    now = timezone.now()
    action = (
        EnforcementAction.objects.select_related("case", "decision").filter(pk=action_id).first()
    )
    if action is None:
        raise NoSuchAction({"action_id": "No such action."})
    eligibility = appeal_eligibility(action, now=now)
    if eligibility.reason == "open_appeal":
        raise AppealConflict(eligibility.problem)
    if not eligibility.eligible:
        raise ActionNotAppealable({"action_id": eligibility.problem})
    queue = appeals_queue()
    severity = action.case.severity
    _, due = queue.sla_policy.deadlines(severity, now)
    try:
        with transaction.atomic():
            appeal = Appeal.objects.create(
                external_id=external_id,
                action=action,
                case=action.case,
                queue=queue,
                statement=statement,
                appellant_hash=hash_for_text(appellant_id) if appellant_id else "",
                filed_by=actor,
                severity=severity,
                restricted=action.case.restricted,
                team=action.case.team,
                needs_senior=action.action_type == "ban",
                due_at=due,
                filed_at=now,
            )
            timeline.record(
                action.case, EventKind.APPEAL_FILED, actor, appeal_id=appeal.pk, action_id=action.pk
            )
    except IntegrityError:
        # A concurrent request filed it first: same key → that appeal; other key → conflict.
        existing = Appeal.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing, False
        raise AppealConflict("This action already has an open appeal.") from None
    return appeal, True


def _lock(appeal_id: int, actor) -> Appeal:
    appeal = (
        Appeal.objects.select_for_update(of=("self",))
        .select_related("action", "action__decision", "queue", "case")
        .filter(pk=appeal_id)
        .first()
    )
    if appeal is None:
        raise Http404("No such appeal.")
    if not can_view_appeal(actor, appeal):
        raise HiddenObject("No such appeal.", actor=actor, obj=appeal)
    return appeal


# Appeals are claimed like cases (tsops.claims): never by the person who decided, proposed or
# approved the action, and ban appeals only by seniors.
APPEAL_WORK = LeasedWork(model=Appeal, lease=LEASE)
CLAIM_SQL = APPEAL_WORK.claim_sql(
    joins="JOIN enforcement_enforcementaction x ON x.id = t.action_id "
    "JOIN enforcement_decision d ON d.id = x.decision_id "
    "JOIN cases_case c ON c.id = t.case_id",
    where="t.queue_id = %(queue)s "
    "AND d.decided_by_id <> %(user)s AND x.proposed_by_id <> %(user)s "
    "AND (x.approved_by_id IS NULL OR x.approved_by_id <> %(user)s) "
    "AND (NOT t.needs_senior OR %(senior)s) "
    # Restricted as its case is now (a case restricted after the appeal was filed included).
    "AND (NOT c.restricted OR c.team = ANY(%(teams)s))",
    order_by="t.severity, t.due_at, t.id",
)


def appeals_expire_leases(*, now, queue: Queue | None = None) -> int:
    """Put appeals whose claim lease ran out back in their queue (one lease behaviour for
    cases, appeals and QA reviews: version bumped, history row, timeline entry)."""
    expired = APPEAL_WORK.expire_leases(
        now=now,
        scope="%(queue)s::bigint IS NULL OR t.queue_id = %(queue)s",
        params={"queue": queue.pk if queue is not None else None},
    )
    cases = dict(Appeal.objects.filter(pk__in=[a for a, _ in expired]).values_list("pk", "case_id"))
    for appeal_id, user_id in expired:
        timeline.record(
            cases[appeal_id], EventKind.APPEAL_LEASE_EXPIRED, appeal_id=appeal_id, user_id=user_id
        )
    return len(expired)


def appeal_claim_next(*, actor, queue: Queue) -> Appeal | None:
    """Claim the most urgent appeal the actor may review; None when there is none."""
    if not can_work_queue(actor, queue) or not has_capability(actor, "decide_appeals"):
        raise PermissionDenied("You may not work this queue.")
    now = timezone.now()
    with transaction.atomic():
        appeals_expire_leases(now=now, queue=queue)
        appeal_id = APPEAL_WORK.claim_next(
            sql=CLAIM_SQL,
            actor=actor,
            now=now,
            params={
                "queue": queue.pk,
                "senior": has_capability(actor, "approve_actions"),
                "teams": teams_of(actor) or [""],
            },
        )
        if appeal_id is None:
            return None
        appeal = Appeal.objects.select_related("case").get(pk=appeal_id)
        timeline.record(appeal.case, EventKind.APPEAL_CLAIMED, actor, appeal_id=appeal.pk)
    return appeal


def appeal_claim(*, actor, appeal_id: int) -> Appeal:
    """Claim one appeal from its page."""
    with transaction.atomic():
        appeal = _lock(appeal_id, actor)
        if is_conflicted(actor, appeal):
            raise PermissionDenied("You decided or approved this action: someone else reviews it.")
        if not can_review_appeal(actor, appeal):
            raise PermissionDenied("This appeal needs a senior reviewer.")
        now = timezone.now()
        if (
            appeal.status == Appeal.Status.IN_REVIEW
            and appeal.claimed_by_id not in (None, actor.pk)
            and appeal.lease_expires_at
            and appeal.lease_expires_at > now
        ):
            raise AppealConflict("Another reviewer holds this appeal.")
        if appeal.status not in Appeal.OPEN:
            raise AppealConflict("This appeal is decided.")
        appeal.status = Appeal.Status.IN_REVIEW
        appeal.claimed_by = actor
        appeal.claimed_at = now
        appeal.lease_expires_at = now + LEASE
        appeal.version += 1
        appeal._history_user = actor
        appeal.save()
        timeline.record(appeal.case, EventKind.APPEAL_CLAIMED, actor, appeal_id=appeal.pk)
    return appeal


def appeal_renew_lease(*, actor, appeal_id: int) -> None:
    """Extend the reviewer's claim while the appeal page is open (a heartbeat: no history)."""
    updated = Appeal.objects.filter(
        pk=appeal_id, status=Appeal.Status.IN_REVIEW, claimed_by=actor
    ).update(lease_expires_at=timezone.now() + LEASE)
    if not updated:
        raise AppealConflict("You do not hold this appeal's claim.")


def appeal_release(*, actor, appeal_id: int) -> Appeal:
    with transaction.atomic():
        appeal = _lock(appeal_id, actor)
        if appeal.status != Appeal.Status.IN_REVIEW or appeal.claimed_by_id != actor.pk:
            raise AppealConflict("You do not hold this appeal.")
        appeal.status = Appeal.Status.NEW
        appeal.claimed_by = None
        appeal.claimed_at = None
        appeal.lease_expires_at = None
        appeal.version += 1
        appeal._history_user = actor
        appeal.save()
        timeline.record(appeal.case, EventKind.APPEAL_RELEASED, actor, appeal_id=appeal.pk)
    return appeal


def _appeal_event(appeal: Appeal) -> None:
    events.emit(
        "appeal.decided",
        {
            "appeal_id": appeal.pk,
            "external_id": appeal.external_id,
            "action_id": appeal.action_id,
            "outcome": appeal.status,
            "response_to_user": appeal.response_to_user,
            "replacement_action_id": appeal.replacement_action_id,
        },
    )


def _decide_input(
    *, outcome: str, rationale: str, response_to_user: str, replacement_action: dict | None
) -> tuple[str, str, ActionRequest | None]:
    """The stripped rationale and response, and the parsed replacement for a modified
    outcome; or every input error at once."""
    errors = {}
    if outcome not in Appeal.OUTCOMES:
        errors["outcome"] = f"One of {', '.join(Appeal.OUTCOMES)}."
    rationale = (rationale or "").strip()
    response_to_user = (response_to_user or "").strip()
    if not rationale:
        errors["rationale"] = "The internal rationale is required."
    if not response_to_user:
        errors["response_to_user"] = "The response to the user is required."
    replacement = None
    if outcome == Appeal.Status.MODIFIED:
        if not replacement_action:
            errors["replacement_action"] = "A modified outcome needs the lighter replacement."
        else:
            try:
                parsed = enforcement_services.parse_actions([replacement_action])
            except ValidationError as exc:
                errors["replacement_action"] = "; ".join(
                    f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items()
                )
            else:
                replacement = parsed[0]
    elif replacement_action:
        errors["replacement_action"] = "Only a modified outcome takes a replacement action."
    if errors:
        raise ValidationError(errors)
    return rationale, response_to_user, replacement


def _lock_decidable(*, actor, appeal_id: int, version: int | None) -> Appeal:
    """The appeal, locked, checked open and decidable by this reviewer at this version."""
    appeal = _lock(appeal_id, actor)
    if is_conflicted(actor, appeal):
        raise PermissionDenied("You decided or approved this action: someone else reviews it.")
    if not can_review_appeal(actor, appeal):
        raise PermissionDenied("This appeal needs a senior reviewer.")
    if not appeal.is_open:
        raise AppealConflict("This appeal is already decided.")
    if appeal.status == Appeal.Status.IN_REVIEW and appeal.claimed_by_id not in (None, actor.pk):
        raise AppealConflict("Another reviewer holds this appeal.")
    if version is not None and version != appeal.version:
        raise AppealConflict("This appeal changed meanwhile; reload it.")
    return appeal


def _outcome_apply(
    *, actor, appeal: Appeal, outcome: str, rationale: str, replacement: ActionRequest | None
) -> None:
    """What the outcome does to the action and the case: a modified one is replaced and
    reversed; an overturned one is reversed, the case reopened and its decider told."""
    action = appeal.action
    if outcome == Appeal.Status.MODIFIED:
        # The lighter action joins the decision before the original is reversed: the
        # violation still stands, so its strikes keep counting (enforcement.strikes).
        appeal.replacement_action = enforcement_services.action_apply_replacement(
            actor=actor, original=action, request=replacement
        )
    if outcome in (Appeal.Status.OVERTURNED, Appeal.Status.MODIFIED):
        # Reversing the last action that stands voids the decision's strikes.
        enforcement_services.action_reverse(
            actor=actor,
            action_id=action.pk,
            reason=f"Appeal {appeal.pk} {outcome}: {rationale}",
            by_appeal=True,
        )
    if outcome == Appeal.Status.OVERTURNED:
        # The decision did not stand: the case is worked again (cases.lifecycle).
        case = case_reopen(
            actor=actor,
            case_id=appeal.case_id,
            trigger=ReopenTrigger.APPEAL_OVERTURNED,
            reason=f"Appeal {appeal.pk} overturned: {rationale}",
            checked=True,
            appeal_id=appeal.pk,
        )
        notification_send(
            actor=actor,
            recipients=[action.decision.decided_by],
            kind="appeal_overturned",
            title=f"Appeal overturned your decision on case #{case.pk}",
            body=rationale,
            link=f"/cases/{case.pk}/",
        )


def appeal_decide(
    *,
    actor,
    appeal_id: int,
    outcome: str,
    rationale: str,
    response_to_user: str,
    replacement_action: dict | None = None,
    version: int | None = None,
) -> Appeal:
    """Decide an appeal. Overturned: the action is reversed, its strikes removed, the case
    counted as rework and the original decider told why. Modified: the action is replaced by
    a lighter one, and the violation's strikes still count. Upheld: the user is told it stands."""
    rationale, response_to_user, replacement = _decide_input(
        outcome=outcome,
        rationale=rationale,
        response_to_user=response_to_user,
        replacement_action=replacement_action,
    )
    now = timezone.now()
    with transaction.atomic():
        appeal = _lock_decidable(actor=actor, appeal_id=appeal_id, version=version)
        _outcome_apply(
            actor=actor,
            appeal=appeal,
            outcome=outcome,
            rationale=rationale,
            replacement=replacement,
        )
        appeal.status = outcome
        appeal.decided_by = actor
        appeal.decided_at = now
        appeal.rationale = rationale
        appeal.response_to_user = response_to_user
        appeal.claimed_by = None
        appeal.lease_expires_at = None
        appeal.version += 1
        appeal._history_user = actor
        appeal.save()
        timeline.record(
            appeal.case, EventKind.APPEAL_DECIDED, actor, appeal_id=appeal.pk, outcome=outcome
        )
        _appeal_event(appeal)
    return appeal


__all__ = ["OutboxEvent"]
