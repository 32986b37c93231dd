"""Quality figures: pass rates with their 95% Wilson intervals, by analyst, queue, section
and week; the analyst sees only their own; targeted reviews stay out of the estimate."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from qa import selectors, services, stats
from qa.models import QAReview
from tests.qa.conftest import DAY, NEXT_DAY, decide
from tests.qa.test_reviews import ALL_PASS

pytestmark = pytest.mark.django_db


def test_wilson_intervals_match_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857, example 81/263: 0.2553 to 0.3662.
    low, high = stats.wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # 15/148: 0.0624 to 0.1605 (same paper).
    low, high = stats.wilson_interval(15, 148)
    assert (round(low, 4), round(high, 4)) == (0.0624, 0.1605)
    # The edges stay inside [0, 1] and are not degenerate as the Wald interval is.
    low, high = stats.wilson_interval(0, 20)
    assert low == 0 and round(high, 4) == 0.1611
    low, high = stats.wilson_interval(10, 10)
    assert round(low, 4) == 0.7225 and high == 1
    assert stats.wilson_interval(0, 0) is None


def scored_reviews(platform_account, reviewer, senior, make_plan, results):
    """One review per (analyst, passed) in ``results``, scored by ``reviewer``."""
    for offset, (analyst, _) in enumerate(results):
        decide(platform_account, analyst, at=DAY + timedelta(minutes=10 * offset))
    sample, _ = services.sample_draw(
        actor=senior, plan_id=make_plan(fixed_size=len(results)).pk, start=DAY, end=NEXT_DAY
    )
    reviews = list(sample.reviews.order_by("decision_id"))
    for review, (_, passed) in zip(reviews, results, strict=True):
        services.review_answer(actor=reviewer, review_id=review.pk, outcome="violation")
        services.review_score(
            actor=reviewer,
            review_id=review.pk,
            scores=ALL_PASS if passed else {**ALL_PASS, "correct_outcome": False},
            error_types=[] if passed else ["false_positive"],
        )
    return reviews


def test_pass_rates_by_analyst_with_intervals(
    platform_account, analyst, associate, senior, make_plan
):
    with time_machine.travel(NEXT_DAY + timedelta(hours=3)):
        scored_reviews(
            platform_account,
            senior,
            senior,
            make_plan,
            [(analyst, True), (analyst, True), (analyst, False), (associate, True)],
        )
        rates = selectors.pass_rates(actor=senior, group_by="analyst")
    rows = {row.key: row for row in rates["groups"]}
    mine = rows[analyst.pk]
    assert (mine.n, mine.passed) == (3, 2)
    assert mine.rate == pytest.approx(2 / 3)
    assert (mine.low, mine.high) == pytest.approx(stats.wilson_interval(2, 3))
    assert (rows[associate.pk].n, rows[associate.pk].passed) == (1, 1)
    assert (rates["overall"].n, rates["overall"].passed) == (4, 3)
    errors = {e["type"]: e["count"] for e in rates["errors"]}
    assert errors["false_positive"] == 1 and errors["wrong_policy"] == 0


def test_an_analyst_sees_only_their_own_rate(
    platform_account, analyst, associate, senior, make_plan
):
    scored_reviews(
        platform_account, senior, senior, make_plan, [(analyst, False), (associate, True)]
    )
    rates = selectors.pass_rates(actor=analyst, group_by="analyst")
    assert [row.key for row in rates["groups"]] == [analyst.pk]
    assert (rates["overall"].n, rates["overall"].passed) == (1, 0)


def test_targeted_reviews_are_left_out_unless_asked(platform_account, analyst, senior, make_plan):
    scored_reviews(platform_account, senior, senior, make_plan, [(analyst, True), (analyst, False)])
    QAReview.objects.filter(passed=False).update(inclusion=QAReview.Inclusion.ALWAYS_ACTION)
    assert selectors.pass_rates(actor=senior)["overall"].n == 1
    assert selectors.pass_rates(actor=senior, include_targeted=True)["overall"].n == 2


def test_an_overturned_dispute_counts_as_a_pass(platform_account, analyst, senior, make_plan):
    from tests.conftest import make_member

    review = scored_reviews(platform_account, senior, senior, make_plan, [(analyst, False)])[0]
    services.review_dispute(actor=analyst, review_id=review.pk, reason="It was fine.")
    services.review_adjudicate(
        actor=make_member("judge", "senior"), review_id=review.pk, uphold=False, notes="Agreed."
    )
    assert selectors.pass_rates(actor=senior)["overall"].passed == 1


def test_grouping_by_week_queue_and_section(platform_account, analyst, senior, make_plan):
    scored_reviews(platform_account, senior, senior, make_plan, [(analyst, True), (analyst, False)])
    by_section = selectors.pass_rates(actor=senior, group_by="policy_section")["groups"]
    assert [(row.label, row.n) for row in by_section] == [("SPAM-1.1", 2)]
    by_queue = selectors.pass_rates(actor=senior, group_by="queue")["groups"]
    assert len(by_queue) == 1 and by_queue[0].n == 2
    by_week = selectors.pass_rates(actor=senior, group_by="period")["groups"]
    assert len(by_week) == 1 and by_week[0].label.startswith("Week of ")


def test_the_pass_rates_api_and_csv(
    platform_account, analyst, senior, make_plan, api_client_for, session_client_for
):
    scored_reviews(platform_account, senior, senior, make_plan, [(analyst, True), (analyst, False)])
    client = api_client_for(senior, scopes=["qa:read"])
    response = client.get(reverse("api:qa-pass-rates"), {"group_by": "analyst"})
    assert response.status_code == 200
    body = response.json()
    assert body["overall"]["n"] == 2 and body["overall"]["pass_rate"] == 0.5
    assert body["groups"][0]["interval_low"] == pytest.approx(stats.wilson_interval(1, 2)[0])
    bad = client.get(reverse("api:qa-pass-rates"), {"from": "2026-12-01", "to": "2026-11-01"})
    assert bad.status_code == 404
    assert bad.json()["error"]["message"] == "The end is before the start."
    assert client.get(reverse("api:qa-pass-rates"), {"group_by": "mood"}).status_code == 400
    page = session_client_for(senior).get(reverse("qa:figures"), {"format": "csv"})
    assert page.status_code == 200 and page["Content-Type"].startswith("text/csv")
    assert "pass_rate" in page.content.decode()
