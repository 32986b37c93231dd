"""Actions rules ask for: automated decisions when due, unless a human stepped in first.

A scheduled action is applied at its ``due_at`` by the rules engine's own member, as an
automated decision (``Decision.automated``) through the same set-based writer waves use, so
it carries everything a decision carries — statement of reasons (marked automated), strike,
outbox events, timeline — and can be appealed and sampled by QA like any other. The
:class:`~detection.models.AutomatedDecision` row names the rule and version.

A human steps in by claiming the case, deciding it, or cancelling the action; at its due
time the action is then called off, never applied over a human's work.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from cases import timeline
from cases.models import Case, Subject
from cases.timeline import EventKind
from cases.visibility import can_view_case
from detection.models import AutomatedDecision, Rule, RuleAction
from enforcement.bulk import BulkItem, decisions_write_bulk
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision, PolicySection
from enforcement.services import ActionRequest
from tsops import roles
from tsops.errors import ConflictError, HiddenObject
from tsops.permissions import has_capability

ENGINE_USERNAME = "rules-engine"


def rules_engine_member():
    """The member automated decisions are recorded under: an associate's ceilings (low-impact
    actions only) and no password, so nobody can sign in as it."""
    user_model = get_user_model()
    member, created = user_model.objects.get_or_create(
        username=ENGINE_USERNAME, defaults={"first_name": "Rules", "last_name": "engine"}
    )
    if created:
        member.set_unusable_password()
        member.save(update_fields=["password"])
        member.groups.add(Group.objects.get(name=roles.ASSOCIATE))
    return member


def section_for(reason: str, code: str = "") -> PolicySection | None:
    """The current policy section an action rests on: the one the rule names, else the one
    covering the report's reason."""
    sections = PolicySection.objects.filter(superseded_at__isnull=True).select_related("policy")
    if code:
        return sections.filter(code=code).first()
    return sections.filter(reasons__contains=[reason]).order_by("severity", "code").first()


def _human_intervened(action: RuleAction, case: Case) -> str:
    """Why the action must not be applied now ("" when nothing stands in the way)."""
    rule = action.rule
    if rule.state != Rule.State.ACTIVE:
        return f"the rule is {rule.get_state_display().lower()}"
    if rule.active_version_id != action.version_id:
        return "the version that asked for it is no longer live"
    if case.claimed_by_id is not None:
        return "an analyst claimed the case"
    # Only a case nobody has touched: escalated, pending or resolved cases are people's work.
    if case.status != Case.Status.NEW:
        return f"the case is {case.get_status_display().lower()}"
    if case.restricted:
        return "the case is restricted to a team, which decides it"
    if (
        ACTIONS[action.action_type].target == "content"
        and case.subject.kind == Subject.Kind.ACCOUNT
    ):
        return f"{action.action_type} does not apply to an account"
    if Decision.objects.filter(case_id=case.pk, created_at__gte=action.created_at).exists():
        return "the case was decided"
    return ""


def rule_actions_apply_due(*, now=None, limit: int = 200) -> int:
    """Apply (or call off) every scheduled action now due; how many were handled."""
    now = now or timezone.now()
    due = list(
        RuleAction.objects.filter(status=RuleAction.Status.SCHEDULED, due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for action_id in due if _apply_or_call_off(action_id, now))


def _apply_or_call_off(action_id: int, now) -> bool:
    """Apply one action; when the decision cannot be written (the case moved meanwhile, an
    action that does not fit), call it off saying why, so one action never blocks the rest."""
    try:
        return _apply_one(action_id, now)
    except (ConflictError, ValidationError) as exc:
        with transaction.atomic():
            action = (
                RuleAction.objects.select_for_update()
                .filter(pk=action_id, status=RuleAction.Status.SCHEDULED)
                .first()
            )
            if action is None:
                return False
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            _close(
                action, RuleAction.Status.CANCELLED, None, note=f"Called off: {message}", now=now
            )
        return True


def _apply_one(action_id: int, now) -> bool:
    with transaction.atomic():
        action = (
            RuleAction.objects.select_for_update(skip_locked=True)
            .select_related("rule", "version")
            .filter(pk=action_id, status=RuleAction.Status.SCHEDULED)
            .first()
        )
        if action is None:
            return False
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("subject", "subject__owner", "queue")
            .get(pk=action.case_id)
        )
        reason = _human_intervened(action, case)
        section = section_for(case.reason, action.policy_section)
        if not reason and section is None:
            reason = f"no current policy section covers {case.reason}"
        if reason:
            _close(
                action, RuleAction.Status.CANCELLED, None, note=f"Called off: {reason}.", now=now
            )
            return True
        member = rules_engine_member()
        version = action.version
        rationale = (
            f'Automated decision of rule #{action.rule_id} "{action.rule.name}" version '
            f"{version.number}, whose condition matched report {action.report_id}: "
            f"{version.expression}"
        )
        decided = decisions_write_bulk(
            actor=member,
            section=section,
            rationale=rationale[:4000],
            statement_of_reasons="",
            items=[
                BulkItem(
                    case=case,
                    request=ActionRequest(action.action_type, action.duration_hours),
                )
            ],
            event_data={"rule_id": action.rule_id, "rule_version": version.number},
            now=now,
            automated=True,
        )
        action.decision_id = decided[case.pk]
        _close(action, RuleAction.Status.APPLIED, None, note="", now=now)
        AutomatedDecision.objects.create(
            decision_id=action.decision_id, rule=action.rule, version=version, action=action
        )
    return True


def _close(action: RuleAction, status: str, actor, *, note: str, now) -> None:
    if status not in RuleAction.TRANSITIONS[action.status]:
        raise ConflictError(
            f"This action is {action.get_status_display().lower()}: it cannot become "
            f"{RuleAction.Status(status).label.lower()}."
        )
    action.status = status
    action.resolved_by = actor
    action.resolved_at = now
    action.note = note
    action._change_reason = note or status
    action.save()
    kind = (
        EventKind.RULE_ACTION_APPLIED
        if status == RuleAction.Status.APPLIED
        else EventKind.RULE_ACTION_CANCELLED
    )
    if status in (
        RuleAction.Status.APPLIED,
        RuleAction.Status.CANCELLED,
        RuleAction.Status.DISMISSED,
    ):
        timeline.record(
            action.case_id,
            kind,
            actor,
            rule_id=action.rule_id,
            action=action.action_type,
            rule_action_id=action.pk,
            status=status,
            note=note,
            **({"decision_id": action.decision_id} if action.decision_id else {}),
        )


def can_intervene(user, action: RuleAction) -> bool:
    """Whoever may work the case may call off or dismiss what a rule asked for on it."""
    if not (user and user.is_authenticated):
        return False
    case = Case.objects.filter(pk=action.case_id).first()
    return (
        case is not None
        and can_view_case(user, case)
        and (
            has_capability(user, "take_low_impact_action")
            or has_capability(user, "work_team_cases")
        )
    )


def rule_action_get_for(*, actor, action_id: int, lock: bool = False) -> RuleAction:
    """The action, when the actor may work its case: 404 when it is missing or its case hidden
    (a hidden one logged as a denial), 403 when seen but not theirs to call off."""
    rows = RuleAction.objects.select_for_update() if lock else RuleAction.objects
    action = rows.filter(pk=action_id).first()
    if action is None:
        raise Http404("No such action.")
    if not can_view_case(actor, Case.objects.get(pk=action.case_id)):
        raise HiddenObject("No such action.", actor=actor, obj=action)
    if not can_intervene(actor, action):
        raise PermissionDenied("Only someone who works this case may call off its actions.")
    return action


def rule_action_intervene(*, actor, action_id: int, note: str) -> RuleAction:
    """A human calls off a scheduled action or dismisses a proposed one, saying why."""
    with transaction.atomic():
        action = rule_action_get_for(actor=actor, action_id=action_id, lock=True)
        note = (note or "").strip()
        if not note:
            raise ValidationError({"note": ["Say why the rule's action should not happen."]})
        target = (
            RuleAction.Status.CANCELLED
            if action.status == RuleAction.Status.SCHEDULED
            else RuleAction.Status.DISMISSED
        )
        _close(action, target, actor, note=note, now=timezone.now())
    return action


def rule_proposals_settle(*, now=None) -> int:
    """Proposals on cases decided since: taken when a human decision took that action,
    dismissed otherwise; how many were settled."""
    now = now or timezone.now()
    settled = 0
    pending = RuleAction.objects.filter(
        status=RuleAction.Status.PROPOSED, case__status=Case.Status.RESOLVED
    ).select_related("case")[:500]
    for action in pending:
        taken = Decision.objects.filter(
            case_id=action.case_id,
            created_at__gte=action.created_at,
            actions__action_type=action.action_type,
        ).exists()
        with transaction.atomic():
            locked = RuleAction.objects.select_for_update().get(pk=action.pk)
            if locked.status != RuleAction.Status.PROPOSED:
                continue
            _close(
                locked,
                RuleAction.Status.TAKEN if taken else RuleAction.Status.DISMISSED,
                None,
                note="" if taken else "The case was decided without it.",
                now=now,
            )
            settled += 1
    return settled
