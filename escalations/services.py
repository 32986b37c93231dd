"""Every write to escalations: raising (with its frozen packet) and working them. On-call
alerts live in :mod:`escalations.alerts`."""

from __future__ import annotations

import logging
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from cases import selectors as case_selectors
from cases import timeline
from cases.lifecycle import InvalidTransition, allowed, case_lock, case_transition, check_transition
from cases.models import Case, Evidence, Report
from cases.services import case_update
from cases.timeline import EventKind
from cases.visibility import case_team_grants_set
from enforcement import events
from enforcement.models import EnforcementAction
from escalations.alerts import ALERT_ON_RAISE, alert_send
from escalations.models import Escalation, EscalationAlert, ReferralKind, Team
from escalations.permissions import can_work_escalation, check_raise_escalation
from tsops.errors import ConflictError, HiddenObject

log = logging.getLogger(__name__)


EVENT_RAISED = "escalation.raised"
MAX_TEXT = 10_000


class EscalationConflict(ConflictError):
    pass


def _clean_text(errors: dict, name: str, value: str, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        errors[name] = "This field is required."
    elif len(value) > MAX_TEXT:
        errors[name] = f"At most {MAX_TEXT} characters."
    return value


def _parse_severity(value) -> int:
    if isinstance(value, str) and value.upper().startswith("P"):
        value = value[1:]
    try:
        severity = int(value)
    except (TypeError, ValueError):
        severity = -1
    if severity not in (0, 1, 2, 3):
        raise ValidationError({"severity": "One of P0, P1, P2, P3."})
    return severity


def _team(team: Team | str) -> Team:
    if isinstance(team, Team):
        return team
    found = Team.objects.filter(slug=team).first()
    if found is None:
        raise ValidationError({"team": "No such team."})
    return found


# --- The packet -------------------------------------------------------------------------------


def packet_build(*, actor, case: Case) -> dict:
    """The frozen snapshot handed to the team: what the case was at escalation time.

    Evidence is listed by kind, hash and capture time; the URL and excerpt are included only
    for evidence that may be opened. Linked accounts and prior cases are those the raiser
    could see, so the packet never carries more than its author was allowed to read.
    """
    reports = _packet_reports(case)
    evidence = _packet_evidence(case)
    timeline_entries = [
        {
            "kind": e.kind,
            "at": e.at.isoformat(),
            "actor": e.actor.get_username() if e.actor_id else None,
            "data": e.data,
        }
        for e in case_selectors.timeline_for(case, limit=200)
    ]
    prior = _packet_prior_enforcement(case)
    linked = [
        {
            "kind": la.account.kind,
            "external_id": la.account.external_id,
            "shared": la.shared,
            "cases": la.cases,
        }
        for la in case_selectors.linked_accounts(actor=actor, case=case)
    ]
    return {
        "case": {
            "id": case.pk,
            "status": case.status,
            "severity": case.severity_code,
            "reason": case.reason,
            "queue": case.queue.slug,
            "tags": list(case.tags),
            "created_at": case.created_at.isoformat(),
        },
        "subject": _packet_subject(case.subject),
        "reports": reports,
        "evidence": evidence,
        "timeline": timeline_entries,
        "prior_enforcement": prior,
        "prior_cases": [
            {"id": c.pk, "status": c.status, "reason": c.reason}
            for c in case_selectors.prior_cases(actor=actor, case=case)
        ],
        "linked_accounts": linked,
        "frozen_at": timezone.now().isoformat(),
    }


def _packet_reports(case: Case) -> list[dict]:
    return [
        {
            "id": r.pk,
            "source": r.source,
            "external_id": r.external_id,
            "reason": r.reason,
            "description": r.description,
            "detector": r.detector,
            "score": r.score,
            "received_at": r.received_at.isoformat(),
        }
        for r in Report.objects.filter(case=case).order_by("received_at", "id")
    ]


def _packet_evidence(case: Case) -> list[dict]:
    """Each piece by kind, hash and capture time; its URL and excerpt only if it may be
    opened."""
    evidence = []
    for item in Evidence.objects.filter(case=case).order_by("captured_at", "id"):
        entry = {
            "id": item.pk,
            "kind": item.kind,
            "sha256": item.sha256,
            "captured_at": item.captured_at.isoformat(),
            "sensitive": item.sensitive,
            "do_not_open": item.do_not_open,
        }
        if not item.do_not_open:
            entry["url"] = item.url
            entry["excerpt"] = item.excerpt
        evidence.append(entry)
    return evidence


def _packet_prior_enforcement(case: Case) -> list[dict]:
    """The latest 50 actions on the account behind the subject and on what it owns, other
    than this case's."""
    account = case.subject.account
    if account is None:
        return []
    actions = (
        EnforcementAction.objects.filter(subject__in=[account, *account.owned.all()[:200]])
        .exclude(case=case)
        .select_related("decision__policy_section")
        .order_by("-created_at")[:50]
    )
    return [
        {
            "action_id": a.pk,
            "case_id": a.case_id,
            "type": a.action_type,
            "status": a.status,
            "policy_section": (
                a.decision.policy_section.code if a.decision.policy_section else None
            ),
            "at": a.created_at.isoformat(),
        }
        for a in actions
    ]


def _packet_subject(subject) -> dict:
    return {
        "kind": subject.kind,
        "external_id": subject.external_id,
        "owner": subject.owner.external_id if subject.owner_id else None,
        "text": subject.snapshot_text,
        "url": subject.snapshot_url,
        "media": subject.snapshot_media,
        "content_created_at": (
            subject.content_created_at.isoformat() if subject.content_created_at else None
        ),
    }


# --- Visibility -------------------------------------------------------------------------------


def _show_to_team(case: Case, team: Team, *, restrict: bool) -> None:
    """The team the case is escalated to sees it (its group gets ``view_case``) and, when
    ``restrict``, only that team: the case becomes restricted to it."""
    case_team_grants_set(case, [team.slug])
    if restrict:
        case.restricted = True
        case.team = team.slug


def _hide_from_team(case: Case) -> None:
    """The escalation ended: an unrestricted case is no longer the team's to see (a restricted
    one stays with the team it is restricted to)."""
    if not case.restricted:
        case_team_grants_set(case, [])


def _unrestrict(case: Case, *, previous_team: str) -> None:
    """Give the case back the visibility it had before (restricted to ``previous_team``, or
    open to its queue when that is blank)."""
    if previous_team:
        case_team_grants_set(case, [previous_team])
        case.team = previous_team
    else:
        case_team_grants_set(case, [])
        case.restricted = False
        case.team = ""


# --- Raising ----------------------------------------------------------------------------------


def escalation_raise(
    *,
    actor,
    case_id: int,
    team: Team | str,
    severity,
    summary: str,
    criteria: str,
    next_steps: str = "",
) -> Escalation:
    """Hand an open case to a specialist team: freeze the packet, take the case out of its
    queue, restrict it when the team (or the case already) is restricted, emit the event and
    page the on-call member for P0/P1. All in one transaction."""
    errors: dict = {}
    summary = _clean_text(errors, "summary", summary, required=True)
    criteria = _clean_text(errors, "criteria", criteria, required=True)
    next_steps = _clean_text(errors, "next_steps", next_steps, required=False)
    if errors:
        raise ValidationError(errors)
    severity = _parse_severity(severity)
    team = _team(team)
    now = timezone.now()
    with transaction.atomic():
        case = case_lock(case_id, actor)
        check_raise_escalation(actor, case)
        if case.status == Case.Status.ESCALATED:
            raise EscalationConflict(f"Case {case.pk} is already escalated.")
        check_transition(case, Case.Status.ESCALATED)
        _severity_carry(actor=actor, case=case, severity=severity)
        case = Case.objects.select_related("subject", "subject__owner", "queue").get(pk=case.pk)
        return _escalation_open(
            case=case,
            team=team,
            severity=severity,
            summary=summary,
            criteria=criteria,
            next_steps=next_steps,
            raised_by=actor,
            on_behalf_of=actor,
            reason=f"escalated to {team.slug}",
            now=now,
        )


def _severity_carry(*, actor, case: Case, severity: int) -> None:
    """The case takes the escalation's severity (P0 escalation, P0 case): through the case
    edit service, which records the change and stamps the deadlines again. The caller holds
    the case's lock, so its version is current."""
    if severity != case.severity:
        case_update(actor=actor, case_id=case.pk, version=case.version, severity=severity)


def _escalation_open(
    *,
    case: Case,
    team: Team,
    severity: int,
    summary: str,
    criteria: str,
    next_steps: str,
    raised_by,
    on_behalf_of,
    reason: str,
    now,
    rule=None,
) -> Escalation:
    """The steps of raising shared by hand and by rule, on a locked case that may be
    escalated: freeze the packet, create the escalation, show the case to the team, move it
    to escalated, record, emit and page for P0/P1.

    ``raised_by`` is the person raising (None for a rule); ``on_behalf_of`` is whose
    visibility bounds the packet and who the history names (the raiser, or the account
    whose report matched the rule)."""
    escalation = Escalation.objects.create(
        case=case,
        team=team,
        severity=severity,
        summary=summary,
        criteria=criteria,
        next_steps=next_steps,
        raised_by=raised_by,
        raised_at=now,
        ack_due=team.ack_due(severity, now),
        packet=packet_build(actor=on_behalf_of, case=case),
        case_was_restricted=case.restricted,
        previous_team=case.team,
    )
    # Restricted stays absolute: a restricted case only ever moves from one team's
    # restriction to another's, never into the open.
    restrict = team.restricted or case.restricted
    _show_to_team(case, team, restrict=restrict)
    # The raising is recorded below with the rule's id when a rule raised it.
    case_transition(
        case, Case.Status.ESCALATED, actor=on_behalf_of, reason=reason, event=None, at=now
    )
    timeline.record(
        case,
        EventKind.ESCALATION_RAISED,
        raised_by,
        at=now,
        escalation_id=escalation.pk,
        team=team.slug,
        severity=escalation.severity_code,
        **({"rule_id": rule.pk} if rule is not None else {}),
    )
    if restrict:
        _restriction_record(case, team, raised_by=raised_by, now=now)
    events.emit(
        EVENT_RAISED,
        {
            "escalation_id": escalation.pk,
            "case_id": case.pk,
            "team": team.slug,
            "severity": escalation.severity_code,
        },
    )
    if severity in ALERT_ON_RAISE:
        alert_send(escalation, EscalationAlert.Kind.NEW, now)
    return escalation


def _restriction_record(case: Case, team: Team, *, raised_by, now) -> None:
    """The case became the team's alone: say so on its timeline, and tell the raiser."""
    timeline.record(case, EventKind.CASE_RESTRICTED, raised_by, team=team.slug)
    # The raiser can no longer open the case, but is not notified of their own action
    # (nobody is); the escalation stays in their history of work.


# --- Working ----------------------------------------------------------------------------------


def _lock_escalation(escalation_id: int, actor) -> Escalation:
    """Lock the escalation; one the actor may not work does not exist for them."""
    escalation = (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("team", "case")
        .filter(pk=escalation_id)
        .first()
    )
    if escalation is None:
        raise Http404("No such escalation.")
    if not can_work_escalation(actor, escalation):
        raise HiddenObject("No such escalation.", actor=actor, obj=escalation)
    return escalation


def _check_transition(escalation: Escalation, target: str) -> None:
    if target not in Escalation.TRANSITIONS[escalation.status]:
        raise EscalationConflict(
            f"A {escalation.get_status_display().lower()} escalation cannot become {target}."
        )


def escalation_acknowledge(*, actor, escalation_id: int) -> Escalation:
    """A team member takes the escalation: records who and when (stops the overdue alert)."""
    with transaction.atomic():
        escalation = _lock_escalation(escalation_id, actor)
        _check_transition(escalation, Escalation.Status.ACKNOWLEDGED)
        escalation.status = Escalation.Status.ACKNOWLEDGED
        escalation.acknowledged_by = actor
        escalation.acknowledged_at = timezone.now()
        escalation.save()
        timeline.record(
            escalation.case_id,
            EventKind.ESCALATION_ACKNOWLEDGED,
            actor,
            escalation_id=escalation.pk,
        )
    return escalation


MAX_REFERRAL_FIELD = 200


def _clean_referral(
    errors: dict, *, kind: str, agency: str, reference: str, referral_date: date | None
) -> dict:
    """The referral's fields, checked: none without a kind; with one, the agency (NCMEC's own
    name by default) and the date it was made, not in the future."""
    kind = (kind or "").strip()
    agency = (agency or "").strip()
    reference = (reference or "").strip()
    if kind and kind not in ReferralKind.values:
        errors["referral_kind"] = f"One of {', '.join(ReferralKind.labels)}, or none."
        return {}
    if not kind:
        if agency or reference or referral_date:
            errors["referral_kind"] = "Choose where the case was referred, or clear the details."
        return {}
    if kind == ReferralKind.NCMEC and not agency:
        agency = "NCMEC"
    if not agency:
        errors["referral_agency"] = "Name the agency the case was referred to."
    for name, value in (("referral_agency", agency), ("referral_reference", reference)):
        if len(value) > MAX_REFERRAL_FIELD:
            errors[name] = f"At most {MAX_REFERRAL_FIELD} characters."
    if referral_date is None:
        errors["referral_date"] = "Give the date of the referral."
    elif referral_date > timezone.localdate():
        errors["referral_date"] = "A referral date cannot be in the future."
    return {
        "referral_kind": kind,
        "referral_agency": agency,
        "referral_reference": reference,
        "referral_date": referral_date,
    }


def escalation_resolve(
    *,
    actor,
    escalation_id: int,
    outcome: str,
    referral_kind: str = "",
    referral_agency: str = "",
    referral_reference: str = "",
    referral_date: date | None = None,
    referral: str = "",
    decision: dict | None = None,
) -> Escalation:
    """Close the escalation with its outcome, and optionally a referral (kind: law
    enforcement, NCMEC or other; agency, reference number, date) and a decision (``decision``
    holds :func:`enforcement.services.decision_make`'s arguments; the team member decides,
    which ``can_decide_case`` allows on an escalated case of their team). Without a decision,
    the case is resolved with the escalation. ``referral`` is the free-text note the API took
    before referrals were structured, still kept for its clients."""
    from enforcement.services import decision_make

    errors: dict = {}
    outcome = _clean_text(errors, "outcome", outcome, required=True)
    referral = _clean_text(errors, "referral", referral, required=False)
    structured = _clean_referral(
        errors,
        kind=referral_kind,
        agency=referral_agency,
        reference=referral_reference,
        referral_date=referral_date,
    )
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        escalation = _lock_escalation(escalation_id, actor)
        _check_transition(escalation, Escalation.Status.RESOLVED)
        made = None
        if decision:
            made = decision_make(
                actor=actor,
                case_id=escalation.case_id,
                outcome=decision.get("outcome", ""),
                rationale=decision.get("rationale", ""),
                policy_section=decision.get("policy_section", ""),
                statement_of_reasons=decision.get("statement_of_reasons", ""),
                actions=decision.get("actions"),
            )
        else:
            case = case_lock(escalation.case_id, actor)
            if case.status == Case.Status.ESCALATED:
                case_transition(
                    case,
                    Case.Status.RESOLVED,
                    actor=actor,
                    reason=f"escalation resolved by {escalation.team.slug}",
                    event=EventKind.CASE_RESOLVED,
                    data={"escalation_id": escalation.pk, "outcome": outcome},
                    at=now,
                )
        escalation.status = Escalation.Status.RESOLVED
        escalation.resolved_by = actor
        escalation.resolved_at = now
        escalation.outcome = outcome
        escalation.referral = referral
        for name, value in structured.items():
            setattr(escalation, name, value)
        escalation.decision = made
        escalation.save()
        _hide_from_team(escalation.case)
        timeline.record(
            escalation.case_id,
            EventKind.ESCALATION_RESOLVED,
            actor,
            escalation_id=escalation.pk,
            decision_id=made.pk if made else None,
            referral=bool(structured or referral),
        )
    return escalation


def escalation_return(
    *, actor, escalation_id: int, note: str, unrestrict: bool = False
) -> Escalation:
    """Send the case back to its original queue with the team's note. The case stays
    restricted to the team unless the team says ``unrestrict`` (then it gets back the
    visibility it had before the escalation)."""
    errors: dict = {}
    note = _clean_text(errors, "note", note, required=True)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        escalation = _lock_escalation(escalation_id, actor)
        _check_transition(escalation, Escalation.Status.RETURNED)
        case = case_lock(escalation.case_id, actor)
        if case.status != Case.Status.ESCALATED:
            raise InvalidTransition(case, "returned to its queue")
        escalation.status = Escalation.Status.RETURNED
        escalation.returned_note = note
        escalation.resolved_by = actor
        escalation.resolved_at = now
        escalation.save()
        if unrestrict and case.restricted:
            _unrestrict(case, previous_team=escalation.previous_team)
            timeline.record(case, EventKind.CASE_UNRESTRICTED, actor, team=escalation.team.slug)
        _hide_from_team(case)
        case_transition(
            case,
            Case.Status.NEW,
            actor=actor,
            reason=f"returned by {escalation.team.slug}",
            event=EventKind.ESCALATION_RETURNED,
            data={
                "escalation_id": escalation.pk,
                "note": note,
                "unrestricted": bool(unrestrict),
            },
            at=now,
        )
    return escalation


# --- Raising by routing rule (at intake) --------------------------------------------------------


def escalation_raise_by_rule(
    *, case_id: int, team: Team | str, severity, rule, submitted_by
) -> Escalation | None:
    """Escalate a case because a routing rule (``rule.escalate_team``) matched one of its
    reports at intake. Runs inside the intake transaction (or its own).

    No person raises these: ``raised_by`` stays empty and the human permission check of
    :func:`escalation_raise` (``raise_escalations`` + ``can_view_case``) is deliberately
    skipped — the rule, configured by a senior, is the authority, and the summary and
    criteria name it. ``submitted_by`` (the account whose report matched) only bounds the
    packet's visibility-filtered sections (prior cases, linked-account counts), so the packet
    never carries more than the intake account could read. Otherwise as a human escalation:
    frozen packet, case ``escalated`` and out of its queue, restricted to the team when the
    team (or the case already) is restricted, event and P0/P1 on-call alert.

    Returns None, changing nothing, when the case has an active escalation, is not open or
    may not be escalated from its status, or the rule names no existing team.
    """
    severity = _parse_severity(severity)
    try:
        team = _team(team)
    except ValidationError:
        log.error("routing rule %s escalates to unknown team %r", rule.pk, team)
        return None
    now = timezone.now()
    with transaction.atomic():
        case = _lock_escalatable(case_id)
        if case is None:
            return None
        # The rule acts for the platform that submitted the report (the history's user).
        return _escalation_open(
            case=case,
            team=team,
            severity=severity,
            summary=f'Escalated at intake by rule #{rule.pk} "{rule.name}".',
            criteria=_rule_criteria(rule, team),
            next_steps="",
            raised_by=None,
            on_behalf_of=submitted_by,
            reason=f"escalated to {team.slug} by rule {rule.pk}",
            now=now,
            rule=rule,
        )


def _lock_escalatable(case_id: int) -> Case | None:
    """The case, locked, when it may be escalated now: it exists, its status allows it and
    it has no active escalation."""
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("subject", "subject__owner", "queue")
        .filter(pk=case_id)
        .first()
    )
    if (
        case is None
        or case.status == Case.Status.ESCALATED
        or not allowed(case.status, Case.Status.ESCALATED)
        or Escalation.objects.filter(
            case_id=case.pk, status__in=Escalation.ACTIVE_STATUSES
        ).exists()
    ):
        return None
    return case


def _rule_criteria(rule, team: Team) -> str:
    """What the rule matched, in words: its condition as written."""
    return (
        f"A report matched rule #{rule.pk} (condition: {rule.condition_text or 'any report'})"
        f", which escalates to {team.slug}."
    )
