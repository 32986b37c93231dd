"""The operations dashboard in headless Chromium: a senior lead opens it, reads the live queues
(a breached count drills down to the queue page), narrows the period and then the queue and
sees the charts drawn again from the new figures, opens a KPI's definition, and downloads the
figures as CSV.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from enforcement import services as enforcement
from metrics import rollups
from tests.browser.conftest import login, screenshot, visit
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.browser

# A chart's state, read from Chart.js itself: its labels and each dataset's key and values.
CHART_STATE = """id => {
  const canvas = document.getElementById(id);
  const chart = canvas && window.Chart.getChart(canvas);
  if (!chart) return null;
  return {
    labels: chart.data.labels,
    range: canvas.dataset.range,
    datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data})),
  };
}"""
VOLUME_CHART = "chart-volume-cases"


@pytest.fixture
def operation():
    """Ten days of work: spam and scams decided by an analyst, a spam case left past its
    deadline, a child-safety case only its team sees; rolled up the way the beat does."""
    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = make_member("noor_analyst", roles.ANALYST)
    make_member("grace_senior", roles.SENIOR)
    now = timezone.now()
    opened: dict[str, list] = {"spam": [], "scam_fraud": []}
    for days_ago in range(10):
        with time_machine.travel(now - timedelta(days=days_ago, hours=3), tick=False):
            reasons = ["spam"] * (1 + days_ago % 3) + ["scam_fraud"] * (days_ago % 2)
            for reason in reasons:
                case = make_case(platform, reason=reason)
                opened[reason].append(timezone.localdate(case.created_at))
                case_services.case_claim(actor=analyst, case_id=case.pk)
                enforcement.decision_make(
                    actor=analyst,
                    case_id=case.pk,
                    outcome="violation",
                    policy_section="SPAM-1.1" if reason == "spam" else "FRAUD-2.1",
                    rationale="Matches the policy.",
                    actions=[{"type": "remove_content" if reason == "spam" else "warn"}],
                )
    with time_machine.travel(now - timedelta(hours=30), tick=False):
        breached = make_case(platform, reason="spam")
        opened["spam"].append(timezone.localdate(breached.created_at))
        make_case(platform, reason="child_safety")
    rollups.rebuild_range(timezone.localdate() - timedelta(days=40), timezone.localdate())
    return breached, opened


def chart_state(page, chart_id: str) -> dict | None:
    return page.evaluate(CHART_STATE, chart_id)


def dataset(state: dict, label: str) -> list:
    return next(d["data"] for d in state["datasets"] if d["label"] == label)


def console_errors(console_messages) -> list:
    return [
        (m.text[:80], m.location.get("url", ""))
        for m in console_messages
        if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
    ]


def test_a_lead_reads_the_dashboard_narrows_it_opens_a_definition_and_downloads_csv(
    page, live_server, operation, console_messages
):
    breached_case, opened = operation
    today = timezone.localdate()

    def opened_since(days: int, reasons=("spam", "scam_fraud")) -> int:
        start = today - timedelta(days=days - 1)
        return sum(1 for r in reasons for day in opened[r] if day >= start)

    login(page, live_server, "grace_senior")
    nav = page.get_by_role("navigation", name="Main")
    nav.locator("summary", has_text="Insights").click()
    nav.get_by_role("link", name="Metrics").click()
    page.wait_for_load_state("load")
    live = page.get_by_test_id("live-table")
    live.wait_for()
    screenshot(page, "dashboard-30-days")

    # Live operations: the breached spam case, computed from its deadline; no restricted queue.
    spam_row = live.locator('tr[data-queue="spam"]')
    assert spam_row.get_by_test_id("breached").inner_text() == "1"
    assert live.locator('tr[data-queue="child-safety"]').count() == 0

    # The default period: thirty days, one point per day, drawn by Chart.js.
    first = chart_state(page, VOLUME_CHART)
    assert len(first["labels"]) == 30 and first["labels"][-1] == today.isoformat()
    # Every case opened in the period but the child-safety one, which only its team counts.
    assert sum(v or 0 for v in dataset(first, "Cases opened")) == opened_since(30) == 25

    # A shorter period: the page comes back with seven days, and the charts are drawn again.
    with page.expect_navigation():
        page.get_by_test_id("preset-7").click()
    page.wait_for_load_state("load")
    screenshot(page, "dashboard-7-days")
    week = chart_state(page, VOLUME_CHART)
    assert len(week["labels"]) == 7 and week["range"].endswith(today.isoformat())
    assert week["range"] == f"{(today - timedelta(days=6)).isoformat()}/{today.isoformat()}"
    assert sum(v or 0 for v in dataset(week, "Cases opened")) == opened_since(7)

    # The scams queue only: the same charts, drawn from that queue's figures.
    page.get_by_label("Queue").select_option("fraud")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("load")
    page.get_by_test_id("live-table").wait_for()
    screenshot(page, "dashboard-fraud-queue")
    assert "queue=fraud" in page.url
    fraud = chart_state(page, VOLUME_CHART)
    assert len(fraud["labels"]) == 7
    scams_this_week = opened_since(7, ("scam_fraud",))
    assert scams_this_week > 0
    assert sum(v or 0 for v in dataset(fraud, "Cases opened")) == scams_this_week
    assert page.get_by_test_id("live-row").count() == 1

    # A figure's definition, beside it.
    card = page.locator('[data-kpi="time_to_first_action_p50"]')
    definition = card.get_by_test_id("definition")
    assert not definition.locator("dl").is_visible()
    definition.locator("summary").click()
    assert definition.locator("dl").is_visible()
    assert "Median time from a case being opened" in definition.inner_text()
    assert "Numerator" in definition.inner_text() and "Changelog" in definition.inner_text()
    screenshot(page, "definition-open")

    # The figures as CSV, for the period and queue on screen.
    page.get_by_test_id("csv-exports").locator("summary").click()
    with page.expect_download() as download_info:
        page.get_by_test_id("csv-kpis").click()
    download = download_info.value
    assert download.suggested_filename.startswith("tsops-dashboard-kpis-")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:4] == ["kpi", "name", "group", "value"]
    created = next(r for r in rows if r[0] == "cases_created")
    assert created[3] == str(scams_this_week)
    export = AccessLog.objects.get(action=AccessLog.Action.EXPORTED)
    assert export.actor_username == "grace_senior" and export.detail["filters"]["queue"] == "fraud"

    # Back to every queue: the breached count leads to the queue page, filtered.
    visit(page, reverse("metrics:dashboard"), "dashboard-all-queues")
    link = page.get_by_test_id("live-table").locator(
        'tr[data-queue="spam"] [data-testid=breached] a'
    )
    with page.expect_navigation():
        link.click()
    page.wait_for_load_state("load")
    screenshot(page, "breached-drill-down")
    assert page.url.endswith(
        reverse("cases:queue-detail", args=["spam"]) + "?status=open&breached=on"
    )
    assert f'data-case-id="{breached_case.pk}"' in page.content()
    assert console_errors(console_messages) == []
