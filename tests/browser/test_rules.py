"""Rules in headless Chromium at 1440x900 (issue 17's browser acceptance): a senior opens a live
spam rule, writes a new version with a type error and reads the error beside the condition,
fixes it (a narrower condition, and a delayed automated removal), backtests it against the
live version and reads the figures side by side, puts it in shadow, then asks to activate it:
a second senior confirms and the new version is live. axe-core finds no serious violation on
the pages on the way. The rule list and the "Write a rule" page open for a senior; an analyst
gets 403. Screenshots in /tmp/shots/rules-*.png."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import Case
from cases.services import case_claim
from detection.backtest import backtest_run
from detection.models import Backtest, Rule
from detection.services.rules import rule_activate, rule_create
from enforcement import services as enforcement
from tests.browser.axe import assert_no_serious_violations, install_axe
from tests.browser.conftest import PASSWORD
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
WIDE = {"width": 1440, "height": 900}
FIXED_CONDITION = 'report.reason == "spam" && subject.kind == "content"'
DELAYED_REMOVAL = '[{"type": "action", "action": "remove_content", "delay_hours": 2}]'


def _report(platform, key: str, *, kind: str = "content", days_ago: int = 3) -> Case:
    subject = (
        {
            "kind": "content",
            "external_id": f"post-rules-{key}",
            "owner_id": f"acct-rules-{key}",
            "text": "Buy 10k followers today, link in bio",
        }
        if kind == "content"
        else {"kind": "account", "external_id": f"acct-rules-{key}"}
    )
    return make_case(
        platform,
        reason="spam",
        subject=subject,
        external_id=f"rules-{key}",
        received_at=(timezone.now() - timedelta(days=days_ago)).isoformat(),
    )


def _decide(analyst, case: Case, outcome: str) -> None:
    claimed = case_claim(actor=analyst, case_id=case.pk)
    violation = outcome == "violation"
    enforcement.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=claimed.version,
        outcome=outcome,
        policy_section="SPAM-1.1" if violation else "",
        rationale="Checked against the spam policy.",
        actions=(
            [{"type": "remove_content" if case.subject.kind == "content" else "warn"}]
            if violation
            else None
        ),
    )


@pytest.fixture
def live_rule(live_server) -> Rule:
    """A live tag rule on spam (no automated action: one senior makes it live), and a week of
    spam reports, most of them decided by a human."""
    platform = make_member("platform_svc", roles.PLATFORM)
    analyst = make_member("noor_analyst", roles.ANALYST)
    senior = make_member("grace_senior", roles.SENIOR)
    make_member("ines_senior", roles.SENIOR)
    rule = rule_create(
        actor=senior,
        name="Spam gets a look",
        expression='report.reason == "spam"',
        effects=[{"type": "tag", "tag": "spam-look"}],
        note="Tag every spam report for the morning sweep.",
        description="Tags spam reports so the sweep finds them.",
    )
    _, activated = rule_activate(actor=senior, rule_id=rule.pk, version=1)
    assert activated
    cases = {
        "c1": _report(platform, "c1", days_ago=6),
        "c2": _report(platform, "c2", days_ago=5),
        "c3": _report(platform, "c3", days_ago=4),
        "c4": _report(platform, "c4", days_ago=2),
        "c5": _report(platform, "c5", days_ago=1),
        "a1": _report(platform, "a1", kind="account", days_ago=3),
    }
    # Content spam: three violations, one not; c5 undecided. The account report: a violation.
    for key, outcome in (
        ("c1", "violation"),
        ("c2", "violation"),
        ("c3", "no_violation"),
        ("c4", "violation"),
        ("a1", "violation"),
    ):
        _decide(analyst, cases[key], outcome)
    rule.refresh_from_db()
    return rule


def _context(browser, live_server, username: str):
    context = browser.new_context(base_url=live_server.url, viewport=WIDE)
    install_axe(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" not in page.url, f"{username} could not sign in"
    return context, page


def _shot(page, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"rules-{name}.png"), full_page=full_page)


def _run_backtest(backtest_id: int) -> None:
    """The backtest's job, run here as the worker would (the same function)."""
    try:
        backtest_run(backtest_id)
    finally:
        connection.close()


def test_a_senior_rewrites_a_live_rule_backtests_shadows_and_activates_it_with_a_second_senior(
    browser, live_server, live_rule
):
    senior_context, senior = _context(browser, live_server, "grace_senior")
    errors: list[str] = []
    senior.on("pageerror", lambda error: errors.append(str(error)))

    # The list of rules: the live rule, one click to its page.
    response = senior.goto("/detection/rules/")
    assert response.status == 200
    table = senior.get_by_test_id("rule-table")
    expect(table).to_contain_text("Spam gets a look")
    assert_no_serious_violations(senior, "rule list")
    _shot(senior, "list")
    table.get_by_role("link", name="Spam gets a look").click()
    senior.wait_for_url(f"**/detection/rules/{live_rule.pk}/")
    expect(senior.get_by_test_id("rule-state")).to_have_text("Active")
    expect(senior.locator("tr[data-version='1']")).to_contain_text("live")

    # A new version compares a reason (a string) with a number: refused, the error beside
    # the condition names the problem, the text typed is kept, nothing is saved.
    form = senior.get_by_test_id("version-form")
    form.get_by_label("Condition (CEL)").fill("report.reason > 3")
    form.get_by_label("Why this version").fill("Only posts, and remove them after two hours.")
    with senior.expect_navigation() as navigation:
        senior.get_by_test_id("save-version").click()
    assert navigation.value.status == 400
    # The answer opens at the form, its error in view (not below the fold of the rule page).
    assert senior.url.endswith("#new-version"), senior.url
    expression_errors = senior.get_by_test_id("expression-errors")
    expect(expression_errors).to_be_in_viewport()
    expect(expression_errors).to_contain_text("Type error")
    expect(expression_errors).to_contain_text(re.compile(r">.*string and int"))
    condition = senior.get_by_label("Condition (CEL)")
    expect(condition).to_have_value("report.reason > 3")
    expect(condition).to_have_attribute("aria-invalid", "true")
    expect(condition).to_have_attribute("aria-describedby", "expression-errors")
    assert live_rule.versions.count() == 1
    assert_no_serious_violations(senior, "rule page with a type error")
    SHOTS.mkdir(parents=True, exist_ok=True)
    senior.screenshot(path=str(SHOTS / "rules-type-error.png"))  # as the analyst sees it

    # Fixed: content spam only, removed after two hours unless a human steps in.
    condition.fill(FIXED_CONDITION)
    senior.get_by_label("Effects (JSON)").fill(DELAYED_REMOVAL)
    with senior.expect_navigation():
        senior.get_by_test_id("save-version").click()
    senior.wait_for_url(f"**/detection/rules/{live_rule.pk}/#backtest")
    expect(senior.locator("tr[data-version='2']")).to_contain_text(FIXED_CONDITION)
    expect(senior.locator("tr[data-version='2']")).to_contain_text("remove_content")
    version = live_rule.versions.get(number=2)
    assert version.expression == FIXED_CONDITION and version.has_actions
    assert version.created_by.username == "grace_senior"

    # The backtest form tests the newest version against the live one (v1) by default.
    backtest_form = senior.get_by_test_id("backtest-form")
    expect(backtest_form.locator("select[name=version]")).to_have_value("2")
    compare_with = backtest_form.locator("select[name=compare_version]")
    expect(compare_with).to_have_value(str(live_rule.active_version.number))
    with senior.expect_navigation():
        senior.get_by_test_id("run-backtest").click()
    senior.wait_for_url("**/detection/backtests/*/")
    backtest = Backtest.objects.get(rule=live_rule)
    assert (backtest.version.number, backtest.compare_version.number) == (2, 1)
    expect(senior.get_by_test_id("backtest-status")).to_have_text(re.compile("queued|running"))
    expect(senior.get_by_test_id("backtest-progress")).to_be_attached()

    # The worker replays the week; the page, refreshing itself, shows the figures.
    _run_backtest(backtest.pk)
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.DONE, backtest.error
    expect(senior.get_by_test_id("backtest-status")).to_have_text("done", timeout=15_000)
    figures = senior.get_by_test_id("backtest-figures")
    expect(figures).to_be_visible()
    expect(figures.locator("thead")).to_contain_text("v2 (tested)")
    expect(figures.locator("thead")).to_contain_text("v1 (compared)")
    # v2: the five content reports; four decided, three violations → 75 %; recall 3 of the
    # 4 confirmed spam reports (it misses the account). v1: all six; 4 of 5 → 80 %, recall 100 %.
    expect(senior.get_by_test_id("matches-candidate")).to_contain_text("5")
    expect(senior.get_by_test_id("matches-compare")).to_contain_text("6")
    expect(senior.get_by_test_id("precision-candidate")).to_contain_text("75%")
    expect(senior.get_by_test_id("precision-compare")).to_contain_text("80%")
    expect(senior.get_by_test_id("recall-candidate")).to_contain_text("75%")
    expect(senior.get_by_test_id("recall-compare")).to_contain_text("100%")
    expect(senior.get_by_test_id("backtest-overlap")).to_contain_text("Only the compared version")
    assert_no_serious_violations(senior, "backtest results")
    _shot(senior, "backtest", full_page=True)

    # Back on the rule page: shadow the new version beside the live one.
    senior.get_by_role("link", name="Back to the rule").click()
    senior.wait_for_url(f"**/detection/rules/{live_rule.pk}/**")
    expect(senior.get_by_test_id("backtest-list")).to_contain_text("v2 vs v1")
    with senior.expect_navigation():
        senior.get_by_test_id("shadow-v2").click()
    expect(senior.locator("tr[data-version='2']")).to_contain_text("shadow")
    expect(senior.get_by_test_id("shadow-report")).to_contain_text("v2")
    expect(senior.get_by_test_id("rule-state")).to_have_text("Active")
    live_rule.refresh_from_db()
    assert live_rule.shadow_version.number == 2 and live_rule.active_version.number == 1

    # Activating it: the version removes content, so a second senior must confirm.
    with senior.expect_navigation():
        senior.get_by_test_id("activate-v2").click()
    expect(senior.locator(".messages")).to_contain_text(
        "a second senior must confirm the activation"
    )
    pending = senior.get_by_test_id("rule-pending")
    expect(pending).to_contain_text("Activation of version 2 awaits a second senior")
    expect(pending).to_contain_text("another senior confirms")
    expect(pending.get_by_test_id("rule-confirm-activation")).to_have_count(0)
    live_rule.refresh_from_db()
    assert live_rule.active_version.number == 1 and live_rule.pending_version.number == 2
    assert_no_serious_violations(senior, "rule page awaiting a second senior")
    _shot(senior, "pending")

    # The second senior signs in, opens the rule and confirms.
    second_context, second = _context(browser, live_server, "ines_senior")
    second.goto(f"/detection/rules/{live_rule.pk}/")
    confirm = second.get_by_test_id("rule-confirm-activation")
    expect(confirm).to_have_text("Confirm activation of version 2")
    with second.expect_navigation():
        confirm.click()
    expect(second.get_by_test_id("rule-pending")).to_have_count(0)
    expect(second.get_by_test_id("rule-state")).to_have_text("Active")
    expect(second.get_by_test_id("rule-matches")).to_contain_text("v2")
    row = second.locator("tr[data-version='2']")
    expect(row).to_contain_text("live")
    expect(row).not_to_contain_text("shadow")
    expect(second.locator("tr[data-version='1']")).not_to_contain_text("live")
    assert_no_serious_violations(second, "rule page after activation")
    _shot(second, "activated", full_page=True)
    live_rule.refresh_from_db()
    assert live_rule.state == Rule.State.ACTIVE
    assert live_rule.active_version.number == 2 and live_rule.shadow_version is None
    assert live_rule.pending_version is None

    # The first senior sees the same state.
    senior.reload()
    expect(senior.get_by_test_id("rule-matches")).to_contain_text("v2")
    expect(senior.get_by_test_id("rule-pending")).to_have_count(0)
    assert not errors, errors
    second_context.close()
    senior_context.close()


def test_the_rule_list_and_the_rule_form_open_for_a_senior_and_an_analyst_gets_403(
    browser, live_server, live_rule
):
    senior_context, senior = _context(browser, live_server, "grace_senior")
    senior.goto("/detection/rules/")
    senior.get_by_test_id("new-rule").click()
    senior.wait_for_url("**/detection/rules/new/")
    form = senior.get_by_test_id("rule-form")
    expect(form).to_be_visible()
    expect(form.get_by_label("Condition (CEL)")).to_be_visible()
    expect(senior.locator("body")).to_contain_text("report.reason")
    assert_no_serious_violations(senior, "write a rule")
    _shot(senior, "new")
    senior_context.close()

    analyst_context, analyst = _context(browser, live_server, "noor_analyst")
    for path in ("/detection/rules/", "/detection/rules/new/", f"/detection/rules/{live_rule.pk}/"):
        response = analyst.goto(path)
        assert response.status == 403, (path, response.status)
    analyst_context.close()
