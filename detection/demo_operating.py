"""Demo detectors with realistic score distributions and human decisions on most of their
flags, ten weeks back: a spam classifier whose precision dropped last week (a new campaign of
harmless promotions it scores high: the drift alert opens), a copyright fingerprinter, and a
hash matcher whose flags are the child-safety team's restricted work. One routing rule sends
the spam classifier's confident flags to the front, so its operating points show a threshold
in use."""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases import services as case_services
from cases.demo import _shift
from cases.intake import report_submit_batch
from cases.models import Case
from detection.services.operating import detectors_check_drift
from enforcement import services as enforcement
from enforcement.selectors import policy_sections_for_reason
from tsops.demo import step

DAYS = 70


# name: (reason, flags a day at scale 1, share that are violations, who decides)
DETECTORS = {
    "spamnet-v3": ("spam", 6, 0.65, "analyst"),
    "fingerprint": ("ip_infringement", 3, 0.55, "analyst2"),
    "hashmatch": ("child_safety", 2, 0.8, "childsafety"),
}
# Human decisions reach this share of the flags; the rest are still waiting.
DECIDED_SHARE = 0.85


def _score(rng: random.Random, violation: bool, *, campaign: bool = False) -> float:
    """Violations score high, harmless posts low; a campaign of harmless posts the classifier
    was never trained on scores nearly as high as the violations."""
    if violation:
        return round(rng.betavariate(7, 2), 3)
    return round(rng.betavariate(5, 2) if campaign else rng.betavariate(2, 4), 3)


def _last_week(today) -> tuple:
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=7)


def _day(platform, deciders, rng, detector: str, day_age: int, counter: list[int]) -> int:
    """One day of a detector's flags (one batch), decided a few hours after arrival."""
    reason, per_day, prevalence, decider = DETECTORS[detector]
    now = timezone.now()
    arrived = now - timedelta(days=day_age, hours=6, minutes=rng.randrange(300))
    week_start, week_end = _last_week(now.date())
    campaign = detector == "spamnet-v3" and week_start <= arrived.date() < week_end
    items, truths = [], []
    for _ in range(max(1, round(per_day * rng.uniform(0.6, 1.4)))):
        counter[0] += 1
        n = counter[0]
        violation = rng.random() < (0.3 if campaign else prevalence)
        truths.append(violation)
        items.append(
            {
                "source": "automated_flag",
                "external_id": f"demo-detector-{n}",
                "reason": reason,
                "detector": detector,
                "score": _score(rng, violation, campaign=campaign),
                "subject": {
                    "kind": "content",
                    "external_id": f"content-detector-{n}",
                    "owner_id": f"acct-detector-{n % 400}",
                    "text": f"Flagged post {n}",
                },
            }
        )
    with transaction.atomic():
        results = report_submit_batch(actor=platform, items=items)
        case_ids = [r.case_id for r in results]
        _shift(sorted(set(filter(None, case_ids))), [r.report_id for r in results], now - arrived)
    section = policy_sections_for_reason(reason)[0].code
    for case_id, violation in zip(case_ids, truths, strict=True):
        if case_id is None or rng.random() > DECIDED_SHARE:
            continue
        case = Case.objects.get(pk=case_id)
        if case.status != Case.Status.NEW:
            continue
        case = case_services.case_claim(actor=deciders[decider], case_id=case.pk)
        enforcement.decision_make(
            actor=deciders[decider],
            case_id=case.pk,
            version=case.version,
            outcome="violation" if violation else "no_violation",
            policy_section=section if violation else "",
            rationale="Checked against the policy." if violation else "Harmless post.",
            actions=[{"type": "remove_content"}] if violation else None,
            at=arrived + timedelta(hours=rng.uniform(0.5, 5)),
        )
    return len(items)


@step("detectors", before="metrics")
def seed_detectors(*, stdout, scale: float) -> None:
    users = get_user_model().objects
    platform = users.get(username="platform")
    deciders = {name: users.get(username=name) for name in {d[3] for d in DETECTORS.values()}}
    rng = random.Random(1717)  # noqa: S311 - reproducible demo data
    counter = [0]
    made = 0
    days = max(21, round(DAYS * min(scale, 1)))
    for day_age in range(days, -1, -1):
        for detector in DETECTORS:
            made += _day(platform, deciders, rng, detector, day_age, counter)
    # The threshold in use comes from the rule "Confident spam detector" (detection.demo).
    opened = detectors_check_drift()
    stdout.write(
        f"  detectors: {made} flags from {len(DETECTORS)} detectors over {days} days; "
        f"{opened} drift alert(s) opened\n"
    )
