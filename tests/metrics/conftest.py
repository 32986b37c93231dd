"""A small fixed data set for the KPI and rollup tests, built through the real services at
fixed moments (time-machine), so that every figure can be computed by hand.

Day D is 2026-03-02 (UTC). What happens, and when:

===  ======================================================================================
A    spam (P3, user report) opened D 09:00; analyst claims, decides violation + remove
     content at 09:30 (first action 30 min, in SLA). Support files an appeal at 12:00,
     analyst2 overturns it at 15:00 (appeal time 180 min; a reopen: A goes back to its
     queue, open at the end of D); analyst2 decides it again, no violation, at D+1 05:40
     (resolution 1,240 min after opening, within the 72 h of P3).
B    spam (P3) opened by a spamnet flag D 09:00; analyst: violation + remove content at
     11:00 (120 min). Proactive; spamnet flag confirmed.
C    spam (P3) opened by a spamnet flag D 10:00, then a user report at 10:30; analyst2: no
     violation at 14:00 (240 min). spamnet flag decided, not confirmed.
E    scam_fraud (P1, fraud queue) opened D 08:00; analyst: violation + warn at 18:00
     (600 min: first action past its 60-min deadline, resolution past 8 h).
F    child_safety (P0, restricted to child-safety) opened D 09:00; the specialist decides
     violation + remove content at 09:20 (20 min, in SLA).
G1   content of account acct-x (P3 spam) opened D−1 11:00, analyst: violation + warn at
     D−1 12:00 (60 min).
G2   another content of acct-x (P3 spam) opened D 12:30, analyst: violation + warn at
     13:00 (30 min): actioned again within 30 days → recurring.
H    harassment (P2) opened D 08:00 and escalated to the threats team (restricted) at
     10:00 by a senior (its first action), acknowledged at 10:45 (45 min); still open.
QA   D+1 05:00 a senior draws the day's sample (every unrestricted decision of D) and at
     05:30 scores A pass, B fail (analyst's), C pass (analyst2's).
===  ======================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from appeals.services import appeal_decide, appeal_file
from cases.services import case_claim
from enforcement.services import decision_make
from escalations.services import escalation_acknowledge, escalation_raise
from qa.models import Rubric, SamplingPlan
from qa.services import review_answer, review_score, rubric_criteria, sample_draw
from tests.factories import make_case

D = datetime(2026, 3, 2, tzinfo=UTC)


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return D.replace(hour=hour, minute=minute) + timedelta(days=day_offset)


@dataclass
class DataSet:
    cases: dict
    appeal: object
    escalation: object
    reviews: dict


def _decide(actor, case, outcome, section="", actions=None):
    case_claim(actor=actor, case_id=case.pk)
    return decision_make(
        actor=actor,
        case_id=case.pk,
        outcome=outcome,
        rationale="Checked against policy.",
        policy_section=section,
        actions=actions,
    )


@pytest.fixture
def dataset(build_dataset) -> DataSet:
    return build_dataset()


@pytest.fixture
def build_dataset(
    time_machine,
    platform_account,
    analyst,
    analyst2,
    senior,
    support_agent,
    specialist,
    threats_specialist,
):
    """``build_dataset(after_step=None)``: the data set; ``after_step()`` runs after each step
    (the incremental rollup test runs the five-minute job there)."""
    return lambda after_step=None: _build(
        time_machine,
        after_step or (lambda: None),
        platform_account=platform_account,
        analyst=analyst,
        analyst2=analyst2,
        senior=senior,
        support_agent=support_agent,
        specialist=specialist,
        threats_specialist=threats_specialist,
    )


def _build(
    time_machine,
    after_step,
    *,
    platform_account,
    analyst,
    analyst2,
    senior,
    support_agent,
    specialist,
    threats_specialist,
) -> DataSet:
    started = []

    def travel(moment: datetime) -> None:
        if started:
            after_step()
        started.append(moment)
        time_machine.move_to(moment, tick=False)

    def flag(external_id: str, subject: str, **extra):
        return make_case(
            platform_account,
            source="automated_flag",
            detector="spamnet",
            score=0.97,
            external_id=external_id,
            subject={"kind": "content", "external_id": subject, "owner_id": f"own-{subject}"},
            **extra,
        )

    def report(external_id: str, subject: str, reason: str = "spam", owner: str = ""):
        return make_case(
            platform_account,
            external_id=external_id,
            reason=reason,
            subject={
                "kind": "content",
                "external_id": subject,
                "owner_id": owner or f"own-{subject}",
            },
        )

    remove = [{"type": "remove_content"}]
    warn = [{"type": "warn"}]
    cases = {}

    travel(at(-1, 11))
    cases["G1"] = report("r-g1", "post-g1", owner="acct-x")
    travel(at(-1, 12))
    _decide(analyst, cases["G1"], "violation", "SPAM-1.1", warn)

    travel(at(0, 8))
    cases["E"] = report("r-e", "post-e", reason="scam_fraud")
    cases["H"] = report("r-h", "post-h", reason="harassment")
    travel(at(0, 9))
    cases["A"] = report("r-a", "post-a")
    cases["B"] = flag("f-b", "post-b")
    cases["F"] = report("r-f", "post-f", reason="child_safety")
    travel(at(0, 9, 20))
    _decide(specialist, cases["F"], "violation", "CHILD-5.1", remove)
    travel(at(0, 9, 30))
    decision_a = _decide(analyst, cases["A"], "violation", "SPAM-1.1", remove)
    travel(at(0, 10))
    cases["C"] = flag("f-c", "post-c")
    escalation = escalation_raise(
        actor=senior,
        case_id=cases["H"].pk,
        team="threats",
        severity=2,
        summary="Threat of violence in a harassment thread.",
        criteria="Credible threat.",
    )
    travel(at(0, 10, 30))
    report("r-c2", "post-c")
    travel(at(0, 10, 45))
    escalation = escalation_acknowledge(actor=threats_specialist, escalation_id=escalation.pk)
    travel(at(0, 11))
    _decide(analyst, cases["B"], "violation", "SPAM-1.1", remove)
    travel(at(0, 12))
    appeal, _ = appeal_file(
        actor=support_agent,
        action_id=decision_a.actions.get().pk,
        statement="It was not spam.",
        external_id="appeal-a",
    )
    travel(at(0, 12, 30))
    cases["G2"] = report("r-g2", "post-g2", owner="acct-x")
    travel(at(0, 13))
    _decide(analyst, cases["G2"], "violation", "SPAM-1.1", warn)
    travel(at(0, 14))
    _decide(analyst2, cases["C"], "no_violation")
    travel(at(0, 15))
    appeal = appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome="overturned",
        rationale="Not spam on a second look.",
        response_to_user="We restored your post.",
    )
    travel(at(0, 18))
    _decide(analyst, cases["E"], "violation", "FRAUD-2.1", warn)
    travel(at(1, 5))
    plan = SamplingPlan.objects.create(
        name="Daily sample", rubric=Rubric.objects.filter(active=True).first(), created_by=senior
    )
    sample, _ = sample_draw(actor=senior, plan_id=plan.pk, start=at(0, 0), end=at(1, 0), seed=7)
    reviews = {r.case_id: r for r in sample.reviews.all()}
    travel(at(1, 5, 30))
    for name, passed in (("A", True), ("B", False), ("C", True)):
        review = reviews[cases[name].pk]
        review_answer(actor=senior, review_id=review.pk, outcome="violation")
        criteria = rubric_criteria(review.rubric)
        review_score(
            actor=senior,
            review_id=review.pk,
            scores={c["key"]: passed for c in criteria},
            error_types=[] if passed else ["wrong_policy"],
        )
    travel(at(1, 5, 40))
    # The overturned appeal reopened A (back in its queue); analyst2 decides it again.
    _decide(analyst2, cases["A"], "no_violation")
    travel(at(1, 6))
    after_step()
    return DataSet(cases=cases, appeal=appeal, escalation=escalation, reviews=reviews)
