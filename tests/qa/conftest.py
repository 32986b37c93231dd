"""Helpers for the QA tests: real decisions made through the enforcement services."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cases.services import case_claim
from enforcement import services as enforcement_services
from qa import services
from qa.models import Rubric, SamplingPlan
from tests.factories import make_case

# A fixed past day the decisions are backdated into; the draw covers [DAY, DAY + 1 day).
DAY = datetime(2026, 11, 10, tzinfo=UTC)
NEXT_DAY = datetime(2026, 11, 11, tzinfo=UTC)


def decide(platform_account, user, *, reason="spam", at=None, actions=None, **kwargs):
    """A case through intake, claimed and decided by ``user`` (backdated to ``at``)."""
    case = make_case(platform_account, reason=reason)
    case = case_claim(actor=user, case_id=case.pk)
    defaults = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1" if reason == "spam" else "",
        "rationale": "Same link posted 40 times in an hour.",
        "actions": [{"type": "remove_content"}] if actions is None else actions,
    }
    defaults.update(kwargs)
    return enforcement_services.decision_make(
        actor=user, case_id=case.pk, version=case.version, at=at, **defaults
    )


@pytest.fixture
def make_plan(senior):
    def make(**fields) -> SamplingPlan:
        queues = fields.pop("queues", ())
        analysts = fields.pop("analysts", ())
        data = {
            "name": fields.pop("name", "Daily sample"),
            "rubric": Rubric.objects.get(name="Default"),
            "period": SamplingPlan.Period.DAY,
            "size_mode": SamplingPlan.SizeMode.FIXED,
            "fixed_size": 5,
            **fields,
        }
        return services.plan_save(actor=senior, data=data, queues=queues, analysts=analysts)

    return make
