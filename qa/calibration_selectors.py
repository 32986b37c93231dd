"""Calibration session reads: the actor's sessions, one session (404 for anyone neither
participant nor ``run_qa``), its cases, participants and the actor's own answers, who may be
invited, and the results of a closed session.

The results compare each participant with gold and with each other (Fleiss' kappa per field
over everyone, Cohen's kappa per pair) and list the cases of low agreement as candidates for
a policy clarification. ``gold_hits`` is the one definition of agreement with gold, shared
with the metrics KPI. The writes are in :mod:`qa.services.calibration`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from qa import stats
from qa.models import (
    CalibrationAnswer,
    CalibrationCase,
    CalibrationParticipant,
    CalibrationSession,
)
from qa.permissions import PARTICIPANT_ROLES, can_manage_session, can_see_session
from qa.services.calibration import CalibrationConflict
from tsops import roles
from tsops.errors import HiddenObject
from tsops.permissions import role_of

FIELDS: tuple[str, ...] = ("outcome", "policy_section", "action", "severity")
FIELD_LABELS = {
    "outcome": "Outcome",
    "policy_section": "Policy section",
    "action": "Action",
    "severity": "Severity",
}


def calibration_session_list(*, actor) -> QuerySet[CalibrationSession]:
    """Sessions the actor manages (every session, for ``run_qa``) or takes part in, newest
    first, with their case, participant and hand-in counts."""
    sessions = CalibrationSession.objects.all()
    if not can_manage_session(actor):
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

    participants = _participant_results(participant_rows, by_user, gold)
    fleiss = {
        field: _rounded(
            stats.fleiss_kappa(
                [[a_values[field] for a_values in _values(by_item[i.pk])] for i in items]
            )
        )
        for field in FIELDS
    }
    cohen = _cohen_kappas(participants, by_user, items)
    cases = _case_results(items, by_item, gold, session.low_agreement_threshold / 100)
    trend = _trend_shown(actor, session, participants)
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


def _participant_results(participant_rows, by_user, gold) -> list[dict]:
    """Each participant's agreement with gold per field and overall, over what they
    answered."""
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
    return participants


def _cohen_kappas(participants: list[dict], by_user, items) -> list[dict]:
    """Cohen's kappa per pair of participants, per field, over the cases both answered."""
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
    return cohen


def _case_results(items, by_item, gold, threshold: float) -> list[dict]:
    """Per case: gold, the answers, agreement among participants and with gold, and whether
    the agreement is below ``threshold`` (a fraction)."""
    cases = []
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
    return cases


def _trend_shown(actor, session: CalibrationSession, participants: list[dict]) -> list[dict]:
    """Agreement with gold across closed sessions: a manager sees every participant's, a
    participant only their own."""
    shown = [p["user_id"] for p in participants]
    if not can_manage_session(actor, session):
        shown = [actor.pk]
    trend_rows = calibration_trend(user_ids=shown)
    return [
        {"username": p["username"], "sessions": trend_rows.get(p["user_id"], [])}
        for p in participants
        if p["user_id"] in shown
    ]


def _values(answers: list[CalibrationAnswer]) -> list[dict]:
    return [_answer_values(answer) for answer in answers]
