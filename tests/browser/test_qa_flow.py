"""QA in headless Chromium: a senior sets up a sampling plan and runs the draw; a reviewer
works the sampled decision blind, reveals and scores it; the analyst reads the feedback and
disputes it; a second senior adjudicates the dispute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from cases import services as case_services
from cases.intake import report_submit
from cases.models import Case
from enforcement import services as enforcement
from qa.models import QAReview
from qa.setup import install_default_rubric
from tests.browser.conftest import login, screenshot
from tests.browser.test_appeal_flow import click_and_wait, console_errors, sign_out
from tests.conftest import make_member
from tsops import roles

pytestmark = pytest.mark.browser

RATIONALE = "INTERNAL: <b>same</b> shop link posted 40 times in one hour"
REVIEW_NOTES = "The 40 posts were a scheduler bug; one post a day is not spam."
DISPUTE = "The scheduler bug was the user's own tool: still 40 posts in an hour."
ADJUDICATION = "The policy counts posts, not intent: the decision stands as correct."


@pytest.fixture
def decided_yesterday():
    """noor_analyst removed a post for spam yesterday (the plan's previous period)."""
    install_default_rubric(apps)
    platform = make_member("platform_svc", roles.PLATFORM)
    decider = make_member("noor_analyst", roles.ANALYST)
    make_member("mateo_analyst", roles.ANALYST)
    make_member("grace_senior", roles.SENIOR)
    make_member("priya_senior", roles.SENIOR)
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": "r-bakery",
            "reason": "spam",
            "description": "keeps posting the same link",
            "reporter_id": "reporter-jane-77",
            "subject": {
                "kind": "content",
                "external_id": "post-bakery-1",
                "owner_id": "acct-bakery",
                "text": "Fresh sourdough today at bakery.example/shop",
            },
        },
    )
    case = case_services.case_claim(actor=decider, case_id=Case.objects.get(pk=result.case_id).pk)
    yesterday = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(
        days=1
    )
    return enforcement.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=[{"type": "remove_content"}],
        at=yesterday,
    )


def open_nav(page, name: str, label: str) -> None:
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
    page.wait_for_load_state("load")
    screenshot(page, label)


def test_plan_draw_blind_review_dispute_and_adjudication(
    page, live_server, decided_yesterday, console_messages
):
    decision = decided_yesterday

    # A senior sets up a plan and draws yesterday's sample.
    login(page, live_server, "grace_senior")
    open_nav(page, "QA", "qa-home-senior")
    click_and_wait(page, page.get_by_role("link", name="New plan"), "plan-new")
    page.get_by_label("Name").fill("Daily spam sample")
    page.get_by_label("Fixed size").fill("5")
    page.get_by_label("Stratify by").select_option("analyst")
    click_and_wait(page, page.get_by_role("button", name="Save plan"), "plan-saved")
    assert page.get_by_test_id("plan-population").inner_text() == "1"
    assert page.get_by_test_id("plan-n").inner_text().startswith("1")
    click_and_wait(page, page.get_by_test_id("plan-draw"), "sample")
    review = QAReview.objects.get()
    assert review.decision_id == decision.pk and review.inclusion == "random"
    assert "noor_analyst" in page.get_by_test_id("sample-reviews").inner_text()
    sign_out(page)

    # A reviewer takes it from the QA page and works it blind.
    login(page, live_server, "mateo_analyst")
    open_nav(page, "QA", "qa-home-reviewer")
    click_and_wait(page, page.get_by_test_id("qa-next").first, "review-blind")
    assert page.get_by_test_id("blind-banner").is_visible()
    assert "shop link posted 40 times" not in page.content()
    assert page.get_by_test_id("original-decision").count() == 0
    assert "Fresh sourdough" in page.get_by_test_id("snapshot").inner_text()
    form = page.get_by_test_id("answer-form")
    form.get_by_label("No violation").check()
    form.get_by_label("Notes").fill("Looks like a small shop's own link.")
    click_and_wait(
        page, page.get_by_role("button", name="Record answer and reveal the decision"), "revealed"
    )
    original = page.get_by_test_id("original-decision")
    # The decision is shown now, its rationale as text (markup escaped, not rendered).
    assert RATIONALE in original.inner_text()
    assert "you answered No violation" in original.inner_text()
    score = page.get_by_test_id("score-form")
    for criterion in ("correct_outcome", "correct_policy_section", "proportionate_action"):
        verdict = "Fail" if criterion == "correct_outcome" else "Pass"
        score.locator(f"[data-criterion=criterion_{criterion}]").get_by_label(verdict).check()
    for criterion in ("evidence_complete", "rationale_clear"):
        score.locator(f"[data-criterion=criterion_{criterion}]").get_by_label("Pass").check()
    score.get_by_label("False positive").check()
    score.get_by_label("Notes to the analyst").fill(REVIEW_NOTES)
    screenshot(page, "score-filled")
    click_and_wait(page, page.get_by_role("button", name="Save score"), "scored")
    assert page.get_by_test_id("review-verdict").inner_text() == "fail 60%"
    sign_out(page)

    # The analyst finds the feedback and disputes it.
    login(page, live_server, "noor_analyst")
    open_nav(page, "QA", "qa-home-analyst")
    click_and_wait(
        page,
        page.get_by_test_id("qa-my-feedback").get_by_role("link", name=f"Case #{decision.case_id}"),
        "feedback",
    )
    assert page.get_by_test_id("reviewer-notes").inner_text() == REVIEW_NOTES
    page.get_by_label("Dispute, with your reason").fill(DISPUTE)
    click_and_wait(page, page.get_by_role("button", name="Dispute"), "disputed")
    assert page.get_by_test_id("review-feedback").inner_text() == "Disputed"
    sign_out(page)

    # A second senior (not the reviewer, not the analyst) adjudicates.
    login(page, live_server, "priya_senior")
    open_nav(page, "QA", "qa-home-judge")
    click_and_wait(
        page,
        page.get_by_test_id("qa-disputes").get_by_role("link", name=f"QA review #{review.pk}"),
        "dispute",
    )
    assert page.get_by_test_id("dispute-reason").inner_text() == DISPUTE
    form = page.get_by_test_id("adjudicate-form")
    form.get_by_label("Overturn the review (the decision passes)").check()
    form.get_by_label("Reasons (final, shown to both)").fill(ADJUDICATION)
    click_and_wait(page, page.get_by_role("button", name="Record adjudication"), "adjudicated")
    assert "Dispute accepted" in page.get_by_test_id("review-feedback").inner_text()
    review.refresh_from_db()
    assert (review.feedback, review.passed, review.adjudicated_by.username) == (
        "overturned",
        True,
        "priya_senior",
    )
    assert console_errors(console_messages) == []
