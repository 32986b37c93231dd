from __future__ import annotations

import pytest

from escalations import services
from tests.factories import make_case


@pytest.fixture
def threat_case(platform_account):
    """An ordinary harassment case with a threat in it (unrestricted until escalated)."""
    return make_case(
        platform_account,
        reason="harassment",
        subject={
            "kind": "content",
            "external_id": "post-threat",
            "owner_id": "acct-threat",
            "text": "meet me at the station tomorrow zebra",
        },
    )


@pytest.fixture
def raise_threat(analyst, threat_case):
    """``raise_threat(**overrides)`` -> the threat case escalated to threats by the analyst."""

    def build(**overrides):
        values = {
            "team": "threats",
            "severity": "P1",
            "summary": "Specific place and time named.",
            "criteria": "Credible threat: target, place, time.",
            "next_steps": "Assess and consider law-enforcement referral.",
        }
        values.update(overrides)
        return services.escalation_raise(actor=analyst, case_id=threat_case.pk, **values)

    return build
