"""Demo data of detection: a few realistic rules (one candidate in shadow beside its live
version, one waiting for a second senior), a morning of fresh reports they looked at, and a
backtest of the candidate, so the rules pages show real figures on first start.

The other areas of detection add their own demo steps from their modules (imported below).
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from tsops.demo import step

RULES = (
    {
        "name": "Confident spam detector",
        "description": "spamnet-v3 is right 9 times in 10 above 0.9: straight to the spam queue.",
        "expression": 'report.source == "automated_flag" && report.detector == "spamnet-v3" '
        "&& report.score >= 0.9",
        "effects": [
            {"type": "route", "queue": "spam", "severity": "P3"},
            {"type": "tag", "tag": "spamnet-confident"},
        ],
        "position": 10,
        "state": "active",
    },
    {
        "name": "Scam reports on new accounts",
        "description": "Fresh accounts reported for scams are the gift-card rings' pattern.",
        "expression": 'report.reason == "scam_fraud" && account.known && account.age_days < 7',
        "effects": [
            {"type": "severity", "severity": "P2"},
            {"type": "tag", "tag": "new-account-scam"},
        ],
        "position": 20,
        "state": "active",
    },
    {
        "name": "Ban evaders reported again",
        "description": "A suspected evader reported for the same kind of abuse: look first.",
        "expression": 'account.evasion_suspect && report.reason in ["scam_fraud", "spam"]',
        "effects": [{"type": "severity", "severity": "P1"}, {"type": "tag", "tag": "evader"}],
        "position": 30,
        "state": "active",
    },
    {
        "name": "Repeat spammers with strikes",
        "description": "Accounts with strikes in force keep spamming: propose a suspension.",
        "expression": 'report.reason == "spam" && account.strikes >= 2',
        "effects": [
            {"type": "action", "action": "suspend", "duration_hours": 72, "delay_hours": 0}
        ],
        "position": 40,
        "state": "pending",
    },
)

CANDIDATE = {
    "expression": 'report.reason == "spam" && subject.kind == "content" && '
    "(report.text_length > 30 || report.score >= 0.8) && !reporter.trusted",
    "effects": [
        {"type": "route", "queue": "spam", "severity": "P3"},
        {"type": "tag", "tag": "spamnet-confident"},
        {"type": "action", "action": "remove_content", "delay_hours": 2},
    ],
    "note": "Also catch long copy-paste spam from human reports, and remove it after two hours "
    "unless someone looks.",
}


@step("rules", before="metrics")
def seed_rules(*, stdout, scale: float) -> None:
    from detection.backtest import backtest_run
    from detection.models import Rule
    from detection.services.backtests import backtest_request
    from detection.services.rules import (
        rule_activate,
        rule_create,
        rule_shadow,
        rule_version_add,
    )

    users = get_user_model().objects
    senior, senior2 = users.get(username="senior"), users.get(username="senior2")
    created = {}
    for spec in RULES:
        if Rule.objects.filter(name=spec["name"]).exists():
            continue
        rule = rule_create(
            actor=senior,
            name=spec["name"],
            description=spec["description"],
            expression=spec["expression"],
            effects=spec["effects"],
            position=spec["position"],
            note="Written from last quarter's cases.",
        )
        created[spec["name"]] = rule
        if spec["state"] in ("active", "pending"):
            _, activated = rule_activate(actor=senior, rule_id=rule.pk, version=1)
            if not activated and spec["state"] == "active":
                # A version with actions: the second senior confirms.
                rule_activate(actor=senior2, rule_id=rule.pk, version=1)
    confident = created.get("Confident spam detector")
    if confident is None:
        return
    rule_version_add(actor=senior, rule_id=confident.pk, based_on=1, **CANDIDATE)
    rule_shadow(actor=senior, rule_id=confident.pk, version=2)
    fresh = _morning_of_reports(scale)
    now = timezone.now()
    backtest = backtest_request(
        actor=senior,
        rule_id=confident.pk,
        version=2,
        period_from=now - timedelta(days=30),
        period_to=now,
    )
    backtest_run(backtest.pk)
    backtest.refresh_from_db()
    side = backtest.results.get("sides", {}).get("candidate", {})
    stdout.write(
        f"  rules: {len(created)} rules (one candidate in shadow, one awaiting a second senior), "
        f"{fresh} fresh reports evaluated; backtest of the candidate: {side.get('matches', 0)} "
        f"matches over 30 days, precision {side.get('precision')}\n"
    )


def _morning_of_reports(scale: float) -> int:
    """Fresh reports through intake, so live and shadow rules have matched something."""
    from cases.intake import report_submit_batch

    platform = get_user_model().objects.get(username="platform")
    rng = random.Random(1717)  # noqa: S311 - reproducible demo data
    count = max(20, round(80 * min(scale, 1)))
    items = []
    for n in range(count):
        spam = rng.random() < 0.6
        automated = rng.random() < 0.5
        item = {
            "source": "automated_flag" if automated else "user_report",
            "external_id": f"demo-rules-{n}",
            "reason": "spam" if spam else "scam_fraud",
            "description": "" if automated else "Keeps posting this everywhere",
            "reporter_id": "" if automated else f"user-{rng.randrange(3000)}",
            "subject": {
                "kind": "content",
                "external_id": f"post-rules-{n}",
                "owner_id": f"acct-rules-{rng.randrange(40)}",
                "text": rng.choice(
                    [
                        "Earn $500 a day from home, message me on the other app for details!!",
                        "Free followers, click my bio link now before it is gone",
                        "Selling gift cards at 40% off, DM me",
                        "nice",
                    ]
                ),
            },
        }
        if automated:
            item["detector"] = "spamnet-v3" if spam else "classifier-v2"
            item["score"] = round(rng.uniform(0.6, 0.99), 3)
        items.append(item)
    report_submit_batch(actor=platform, items=items)
    return count


# The other areas of detection: steps they register themselves, and two registered here.
from detection import demo_operating, demo_reputation  # noqa: E402, F401
from detection.demo_alerts import seed_alerts  # noqa: E402
from detection.demo_labels import seed_labels  # noqa: E402

step("labelled data", before="metrics")(seed_labels)
# Last before the rollups: the anomaly episode is judged against everything seeded before.
step("alerts", before="metrics")(seed_alerts)
