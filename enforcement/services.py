"""Every write of enforcement: decisions, approvals, rejections, expiry and reversal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cases import timeline
from cases.lifecycle import case_lock_with_subject, case_transition
from cases.models import Case, Subject
from cases.services import StaleEdit
from cases.timeline import EventKind
from enforcement import events, responses, selectors, strikes
from enforcement.appeal_window import appeal_window_text
from enforcement.catalogue import ACTIONS, FEATURES
from enforcement.models import (
    Decision,
    EnforcementAction,
    OutboxEvent,
    PolicySection,
    ResponseTemplate,
)
from enforcement.permissions import (
    check_bulk_decide,
    check_decide_case,
    check_reverse_action,
    check_review_action,
)
from tsops.errors import ConflictError

MAX_RATIONALE = 10_000
MAX_STATEMENT = 5_000


class ActionConflict(ConflictError):
    pass


@dataclass
class ActionRequest:
    action_type: str
    duration_hours: int | None = None
    feature: str = ""


def parse_actions(raw) -> list[ActionRequest]:
    """Validate the requested actions; errors name the action by position and field."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationError({"actions": "Must be a list of actions."})
    errors: dict[str, str] = {}
    parsed = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            errors[f"actions[{position}]"] = "Must be an object with a type."
            continue
        action_type = item.get("type")
        spec = ACTIONS.get(action_type) if isinstance(action_type, str) else None
        if spec is None:
            errors[f"actions[{position}].type"] = (
                f"Unknown action {action_type!r}; valid: {', '.join(ACTIONS)}."
            )
            continue
        hours = item.get("duration_hours")
        if "duration_days" in item and hours is None:
            days = item.get("duration_days")
            hours = days * 24 if isinstance(days, int) and not isinstance(days, bool) else days
        if spec.needs_duration:
            if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
                errors[f"actions[{position}].duration_hours"] = (
                    f"{action_type} needs a duration in whole hours (at least 1)."
                )
                continue
            if spec.max_duration_hours and hours > spec.max_duration_hours:
                errors[f"actions[{position}].duration_hours"] = (
                    f"At most {spec.max_duration_hours} hours; use ban for permanent removal."
                )
                continue
        elif hours is not None:
            errors[f"actions[{position}].duration_hours"] = f"{action_type} takes no duration."
            continue
        feature = item.get("feature") or ""
        if spec.needs_feature and feature not in FEATURES:
            errors[f"actions[{position}].feature"] = (
                f"Which feature to restrict; one of {', '.join(FEATURES)}."
            )
            continue
        parsed.append(ActionRequest(action_type, hours if spec.needs_duration else None, feature))
    if errors:
        raise ValidationError(errors)
    return parsed


def _target(case: Case, request: ActionRequest) -> Subject:
    spec = ACTIONS[request.action_type]
    if spec.target == "content":
        if case.subject.kind == Subject.Kind.ACCOUNT:
            raise ValidationError(
                {
                    "actions": f"{request.action_type} applies to content, but this case is about "
                    "an account."
                }
            )
        return case.subject
    account = case.subject.account
    if account is None:
        raise ValidationError(
            {
                "actions": f"{request.action_type} applies to an account, and this subject has no "
                "known owner."
            }
        )
    return account


def current_rules(code: str) -> selectors.DecisionRules:
    """What a decision under the current section ``code`` is measured by (its section comes
    with its policy and its message template); 400 when there is no such section."""
    rules = selectors.decision_rules(code)
    if rules.section is None:
        raise ValidationError({"policy_section": f"No current policy section {code!r}."})
    return rules


def current_section(code: str) -> PolicySection:
    """The current version of section ``code`` (400 when there is none)."""
    return current_rules(code).section


def statement_draft(
    section: PolicySection | None, requests: list[ActionRequest], *, at: datetime | None = None
) -> tuple[str, ResponseTemplate | None]:
    """The drafted statement and the user-message template version it was rendered from:
    the section's active template when it has one (:mod:`enforcement.responses`), else
    :func:`draft_statement`'s generic text (and None)."""
    if section is not None:
        drafted = responses.message_draft(section, requests, at=at)
        if drafted is not None:
            return drafted.text, drafted.template
    return draft_statement(section, requests, at=at, generic=True), None


def draft_statement(
    section: PolicySection | None,
    requests: list[ActionRequest],
    *,
    at: datetime | None = None,
    generic: bool = False,
) -> str:
    """The user-facing statement drafted from the section's user-message template, or (none
    active, or ``generic``) from its public summary and the actions, with the appeal window
    counted from ``at`` (now by default; an action awaiting approval takes effect later, so
    its real deadline is never earlier than the one stated)."""
    if section is None:
        return "We reviewed the report and found no violation of our policies."
    if not generic:
        return statement_draft(section, requests, at=at)[0]
    parts = [f"We reviewed your content under our policy {section.code} “{section.title}”."]
    parts.append(section.public_summary)
    for request in requests:
        spec = ACTIONS[request.action_type]
        text = spec.label
        if request.duration_hours:
            days, hours = divmod(request.duration_hours, 24)
            text += f" for {days} day(s)" if not hours else f" for {request.duration_hours} hours"
        if request.feature:
            text += f" ({request.feature.replace('_', ' ')})"
        parts.append(f"Action: {text}.")
    parts.append(appeal_window_text(at or timezone.now()))
    return " ".join(parts)


def _decision_input(
    *,
    outcome: str,
    rationale: str,
    policy_section: str,
    statement_of_reasons: str,
    actions,
) -> tuple[str, list[ActionRequest], selectors.DecisionRules | None]:
    """The stripped rationale, the parsed actions and the rules of the current section (None
    without a section), or every input error at once."""
    if outcome not in Decision.Outcome.values:
        raise ValidationError({"outcome": f"One of {', '.join(Decision.Outcome.values)}."})
    rationale = (rationale or "").strip()
    errors = {}
    if not rationale:
        errors["rationale"] = "Say why: the rationale is required (internal, never shown)."
    elif len(rationale) > MAX_RATIONALE:
        errors["rationale"] = f"At most {MAX_RATIONALE} characters."
    if len(statement_of_reasons or "") > MAX_STATEMENT:
        errors["statement_of_reasons"] = f"At most {MAX_STATEMENT} characters."
    requests = parse_actions(actions)
    if outcome == Decision.Outcome.VIOLATION:
        if not policy_section:
            errors["policy_section"] = "A violation needs the policy section it breaks."
        if not requests:
            errors["actions"] = "A violation needs at least one action."
    elif requests:
        errors["actions"] = "Only a violation takes actions."
    if errors:
        raise ValidationError(errors)
    rules = current_rules(policy_section) if policy_section else None
    return rationale, requests, rules


def _lock_case_for_decider(*, actor, case_id: int) -> Case:
    """The case, locked and loaded with the subject, its owner and the queue, once the actor
    may see it (else 404), is not answering blind on it and may decide it (else 403)."""
    case = case_lock_with_subject(case_id, actor, guarded=True)
    check_decide_case(actor, case)
    return case


def _check_decidable(case: Case, version: int | None) -> None:
    """Refuse (409) a decision made on an older version of the case, or on a case its status
    does not let a decision move on."""
    if version is not None and case.version != version:
        raise StaleEdit(case)
    if not case.is_decidable:
        raise ActionConflict(f"A {case.get_status_display().lower()} case cannot be decided now.")


def _recommendation_followed(
    recommendation: strikes.Recommendation | None, requests: list[ActionRequest]
) -> bool | None:
    """Whether one requested action is the recommended one (None when nothing was
    recommended)."""
    if not (recommendation and recommendation.action):
        return None
    return any(
        r.action_type == recommendation.action
        and (
            recommendation.duration_hours is None
            or r.duration_hours == recommendation.duration_hours
        )
        for r in requests
    )


def decision_make(
    *,
    actor,
    case_id: int,
    outcome: str,
    rationale: str,
    policy_section: str = "",
    statement_of_reasons: str = "",
    actions=None,
    version: int | None = None,
    automated: bool = False,
    at=None,
) -> Decision:
    """Decide a case. Actions within the decider's ceiling apply at once; the others wait for
    a senior's approval, and so does the case. Writes timeline, strikes and outbox events in
    the same transaction. ``at`` backdates an imported decision (demo data, migrations from
    another tool); live decisions leave it unset.

    Refusals come in the API's order: a case the actor may not see (404), one they are
    answering blind on or may not decide (403), invalid input (400), then a stale version or
    a case that cannot be decided now (409)."""
    now = at or timezone.now()
    from enforcement.bulk import decision_write

    with transaction.atomic():
        case = _lock_case_for_decider(actor=actor, case_id=case_id)
        rationale, requests, rules = _decision_input(
            outcome=outcome,
            rationale=rationale,
            policy_section=policy_section,
            statement_of_reasons=statement_of_reasons,
            actions=actions,
        )
        _check_decidable(case, version)
        return decision_write(
            actor=actor,
            case=case,
            outcome=outcome,
            rules=rules,
            requests=requests,
            rationale=rationale,
            statement_of_reasons=statement_of_reasons,
            automated=automated,
            now=now,
        )


def _lock_action(action_id: int, actor) -> EnforcementAction:
    return selectors.action_get_for_case_worker(actor=actor, action_id=action_id, lock=True)


def _maybe_resolve(case: Case, decision: Decision, actor, now) -> None:
    """When no action of the decision still waits, the case resolves (or returns to its queue
    when every proposed action was rejected)."""
    remaining = decision.actions.filter(status=EnforcementAction.Status.PENDING_APPROVAL)
    if remaining.exists():
        return
    case = Case.objects.select_for_update(of=("self",)).select_related("queue").get(pk=case.pk)
    if case.status != Case.Status.PENDING_APPROVAL:
        return
    applied = decision.actions.exclude(status=EnforcementAction.Status.REJECTED).exists()
    target, reason, kind = (
        (Case.Status.RESOLVED, "approved", EventKind.CASE_RESOLVED)
        if applied
        else (Case.Status.NEW, "every proposed action rejected", EventKind.CASE_RETURNED)
    )
    case_transition(
        case,
        target,
        actor=actor,
        reason=reason,
        event=kind,
        data={"decision_id": decision.pk},
        at=now,
    )
    if applied:
        events.emit_report_outcomes(decision)


def _lock_pending_for_review(action_id: int, actor) -> EnforcementAction:
    """Lock a pending action for a senior's review; its proposer may never review it."""
    action = _lock_action(action_id, actor)
    check_review_action(actor, action)
    if action.status != EnforcementAction.Status.PENDING_APPROVAL:
        raise ActionConflict(f"This action is {action.get_status_display().lower()}.")
    return action


def _save_change(action: EnforcementAction, actor, *, kind: str, event: str, now, **data) -> None:
    """Save an action's new state with its timeline entry and its outbox event."""
    action.version += 1
    action._history_user = actor
    action.save()
    timeline.record(
        action.case, kind, actor, action_id=action.pk, type=action.action_type, at=now, **data
    )
    events.emit_action(event, action)


def action_approve(*, actor, action_id: int, at=None) -> EnforcementAction:
    """A senior other than the proposer approves a pending action: it applies now."""
    now = at or timezone.now()
    with transaction.atomic():
        action = _lock_pending_for_review(action_id, actor)
        action.status = EnforcementAction.Status.ACTIVE
        action.approved_by = actor
        action.decided_at = now
        action.starts_at = now
        if action.spec.temporary and action.duration_hours:
            action.expires_at = now + timedelta(hours=action.duration_hours)
        _save_change(
            action, actor, kind=EventKind.ACTION_APPROVED, event=OutboxEvent.ACTION_APPLIED, now=now
        )
        _maybe_resolve(action.case, action.decision, actor, now)
    return action


def action_reject(*, actor, action_id: int, reason: str) -> EnforcementAction:
    """A senior rejects a pending action with a reason; the case goes back to its queue when
    nothing of the decision remains to apply."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the action is rejected."})
    now = timezone.now()
    with transaction.atomic():
        action = _lock_pending_for_review(action_id, actor)
        action.status = EnforcementAction.Status.REJECTED
        action.approved_by = actor
        action.decided_at = now
        action.rejection_reason = reason
        _save_change(
            action,
            actor,
            kind=EventKind.ACTION_REJECTED,
            event=OutboxEvent.ACTION_REJECTED,
            now=now,
            reason=reason,
        )
        _maybe_resolve(action.case, action.decision, actor, now)
        strikes.strikes_void_unless_standing(action.decision, at=now)
    return action


def action_reverse(
    *, actor, action_id: int, reason: str, by_appeal: bool = False
) -> EnforcementAction:
    """Undo an active or expired action (a senior, or an overturned appeal): the platform is
    told, the timeline records it, and the violation's strikes stop counting."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the action is reversed."})
    now = timezone.now()
    with transaction.atomic():
        action = _lock_action(action_id, actor)
        if not by_appeal:
            check_reverse_action(actor, action)
        status = action.effective_status(now)
        if EnforcementAction.Status.REVERSED not in EnforcementAction.TRANSITIONS[status]:
            raise ActionConflict(f"A {status.replace('_', ' ')} action cannot be reversed.")
        action.status = EnforcementAction.Status.REVERSED
        action.reversed_by = actor
        action.reversal_reason = reason
        action.ended_at = action.ended_at or now
        _save_change(
            action,
            actor,
            kind=EventKind.ACTION_REVERSED,
            event=OutboxEvent.ACTION_REVERSED,
            now=now,
            reason=reason,
        )
        strikes.strikes_void_unless_standing(action.decision, at=now)
    return action


def actions_expire_due(*, now=None, limit: int = 1000) -> int:
    """Expire active actions past ``expires_at`` and emit ``action.expired``; idempotent:
    a second run (or a concurrent one) finds nothing left to expire."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH due AS (SELECT id FROM enforcement_enforcementaction "
                "WHERE status = 'active' AND expires_at <= %s ORDER BY expires_at "
                "LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE enforcement_enforcementaction a SET status = 'expired', "
                "ended_at = a.expires_at, version = a.version + 1, updated_at = %s "
                "FROM due WHERE a.id = due.id RETURNING a.id",
                [now, limit, now],
            )
            ids = [row[0] for row in cursor.fetchall()]
        expired = EnforcementAction.objects.filter(pk__in=ids).select_related(
            "decision", "decision__policy_section", "subject"
        )
        for action in expired:
            timeline.record(
                action.case_id,
                EventKind.ACTION_EXPIRED,
                None,
                action_id=action.pk,
                type=action.action_type,
            )
            events.emit_action(OutboxEvent.ACTION_EXPIRED, action)
    return len(ids)


MAX_BULK_DECISIONS = 200


def decisions_bulk(
    *,
    actor,
    case_ids: list[int],
    outcome: str,
    rationale: str,
    policy_section: str = "",
    statement_of_reasons: str = "",
    actions=None,
) -> list[Decision]:
    """Decide many cases alike (a spam wave). Each case is claimed for the actor and gets its
    own decision, actions, strikes and timeline entries; one refusal stops the whole batch."""
    from cases.services import case_claim

    check_bulk_decide(actor)
    ids = list(dict.fromkeys(case_ids or []))
    if not ids:
        raise ValidationError({"case_ids": "Select at least one case."})
    if len(ids) > MAX_BULK_DECISIONS:
        raise ValidationError({"case_ids": f"At most {MAX_BULK_DECISIONS} cases at once."})
    decisions = []
    with transaction.atomic():
        for case_id in ids:
            case = case_claim(actor=actor, case_id=case_id)
            try:
                decisions.append(
                    decision_make(
                        actor=actor,
                        case_id=case_id,
                        outcome=outcome,
                        rationale=rationale,
                        policy_section=policy_section,
                        statement_of_reasons=statement_of_reasons,
                        actions=actions,
                        version=case.version,
                    )
                )
            except ValidationError as exc:
                detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
                raise ValidationError(
                    {f"case {case_id}: {k}".rstrip(": "): v for k, v in detail.items()}
                ) from None
    return decisions


SECTION_FIELDS = (
    "title",
    "public_summary",
    "internal_guidance",
    "severity",
    "reasons",
    "legal_ground",
)


def policy_section_revise(*, actor, section: PolicySection, **changes) -> PolicySection:
    """Revise a section: a new current version; the old one stays with its decisions."""
    from tsops.permissions import has_capability

    if not has_capability(actor, "configure_operations"):
        raise PermissionDenied("Revising policies needs a senior role.")
    unknown = set(changes) - set(SECTION_FIELDS)
    if unknown:
        raise ValidationError({field: "Cannot be revised." for field in unknown})
    now = timezone.now()
    with transaction.atomic():
        current = PolicySection.objects.select_for_update().get(
            code=section.code, superseded_at__isnull=True
        )
        values = {field: getattr(current, field) for field in SECTION_FIELDS}
        values.update(changes)
        if values == {field: getattr(current, field) for field in SECTION_FIELDS}:
            return current
        current.superseded_at = now
        current._history_user = actor
        current.save(update_fields=["superseded_at", "updated_at"])
        revised = PolicySection(
            policy=current.policy,
            code=current.code,
            version=current.version + 1,
            effective_from=now,
            **values,
        )
        revised._history_user = actor
        revised.save()
    return revised


def action_apply_replacement(
    *, actor, original: EnforcementAction, request: ActionRequest
) -> EnforcementAction:
    """Apply a lighter action in place of ``original`` (an appeal's "modified" outcome): it
    joins the original decision, is active at once and is announced to the platform."""
    now = timezone.now()
    spec = ACTIONS[request.action_type]
    target = _target(original.case, request)
    action = EnforcementAction(
        decision=original.decision,
        case=original.case,
        subject=target,
        action_type=request.action_type,
        feature=request.feature,
        duration_hours=request.duration_hours,
        status=EnforcementAction.Status.ACTIVE,
        proposed_by=actor,
        approved_by=actor,
        decided_at=now,
        starts_at=now,
        expires_at=now + timedelta(hours=request.duration_hours) if spec.temporary else None,
    )
    action._history_user = actor
    action.save()
    timeline.record(
        original.case,
        EventKind.ACTION_APPLIED,
        actor,
        action_id=action.pk,
        type=action.action_type,
        replaces=original.pk,
        at=now,
    )
    events.emit_action(OutboxEvent.ACTION_APPLIED, action)
    return action
