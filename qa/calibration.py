"""Calibration sessions: every write (create, gold answers, invitations, open, answers,
hand-in, close, clarifications) and every read (lists, progress, results).

A senior (``run_qa``) builds a session from cases picked by id or drawn from a queue, sets a
gold answer per case and invites participants (associates, analysts, seniors). Each
participant answers every case blind; nobody sees anyone's answers, nor the gold, until the
session closes. The results then compare each participant with gold and with each other
(Fleiss' kappa per field over everyone, Cohen's kappa per pair) and list the cases of low
agreement as candidates for a policy clarification.

Who may do what:

- managing (gold, invitations, open, close, clarifications) needs ``run_qa`` and not being a
  participant of the session: a senior who answers must not also know the gold;
- answering and handing in is for the session's participants while it is open;
- the session is visible to managers and its participants; anyone else gets "not found".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Severity
from cases.selectors import queue_list, visible_cases
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision
from enforcement.selectors import policy_sections_current
from qa import stats
from qa.models import (
    CalibrationAnswer,
    CalibrationCase,
    CalibrationParticipant,
    CalibrationSession,
)
from qa.permissions import can_manage_calibration, is_calibration_participant
from tsops import roles
from tsops.errors import ConflictError, HiddenObject
from tsops.models import Notification
from tsops.permissions import role_of

FIELDS: tuple[str, ...] = ("outcome", "policy_section", "action", "severity")
FIELD_LABELS = {
    "outcome": "Outcome",
    "policy_section": "Policy section",
    "action": "Action",
    "severity": "Severity",
}
PARTICIPANT_ROLES = (roles.ASSOCIATE, roles.ANALYST, roles.SENIOR)
MAX_CASES = 50
MAX_PARTICIPANTS = 50
DEFAULT_DRAW = 10
MAX_NAME = 200
MAX_DESCRIPTION = 5000
MAX_NOTES = 2000
MAX_CLARIFICATION = 10_000


class CalibrationConflict(ConflictError):
    pass


# --- Predicates --------------------------------------------------------------------------------


def can_manage_session(user, session: CalibrationSession) -> bool:
    """Set gold, invite, open, close, clarify: ``run_qa``, and not one of the participants."""
    return can_manage_calibration(user, session) and not is_calibration_participant(user, session)


def can_see_session(user, session: CalibrationSession) -> bool:
    return can_manage_calibration(user, session) or is_calibration_participant(user, session)


def is_eligible_participant(user) -> bool:
    """Calibration is for the people who decide cases: associates, analysts and seniors."""
    return user.is_active and role_of(user) in PARTICIPANT_ROLES


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


def _text(value, field: str, errors: dict, *, limit: int, required: bool = False) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else None
    if text is None:
        errors[field] = "Must be text."
        return ""
    if required and not text:
        errors[field] = "Required."
    elif len(text) > limit:
        errors[field] = f"At most {limit} characters."
    return text


# --- Writes ------------------------------------------------------------------------------------


def _lock(session_id: int) -> CalibrationSession:
    session = CalibrationSession.objects.select_for_update().filter(pk=session_id).first()
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


def _notify(session: CalibrationSession, users: Iterable, *, kind: str, title: str, body: str):
    link = reverse("qa:calibration-detail", args=[session.pk])
    Notification.objects.bulk_create(
        [
            Notification(user=user, kind=kind, title=title[:200], body=body, link=link)
            for user in users
        ]
    )


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
    if not can_manage_calibration(actor):
        raise PermissionDenied("Only a senior running QA creates calibration sessions.")
    errors: dict[str, str] = {}
    name = _text(name, "name", errors, limit=MAX_NAME, required=True)
    description = _text(description, "description", errors, limit=MAX_DESCRIPTION)
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
        # The session row is locked (no-key, so answers by several people interleave with
        # each other but not with the close) so no answer lands after the close.
        session = (
            CalibrationSession.objects.select_for_update(no_key=True).filter(pk=session_id).first()
        )
        if session is None:
            raise Http404("No such calibration session.")
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
        session = (
            CalibrationSession.objects.select_for_update(no_key=True).filter(pk=session_id).first()
        )
        if session is None:
            raise Http404("No such calibration session.")
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
    text = _text(clarification, "clarification", errors, limit=MAX_CLARIFICATION)
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


# --- Reads -------------------------------------------------------------------------------------


def calibration_session_list(*, actor) -> QuerySet[CalibrationSession]:
    """Sessions the actor manages (every session, for ``run_qa``) or takes part in, newest
    first, with their case, participant and hand-in counts."""
    sessions = CalibrationSession.objects.all()
    if not can_manage_calibration(actor):
        mine = CalibrationParticipant.objects.filter(user=actor).values("session_id")
        sessions = sessions.filter(pk__in=mine)
    return (
        sessions.select_related("created_by")
        .annotate(
            case_count=Count("items", distinct=True),
        )
        .order_by("-created_at", "-id")
    )


def calibration_session_get_for(*, actor, session_id: int) -> CalibrationSession:
    """The session, or 404 for someone neither participant nor ``run_qa``."""
    session = CalibrationSession.objects.select_related("created_by").filter(pk=session_id).first()
    if session is None:
        raise Http404("No such calibration session.")
    if not can_see_session(actor, session):
        raise HiddenObject("No such calibration session.", actor=actor, obj=session)
    return session


def calibration_items(session: CalibrationSession) -> list[CalibrationCase]:
    return list(
        CalibrationCase.objects.filter(session=session).select_related(
            "case", "case__subject", "case__queue"
        )
    )


def calibration_participants(session: CalibrationSession) -> list[dict]:
    """Who takes part, how many cases each has answered and whether they handed in: what
    a manager sees of an open session (never the answers themselves)."""
    answered = dict(
        CalibrationAnswer.objects.filter(item__session=session)
        .values("participant_id")
        .annotate(n=Count("id"))
        .values_list("participant_id", "n")
    )
    rows = (
        CalibrationParticipant.objects.filter(session=session)
        .select_related("user")
        .order_by("user__username")
    )
    return [
        {
            "user": row.user,
            "username": row.user.get_username(),
            "role": roles.ROLE_LABELS.get(role_of(row.user) or "", ""),
            "answered": answered.get(row.user_id, 0),
            "invited_at": row.invited_at,
            "submitted_at": row.submitted_at,
        }
        for row in rows
    ]


def participant_candidates(*, actor, session: CalibrationSession | None = None) -> QuerySet:
    """Members who may be invited: active associates, analysts and seniors, other than the
    actor and those already in the session."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=PARTICIPANT_ROLES)
        .exclude(pk=actor.pk)
        .distinct()
        .order_by("username")
    )
    if session is not None:
        users = users.exclude(
            pk__in=CalibrationParticipant.objects.filter(session=session).values("user_id")
        )
    return users


def calibration_answers_of(*, actor, session: CalibrationSession) -> dict[int, CalibrationAnswer]:
    """The actor's own answers in the session, by item id."""
    return {
        answer.item_id: answer
        for answer in CalibrationAnswer.objects.filter(item__session=session, participant=actor)
    }


def _answer_values(obj, gold: bool = False) -> dict:
    prefix = "gold_" if gold else ""
    return {field: getattr(obj, prefix + field) for field in FIELDS}


def _matches(answer: dict, gold: dict) -> dict[str, bool]:
    return {field: answer[field] == gold[field] for field in FIELDS}


def gold_hits(answer: CalibrationAnswer, item: CalibrationCase) -> int:
    """How many of the answer's fields equal the case's gold answer (0 to len(FIELDS)): the
    one definition of agreement with gold, used by the results and the metrics KPI."""
    return sum(_matches(_answer_values(answer), _answer_values(item, gold=True)).values())


def _ratio(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _mean(values: Iterable[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def severity_label(value: int | None) -> str:
    return "" if value is None else f"P{value}"


def _public(values: dict) -> dict:
    """An answer as the results show it (severity as P0–P3)."""
    return {**values, "severity": severity_label(values["severity"])}


def _gold_agreement_expression():
    """Per answer, 1 per field that equals the case's gold (an SQL sum, for the trend)."""
    same_severity = Q(severity=F("item__gold_severity")) | Q(
        severity__isnull=True, item__gold_severity__isnull=True
    )
    return {
        "outcome_hits": Count("id", filter=Q(outcome=F("item__gold_outcome"))),
        "policy_section_hits": Count("id", filter=Q(policy_section=F("item__gold_policy_section"))),
        "action_hits": Count("id", filter=Q(action=F("item__gold_action"))),
        "severity_hits": Count("id", filter=same_severity),
    }


def calibration_trend(*, user_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Per member: their agreement with gold (all fields together) in each closed session
    they answered in, oldest first, with the change from the session before."""
    rows = (
        CalibrationAnswer.objects.filter(
            participant_id__in=list(user_ids),
            item__session__status=CalibrationSession.Status.CLOSED,
        )
        .values(
            "participant_id",
            "item__session_id",
            "item__session__name",
            "item__session__closed_at",
        )
        .annotate(answers=Count("id"), **_gold_agreement_expression())
        .order_by("participant_id", "item__session__closed_at", "item__session_id")
    )
    trend: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        hits = sum(row[f"{field}_hits"] for field in FIELDS)
        agreement = _ratio(hits, row["answers"] * len(FIELDS))
        history = trend[row["participant_id"]]
        previous = history[-1]["agreement"] if history else None
        history.append(
            {
                "session_id": row["item__session_id"],
                "name": row["item__session__name"],
                "closed_at": row["item__session__closed_at"],
                "answers": row["answers"],
                "agreement": agreement,
                "change": None
                if previous is None or agreement is None
                else round(agreement - previous, 4),
            }
        )
    return dict(trend)


def calibration_results(*, actor, session_id: int) -> dict:
    """The results of a closed session: 404 for someone who may not see the session, 409
    before the close (until then nobody, the manager included, sees anyone's answers).

    Returns a dict: ``session``; ``fields``; ``participants`` (agreement with gold per field
    and overall, over the cases they answered); ``fleiss_kappa`` per field over all
    participants; ``cohen_kappa`` per pair of participants, per field, over the cases both
    answered; ``cases`` (gold, answers, percent agreement among participants per field and
    overall, agreement with gold, whether below the session's threshold, the clarification);
    ``ambiguity_candidates`` (the item ids below the threshold); ``trend`` (per participant,
    their agreement with gold across closed sessions: managers see everyone's, a participant
    only their own). Agreements and kappas are fractions (0–1), None where undefined.
    """
    session = calibration_session_get_for(actor=actor, session_id=session_id)
    if session.status != CalibrationSession.Status.CLOSED:
        raise CalibrationConflict("Results are shown once the session is closed.")
    items = calibration_items(session)
    answers = list(
        CalibrationAnswer.objects.filter(item__session=session)
        .select_related("participant")
        .order_by("item__position", "item_id", "participant__username")
    )
    participant_rows = calibration_participants(session)
    by_item: dict[int, list[CalibrationAnswer]] = defaultdict(list)
    by_user: dict[int, dict[int, dict]] = defaultdict(dict)
    for answer in answers:
        by_item[answer.item_id].append(answer)
        by_user[answer.participant_id][answer.item_id] = _answer_values(answer)
    gold = {item.pk: _answer_values(item, gold=True) for item in items}

    participants = []
    for row in participant_rows:
        mine = by_user.get(row["user"].pk, {})
        hits = {field: 0 for field in FIELDS}
        for item_id, values in mine.items():
            for field, same in _matches(values, gold[item_id]).items():
                hits[field] += same
        n = len(mine)
        agreement = {field: _ratio(hits[field], n) for field in FIELDS}
        agreement["overall"] = _ratio(sum(hits.values()), n * len(FIELDS))
        participants.append(
            {
                "user_id": row["user"].pk,
                "username": row["username"],
                "role": row["role"],
                "submitted_at": row["submitted_at"],
                "answered": n,
                "agreement": agreement,
            }
        )

    fleiss = {
        field: _rounded(
            stats.fleiss_kappa(
                [[a_values[field] for a_values in _values(by_item[i.pk])] for i in items]
            )
        )
        for field in FIELDS
    }

    cohen = []
    for first, second in combinations(participants, 2):
        a, b = by_user.get(first["user_id"], {}), by_user.get(second["user_id"], {})
        shared = [item.pk for item in items if item.pk in a and item.pk in b]
        cohen.append(
            {
                "first": first["username"],
                "second": second["username"],
                "cases": len(shared),
                "kappa": {
                    field: _rounded(
                        stats.cohen_kappa(
                            [a[i][field] for i in shared], [b[i][field] for i in shared]
                        )
                    )
                    for field in FIELDS
                },
            }
        )

    cases = []
    threshold = session.low_agreement_threshold / 100
    for item in items:
        values = _values(by_item[item.pk])
        agreement = {field: stats.percent_agreement([v[field] for v in values]) for field in FIELDS}
        agreement["overall"] = _mean(agreement[field] for field in FIELDS)
        low = agreement["overall"] is not None and agreement["overall"] < threshold
        agreement = {key: _rounded(value) for key, value in agreement.items()}
        gold_hits = [sum(_matches(v, gold[item.pk]).values()) for v in values]
        cases.append(
            {
                "item_id": item.pk,
                "case_id": item.case_id,
                "position": item.position,
                "gold": _public(gold[item.pk]),
                "answers": [
                    {
                        "username": answer.participant.get_username(),
                        **_public(_answer_values(answer)),
                        "notes": answer.notes,
                    }
                    for answer in by_item[item.pk]
                ],
                "agreement": agreement,
                "gold_agreement": _ratio(sum(gold_hits), len(values) * len(FIELDS)),
                "low_agreement": low,
                "clarification": item.clarification,
            }
        )

    shown = [p["user_id"] for p in participants]
    if not can_manage_session(actor, session):
        shown = [actor.pk]
    trend_rows = calibration_trend(user_ids=shown)
    trend = [
        {"username": p["username"], "sessions": trend_rows.get(p["user_id"], [])}
        for p in participants
        if p["user_id"] in shown
    ]
    return {
        "session": {
            "id": session.pk,
            "name": session.name,
            "description": session.description,
            "status": session.status,
            "created_by": session.created_by.get_username(),
            "opened_at": session.opened_at,
            "closed_at": session.closed_at,
            "low_agreement_threshold": session.low_agreement_threshold,
            "cases": len(items),
            "participants": len(participants),
        },
        "fields": list(FIELDS),
        "participants": participants,
        "fleiss_kappa": fleiss,
        "cohen_kappa": cohen,
        "cases": cases,
        "ambiguity_candidates": [case["item_id"] for case in cases if case["low_agreement"]],
        "trend": trend,
    }


def _values(answers: list[CalibrationAnswer]) -> list[dict]:
    return [_answer_values(answer) for answer in answers]
