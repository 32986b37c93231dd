"""Demo calibration sessions, made through the real services: one closed a few days ago with
its results (a case the team split on, with the clarification it led to), and one open with
some participants part-way through and one handed in."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cases.models import Case, Severity
from cases.visibility import visible_cases
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision
from enforcement.selectors import policy_sections_current
from qa.models import CalibrationSession
from qa.permissions import is_eligible_participant
from qa.services import calibration

CLOSED_NAME = "Spam and harassment calibration · last week"
OPEN_NAME = "Calibration · this week"
CLARIFICATION = (
    "Clarified with policy: a single link to the poster's own shop is self-promotion, not "
    "spam (SPAM-1.1 needs repetition or deception). Decide no violation unless it repeats."
)
CLOSED_CASES = 5
OPEN_CASES = 4


def _gold_from_decision(case: Case, current_sections: set[str]) -> dict:
    """The answer the case's own decision gives (what a lead would usually start from)."""
    decision = (
        Decision.objects.filter(case=case)
        .select_related("policy_section")
        .order_by("-created_at", "-pk")
        .first()
    )
    if decision is None or decision.outcome != Decision.Outcome.VIOLATION:
        return {"outcome": decision.outcome if decision else Decision.Outcome.NO_VIOLATION}
    section = decision.policy_section.code if decision.policy_section else ""
    action = decision.actions.order_by("pk").values_list("action_type", flat=True).first()
    if section not in current_sections or action not in ACTIONS:
        return {"outcome": Decision.Outcome.NO_VIOLATION}
    return {
        "outcome": Decision.Outcome.VIOLATION,
        "policy_section": section,
        "action": action,
        "severity": case.severity,
    }


def _varied(gold: dict, rng: random.Random) -> dict:
    """A participant's answer near the gold: now and then a severity or an action off."""
    answer = dict(gold)
    if gold["outcome"] != Decision.Outcome.VIOLATION:
        return answer
    roll = rng.random()
    if roll < 0.2:
        answer["severity"] = min(max(gold["severity"] + rng.choice((-1, 1)), 0), len(Severity) - 1)
    elif roll < 0.3:
        answer["action"] = rng.choice(
            [a for a in ("remove_content", "warn") if a != gold["action"]]
        )
    return answer


def _split(gold: dict, index: int) -> dict:
    """The ambiguous case: half the team calls it a violation, half does not."""
    if index % 2 == 0:
        return dict(gold)
    if gold["outcome"] == Decision.Outcome.VIOLATION:
        return {"outcome": Decision.Outcome.NO_VIOLATION}
    return {
        "outcome": Decision.Outcome.VIOLATION,
        "policy_section": "SPAM-1.1",
        "action": "remove_content",
        "severity": 3,
    }


def _build(senior, participants, cases, name: str, description: str):
    session = calibration.calibration_session_create(
        actor=senior,
        name=name,
        description=description,
        case_ids=[case.pk for case in cases],
        participant_ids=[p.pk for p in participants],
    )
    sections = set(policy_sections_current().values_list("code", flat=True))
    golds = {}
    for item in session.items.select_related("case").order_by("position"):
        gold = _gold_from_decision(item.case, sections)
        calibration.calibration_session_set_gold(
            actor=senior, session_id=session.pk, item_id=item.pk, **gold
        )
        golds[item.pk] = gold
    calibration.calibration_session_open(actor=senior, session_id=session.pk)
    return session, golds


def seed_calibration(*, senior, participants, cases, progress=None) -> list[CalibrationSession]:
    """Two sessions over ``cases`` (resolved, unrestricted) with ``participants`` (at least
    two); idempotent: existing demo sessions are returned as they are."""
    existing = list(CalibrationSession.objects.filter(name__in=[CLOSED_NAME, OPEN_NAME]))
    if existing:
        return existing
    participants = [p for p in participants if is_eligible_participant(p)]
    visible = set(
        visible_cases(senior)
        .filter(pk__in=[c.pk for c in cases], restricted=False)
        .values_list("pk", flat=True)
    )
    cases = [case for case in cases if case.pk in visible]
    if len(participants) < 2 or len(cases) < 2:
        return []
    rng = random.Random(11)
    sessions = []
    closed_cases = cases[:CLOSED_CASES]
    open_cases = cases[CLOSED_CASES : CLOSED_CASES + OPEN_CASES] or cases[:OPEN_CASES]

    with transaction.atomic():
        session, golds = _build(
            senior,
            participants,
            closed_cases,
            CLOSED_NAME,
            "Recent resolved spam and harassment cases. Answer as you would on the queue.",
        )
        items = list(session.items.order_by("position"))
        ambiguous = items[-1]
        for index, participant in enumerate(participants):
            for item in items:
                gold = golds[item.pk]
                answer = _split(gold, index) if item.pk == ambiguous.pk else _varied(gold, rng)
                notes = "Looks like the poster's own shop." if answer != gold else ""
                calibration.calibration_answer_submit(
                    actor=participant,
                    session_id=session.pk,
                    item_id=item.pk,
                    notes=notes,
                    **answer,
                )
            calibration.calibration_participant_submit(actor=participant, session_id=session.pk)
        calibration.calibration_session_close(actor=senior, session_id=session.pk)
        calibration.calibration_clarification_save(
            actor=senior,
            session_id=session.pk,
            item_id=ambiguous.pk,
            clarification=CLARIFICATION,
        )
        # Demo history: the session ran a few days ago (only its timestamps move).
        now = timezone.now()
        CalibrationSession.objects.filter(pk=session.pk).update(
            created_at=now - timedelta(days=4),
            opened_at=now - timedelta(days=4),
            closed_at=now - timedelta(days=2),
        )
        sessions.append(session)
    if progress is not None:
        progress.advance()

    with transaction.atomic():
        session, golds = _build(
            senior,
            participants,
            open_cases,
            OPEN_NAME,
            "Open now: answer each case blind and hand in by Friday.",
        )
        items = list(session.items.order_by("position"))
        for index, participant in enumerate(participants):
            # The first hands in, the second is half-way, the others have not started.
            answered = len(items) if index == 0 else len(items) // 2 if index == 1 else 0
            for item in items[:answered]:
                calibration.calibration_answer_submit(
                    actor=participant,
                    session_id=session.pk,
                    item_id=item.pk,
                    **_varied(golds[item.pk], rng),
                )
            if index == 0:
                calibration.calibration_participant_submit(actor=participant, session_id=session.pk)
        sessions.append(session)
    if progress is not None:
        progress.advance()
    for session in sessions:
        session.refresh_from_db()
    return sessions
