"""Calibration session writes (create, gold answers, invitations, open, answers, hand-in,
close, clarifications) and the cleaning of their input.

A senior (``run_qa``) builds a session from cases picked by id or drawn from a queue, sets a
gold answer per case and invites participants (associates, analysts, seniors). Each
participant answers every case blind; nobody sees anyone's answers, nor the gold, until the
session closes. The results (:mod:`qa.calibration_selectors`) then compare each participant
with gold and with each other.

Who may do what (the predicates are in :mod:`qa.permissions`):

- managing (gold, invitations, open, close, clarifications) needs ``run_qa`` and not being a
  participant of the session: a senior who answers must not also know the gold;
- answering and handing in is for the session's participants while it is open;
- the session is visible to managers and its participants; anyone else gets "not found".
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Severity
from cases.selectors import queue_list
from cases.visibility import visible_cases
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision
from enforcement.selectors import policy_sections_current
from qa.models import (
    CalibrationAnswer,
    CalibrationCase,
    CalibrationParticipant,
    CalibrationSession,
)
from qa.permissions import can_manage_session, is_eligible_participant
from qa.services._input import clean_text
from tsops.errors import ConflictError
from tsops.services import notification_send

MAX_CASES = 50
MAX_PARTICIPANTS = 50
DEFAULT_DRAW = 10
MAX_NAME = 200
MAX_DESCRIPTION = 5000
MAX_NOTES = 2000
MAX_CLARIFICATION = 10_000


class CalibrationConflict(ConflictError):
    pass


# --- Input -------------------------------------------------------------------------------------


def _parse_severity(value) -> int | None:
    """0..3, "0".."3" or "P0".."P3"; blank is None; anything else raises ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().upper().removeprefix("P")
        if not text.isdigit():
            raise ValueError
        number = int(text)
    if number not in Severity.values:
        raise ValueError
    return number


def clean_answer(
    *, outcome, policy_section="", action="", severity=None, notes: str | None = None
) -> dict:
    """One answer (a participant's or the gold) checked and normalised, or ValidationError.

    A violation names the current policy section it breaks, the action it calls for and its
    severity; "no violation" and "insufficient evidence" name none of them, so that everyone
    codes a non-violation the same way and the agreement figures compare like with like.
    """
    errors: dict[str, str] = {}
    outcome = (outcome or "").strip() if isinstance(outcome, str) else outcome
    policy_section = (policy_section or "").strip()
    action = (action or "").strip()
    if outcome not in Decision.Outcome.values:
        errors["outcome"] = f"One of {', '.join(Decision.Outcome.values)}."
    try:
        severity = _parse_severity(severity)
    except ValueError:
        errors["severity"] = "One of P0, P1, P2, P3."
        severity = None
    if outcome == Decision.Outcome.VIOLATION:
        if not policy_section:
            errors["policy_section"] = "A violation names the policy section it breaks."
        elif not policy_sections_current().filter(code=policy_section).exists():
            errors["policy_section"] = f"No current policy section {policy_section!r}."
        if not action:
            errors["action"] = "A violation names the action it calls for."
        elif action not in ACTIONS:
            errors["action"] = f"Unknown action {action!r}."
        if severity is None and "severity" not in errors:
            errors["severity"] = "A violation has a severity (P0–P3)."
    elif outcome in Decision.Outcome.values:
        if policy_section:
            errors["policy_section"] = "Only a violation cites a policy section."
        if action:
            errors["action"] = "Only a violation calls for an action."
        if severity is not None:
            errors["severity"] = "Only a violation has a severity."
    cleaned = {
        "outcome": outcome,
        "policy_section": policy_section,
        "action": action,
        "severity": severity,
    }
    if notes is not None:
        notes = (notes or "").strip()
        if len(notes) > MAX_NOTES:
            errors["notes"] = f"At most {MAX_NOTES} characters."
        cleaned["notes"] = notes
    if errors:
        raise ValidationError(errors)
    return cleaned


def _ids(value, field: str, errors: dict) -> list[int]:
    """A list of positive ints (order kept, duplicates dropped), else an error on ``field``."""
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        errors[field] = "A list of ids."
        return []
    ids: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            errors[field] = "A list of ids."
            return []
        if item not in ids:
            ids.append(item)
    return ids


def _participants(*, actor, user_ids: list[int], field: str, errors: dict) -> list:
    """The members behind ``user_ids``, each one who may take part, else an error."""
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=user_ids)}
    problems = []
    for user_id in user_ids:
        user = users.get(user_id)
        if user is None or not user.is_active:
            problems.append(f"No such member: {user_id}.")
        elif user.pk == actor.pk:
            problems.append("You set the gold answers, so you cannot take part yourself.")
        elif not is_eligible_participant(user):
            problems.append(
                f"{user.get_username()} cannot take part: calibration is for associates, "
                "analysts and seniors."
            )
    if problems:
        errors[field] = " ".join(problems)
        return []
    return [users[user_id] for user_id in user_ids]


def _picked_cases(*, actor, case_ids: list[int], errors: dict) -> list[Case]:
    """The picked cases, all visible to the actor and none restricted.

    A case the actor cannot see is reported exactly like a missing one, so the form never
    confirms that a restricted case exists.
    """
    visible = {c.pk: c for c in visible_cases(actor).filter(pk__in=case_ids)}
    missing = [case_id for case_id in case_ids if case_id not in visible]
    restricted = [case_id for case_id, case in visible.items() if case.restricted]
    problems = []
    if missing:
        problems.append("No such case: " + ", ".join(f"#{i}" for i in missing) + ".")
    if restricted:
        problems.append(
            "Restricted cases belong to their specialist team and cannot be used for "
            "calibration: " + ", ".join(f"#{i}" for i in sorted(restricted)) + "."
        )
    if problems:
        errors["case_ids"] = " ".join(problems)
        return []
    return [visible[case_id] for case_id in case_ids]


def _drawn_cases(*, actor, queue_id, draw, errors: dict) -> list[Case]:
    """``draw`` resolved cases picked at random from a queue the actor works (never a
    restricted one: only unrestricted queues, only unrestricted cases)."""
    if isinstance(draw, bool) or not isinstance(draw, int) or not 1 <= draw <= MAX_CASES:
        errors["draw"] = f"Between 1 and {MAX_CASES}."
    queue = next(
        (q for q in queue_list(actor=actor) if q.pk == queue_id and not q.team),
        None,
    )
    if queue is None:
        errors["queue_id"] = "No such queue."
    if errors:
        return []
    # Decided cases: the whole record is there to judge, and nobody is still working them.
    cases = list(
        visible_cases(actor)
        .filter(queue=queue, restricted=False, status=Case.Status.RESOLVED)
        .order_by("?")[:draw]
    )
    if not cases:
        errors["queue_id"] = f"{queue.name} has no resolved cases to draw from."
    return cases


# --- Writes ------------------------------------------------------------------------------------


def _lock(session_id: int, *, no_key: bool = False) -> CalibrationSession:
    """The session row, locked; ``no_key`` for answers, which interleave with each other
    but not with the close."""
    session = CalibrationSession.objects.select_for_update(no_key=no_key).filter(pk=session_id)
    session = session.first()
    if session is None:
        raise Http404("No such calibration session.")
    return session


def _save(session: CalibrationSession, **changes) -> None:
    for name, value in changes.items():
        setattr(session, name, value)
    session.version += 1
    session.save()


def _item(session: CalibrationSession, item_id: int) -> CalibrationCase:
    item = CalibrationCase.objects.filter(session=session, pk=item_id).first()
    if item is None:
        raise Http404("No such case in this session.")
    return item


def _notify(
    session: CalibrationSession, users: Iterable, *, actor, kind: str, title: str, body: str
):
    link = reverse("qa:calibration-detail", args=[session.pk])
    notification_send(actor=actor, recipients=users, kind=kind, title=title, body=body, link=link)


def calibration_session_create(
    *,
    actor,
    name: str,
    case_ids: list[int] | None = None,
    queue_id: int | None = None,
    draw: int = DEFAULT_DRAW,
    participant_ids: list[int],
    description: str = "",
    low_agreement_threshold: int = 60,
) -> CalibrationSession:
    """A draft session over the picked cases (or ``draw`` resolved cases drawn at random
    from a queue) with its invited participants; gold answers come next."""
    if not can_manage_session(actor):
        raise PermissionDenied("Only a senior running QA creates calibration sessions.")
    errors: dict[str, str] = {}
    name = clean_text(name, "name", errors, limit=MAX_NAME, required=True)
    description = clean_text(description, "description", errors, limit=MAX_DESCRIPTION)
    if (
        isinstance(low_agreement_threshold, bool)
        or not isinstance(low_agreement_threshold, int)
        or not 1 <= low_agreement_threshold <= 100
    ):
        errors["low_agreement_threshold"] = "A percentage between 1 and 100."
    picked = _ids(case_ids, "case_ids", errors)
    if len(picked) > MAX_CASES:
        errors["case_ids"] = f"At most {MAX_CASES} cases."
    invited = _ids(participant_ids, "participant_ids", errors)
    participants: list = []
    if len(invited) > MAX_PARTICIPANTS:
        errors["participant_ids"] = f"At most {MAX_PARTICIPANTS} participants."
    elif "participant_ids" not in errors:
        if len(invited) < 2:
            errors["participant_ids"] = "Invite at least two participants: agreement needs two."
        else:
            participants = _participants(
                actor=actor, user_ids=invited, field="participant_ids", errors=errors
            )
    if picked and queue_id is not None:
        errors["case_ids"] = "Pick cases or draw them from a queue, not both."
    elif not picked and queue_id is None and "case_ids" not in errors:
        errors["case_ids"] = "Pick the cases, or choose a queue to draw them from."
    if errors:
        raise ValidationError(errors)
    if picked:
        cases = _picked_cases(actor=actor, case_ids=picked, errors=errors)
    else:
        cases = _drawn_cases(actor=actor, queue_id=queue_id, draw=draw, errors=errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        session = CalibrationSession.objects.create(
            name=name,
            description=description,
            created_by=actor,
            low_agreement_threshold=low_agreement_threshold,
        )
        CalibrationCase.objects.bulk_create(
            [
                CalibrationCase(session=session, case=case, position=position)
                for position, case in enumerate(cases, start=1)
            ]
        )
        CalibrationParticipant.objects.bulk_create(
            [CalibrationParticipant(session=session, user=user) for user in participants]
        )
    return session


def calibration_session_set_gold(
    *,
    actor,
    session_id: int,
    item_id: int,
    outcome: str,
    policy_section: str = "",
    action: str = "",
    severity=None,
) -> CalibrationCase:
    """Set one case's gold answer (while the session is not closed; participants never see
    it before the close)."""
    with transaction.atomic():
        session = _lock(session_id)
        if not can_manage_session(actor, session):
            raise PermissionDenied("Only a senior running QA who does not take part sets gold.")
        if session.status == CalibrationSession.Status.CLOSED:
            raise CalibrationConflict("The session is closed: its gold answers are final.")
        item = _item(session, item_id)
        gold = clean_answer(
            outcome=outcome, policy_section=policy_section, action=action, severity=severity
        )
        item.gold_outcome = gold["outcome"]
        item.gold_policy_section = gold["policy_section"]
        item.gold_action = gold["action"]
        item.gold_severity = gold["severity"]
        item.save()
        _save(session)
    return item


def calibration_session_invite(
    *, actor, session_id: int, user_ids: list[int]
) -> list[CalibrationParticipant]:
    """Invite more participants (before the close); those already in are left as they are.
    Invitees to an open session are notified at once."""
    errors: dict[str, str] = {}
    ids = _ids(user_ids, "user_ids", errors)
    if not ids and "user_ids" not in errors:
        errors["user_ids"] = "Choose at least one member."
    with transaction.atomic():
        session = _lock(session_id)
        if not can_manage_session(actor, session):
            raise PermissionDenied("Only a senior running QA who does not take part invites.")
        if session.status == CalibrationSession.Status.CLOSED:
            raise CalibrationConflict("The session is closed.")
        if errors:
            raise ValidationError(errors)
        present = set(
            CalibrationParticipant.objects.filter(session=session).values_list("user_id", flat=True)
        )
        new_ids = [i for i in ids if i not in present]
        if len(present) + len(new_ids) > MAX_PARTICIPANTS:
            raise ValidationError({"user_ids": f"At most {MAX_PARTICIPANTS} participants."})
        users = _participants(actor=actor, user_ids=new_ids, field="user_ids", errors=errors)
        if errors:
            raise ValidationError(errors)
        added = CalibrationParticipant.objects.bulk_create(
            [CalibrationParticipant(session=session, user=user) for user in users]
        )
        if added:
            _save(session)
            if session.status == CalibrationSession.Status.OPEN:
                _notify(
                    session,
                    users,
                    actor=actor,
                    kind="calibration_invited",
                    title=f"Calibration: {session.name}",
                    body="You are invited to a calibration session. Answer each case blind.",
                )
    return added


def calibration_session_open(*, actor, session_id: int) -> CalibrationSession:
    """Open a draft for answers: every case needs its gold answer and there must be at least
    two participants. The participants are notified."""
    with transaction.atomic():
        session = _lock(session_id)
        if not can_manage_session(actor, session):
            raise PermissionDenied("Only a senior running QA who does not take part opens it.")
        if session.status != CalibrationSession.Status.DRAFT:
            raise CalibrationConflict(f"The session is already {session.get_status_display()}.")
        items = list(CalibrationCase.objects.filter(session=session))
        if not items:
            raise CalibrationConflict("The session has no cases.")
        without_gold = [item.position for item in items if not item.gold_outcome]
        if without_gold:
            raise CalibrationConflict(
                "Set the gold answer of every case first (missing: case "
                + ", ".join(str(p) for p in without_gold)
                + ")."
            )
        participants = list(
            get_user_model().objects.filter(
                pk__in=CalibrationParticipant.objects.filter(session=session).values("user_id")
            )
        )
        if len(participants) < 2:
            raise CalibrationConflict("Invite at least two participants first.")
        _save(session, status=CalibrationSession.Status.OPEN, opened_at=timezone.now())
        _notify(
            session,
            participants,
            actor=actor,
            kind="calibration_opened",
            title=f"Calibration: {session.name}",
            body=f"{len(items)} cases to answer blind. Nobody sees your answers until the close.",
        )
    return session


def _participant_locked(session: CalibrationSession, actor) -> CalibrationParticipant:
    participant = (
        CalibrationParticipant.objects.select_for_update()
        .filter(session=session, user=actor)
        .first()
    )
    if participant is None:
        raise PermissionDenied("Only the session's participants answer its cases.")
    return participant


def _check_answering(session: CalibrationSession, participant: CalibrationParticipant) -> None:
    if session.status == CalibrationSession.Status.DRAFT:
        raise CalibrationConflict("The session is not open for answers yet.")
    if session.status == CalibrationSession.Status.CLOSED:
        raise CalibrationConflict("The session is closed: answers can no longer change.")
    if participant.submitted_at is not None:
        raise CalibrationConflict("You handed in your answers: they can no longer change.")


def calibration_answer_submit(
    *,
    actor,
    session_id: int,
    item_id: int,
    outcome: str,
    policy_section: str = "",
    action: str = "",
    severity=None,
    notes: str = "",
) -> CalibrationAnswer:
    """Save (or change) the actor's blind answer on one case, until they hand in or the
    session closes."""
    with transaction.atomic():
        # No answer lands after the close.
        session = _lock(session_id, no_key=True)
        participant = _participant_locked(session, actor)
        _check_answering(session, participant)
        item = _item(session, item_id)
        answer = clean_answer(
            outcome=outcome,
            policy_section=policy_section,
            action=action,
            severity=severity,
            notes=notes,
        )
        saved, _ = CalibrationAnswer.objects.update_or_create(
            item=item, participant=actor, defaults=answer
        )
    return saved


def calibration_participant_submit(*, actor, session_id: int) -> CalibrationParticipant:
    """Hand in: every case answered; afterwards the answers are final."""
    with transaction.atomic():
        session = _lock(session_id, no_key=True)
        participant = _participant_locked(session, actor)
        _check_answering(session, participant)
        unanswered = list(
            CalibrationCase.objects.filter(session=session)
            .exclude(answers__participant=actor)
            .values_list("position", flat=True)
        )
        if unanswered:
            raise ValidationError(
                {
                    "answers": "Answer every case before handing in (left: case "
                    + ", ".join(str(p) for p in unanswered)
                    + ")."
                }
            )
        participant.submitted_at = timezone.now()
        participant.save(update_fields=["submitted_at"])
    return participant


def calibration_session_close(*, actor, session_id: int) -> CalibrationSession:
    """Close an open session: answers and gold become final and the results visible to the
    participants, who are notified. Answers saved but not handed in count as given."""
    with transaction.atomic():
        session = _lock(session_id)
        if not can_manage_session(actor, session):
            raise PermissionDenied("Only a senior running QA who does not take part closes it.")
        if session.status != CalibrationSession.Status.OPEN:
            raise CalibrationConflict(
                "Only an open session can be closed."
                if session.status == CalibrationSession.Status.DRAFT
                else "The session is already closed."
            )
        _save(session, status=CalibrationSession.Status.CLOSED, closed_at=timezone.now())
        participants = get_user_model().objects.filter(
            pk__in=CalibrationParticipant.objects.filter(session=session).values("user_id")
        )
        _notify(
            session,
            participants,
            actor=actor,
            kind="calibration_closed",
            title=f"Calibration results: {session.name}",
            body="The session is closed: see how your answers compare with gold and the team.",
        )
    return session


def calibration_clarification_save(
    *, actor, session_id: int, item_id: int, clarification: str
) -> CalibrationCase:
    """Record the policy clarification a case of low agreement called for (after the close)."""
    errors: dict[str, str] = {}
    text = clean_text(clarification, "clarification", errors, limit=MAX_CLARIFICATION)
    with transaction.atomic():
        session = _lock(session_id)
        if not can_manage_session(actor, session):
            raise PermissionDenied("Only a senior running QA who does not take part clarifies.")
        if session.status != CalibrationSession.Status.CLOSED:
            raise CalibrationConflict("Clarifications are written once the session is closed.")
        item = _item(session, item_id)
        if errors:
            raise ValidationError(errors)
        item.clarification = text
        item.save(update_fields=["clarification", "updated_at"])
        _save(session)
    return item
