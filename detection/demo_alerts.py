"""Demo anomaly episode: a quiet month of impersonation reports on profiles, then a burst in
the last complete hour (a copycat campaign), so that the alerts page shows one open alert on
first start. The volume check runs at the end, as beat would.

Registered by the detection demo as ``step("alerts", before="metrics")(seed_alerts)``."""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model

from cases.intake import report_submit_batch
from cases.models import Report
from detection.anomaly import WEEK, last_complete_hour, volume_check

REASON = "impersonation"
BASELINE = (2, 1, 3, 2)  # reports in the same hour of each past week
BURST = 26
BRANDS = ("Nordbank", "CityRail", "Lumen Mobile", "Helios Energy")


def _reports(platform, rng: random.Random, count: int, tag: str) -> list[int]:
    items = []
    for n in range(count):
        brand = rng.choice(BRANDS)
        items.append(
            {
                "source": "user_report",
                "external_id": f"demo-alert-{tag}-{n}",
                "reason": REASON,
                "description": f"This profile pretends to be {brand} support and asks for logins.",
                "reporter_id": f"demo-alert-reporter-{tag}-{n}",
                "subject": {
                    "kind": "profile",
                    "external_id": f"{brand.lower().replace(' ', '')}-help-{tag}-{n}",
                    "owner_id": f"demo-alert-acct-{tag}-{n}",
                    "text": f"Official {brand} help desk. DM us your account number.",
                },
            }
        )
    results = report_submit_batch(actor=platform, items=items)
    return [result.report_id for result in results if result.report_id]


def seed_alerts(*, stdout, scale: float = 1.0) -> None:
    platform = get_user_model().objects.get(username="platform")
    rng = random.Random(1717)  # noqa: S311 - reproducible demo data
    hour = last_complete_hour()
    # Intake stamps reports "now"; the demo moves each into the hour it stands for.
    for weeks_ago, count in enumerate(BASELINE, start=1):
        ids = _reports(platform, rng, count, f"w{weeks_ago}")
        for minute, report_id in enumerate(ids):
            Report.objects.filter(pk=report_id).update(
                received_at=hour - weeks_ago * WEEK + timedelta(minutes=7 + minute * 11)
            )
    burst = max(12, round(BURST * min(scale, 1)))
    ids = _reports(platform, rng, burst, "burst")
    for n, report_id in enumerate(ids):
        Report.objects.filter(pk=report_id).update(
            received_at=hour + timedelta(minutes=(n * 59) // max(1, len(ids)))
        )
    result = volume_check(hour=hour)
    opened = len(result.opened) if result else 0
    stdout.write(
        f"  alerts: {burst} impersonation reports in the last hour over a baseline of "
        f"{sum(BASELINE)} in four weeks; volume check opened {opened} alert(s)\n"
    )
