"""Demo reporters: a mass-flagger whose many spam flags were decided no violation (and whose
latest flood is still open), a trusted flagger whose notices were confirmed, made through the
real intake and decision services; reputation is then recomputed as the beat job would."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from cases.intake import report_submit_batch
from cases.models import Case
from detection.reputation import reputation_recompute
from enforcement import services as enforcement
from tsops.demo import step

MASS_FLAGGER = "acct-demo-massflagger"
TRUSTED_FLAGGER = "ngo-demo-hotline"


def _report(platform, reporter: str, source: str, n: int, reason: str, text: str) -> list:
    return report_submit_batch(
        actor=platform,
        items=[
            {
                "source": source,
                "external_id": f"demo-rep-{reporter}-{n}",
                "reason": reason,
                "description": text,
                "reporter_id": reporter,
                "subject": {
                    "kind": "content",
                    "external_id": f"post-demo-rep-{reporter}-{n}",
                    "owner_id": f"acct-demo-rep-{n % 7}",
                    "text": text,
                },
            }
        ],
    )


def _decide(senior, case_id: int, violation: bool) -> None:
    case = Case.objects.get(pk=case_id)
    enforcement.decision_make(
        actor=senior,
        case_id=case.pk,
        version=case.version,
        outcome="violation" if violation else "no_violation",
        policy_section="SPAM-1.1" if violation else "",
        rationale="Read the reported post." if violation else "Ordinary post, nothing wrong.",
        actions=[{"type": "remove_content"}] if violation else [],
    )


@step("reporter reputation", before="metrics")
def seed_reputation(*, stdout, scale: float) -> None:
    users = get_user_model().objects
    platform, senior = users.get(username="platform"), users.get(username="senior")
    decided = max(6, round(12 * min(scale, 1)))
    for n in range(decided):
        (result,) = _report(
            platform, MASS_FLAGGER, "user_report", n, "spam", "Holiday photos from the lake"
        )
        _decide(senior, result.case_id, violation=False)
    for n in range(decided, decided + max(4, round(8 * min(scale, 1)))):
        _report(platform, MASS_FLAGGER, "user_report", n, "spam", "My cat sleeping on a chair")
    for n in range(4):
        (result,) = _report(
            platform,
            TRUSTED_FLAGGER,
            "trusted_flagger",
            n,
            "spam",
            "Fake giveaway: claim your free phone at a lookalike shop site",
        )
        _decide(senior, result.case_id, violation=True)
    _report(platform, TRUSTED_FLAGGER, "trusted_flagger", 4, "spam", "Another fake giveaway")
    written = reputation_recompute()
    stdout.write(f"  reporters with a record: {written}")
