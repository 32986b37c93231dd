"""Sampling plans: sizes, stratification, always-include rules, reproducible and idempotent
draws over real decisions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from qa import services, stats
from qa.models import QAReview, Sample, SamplingPlan
from tests.conftest import make_member
from tests.qa.conftest import DAY, NEXT_DAY, decide

pytestmark = pytest.mark.django_db


def draw(plan, actor, **kwargs):
    return services.sample_draw(actor=actor, plan_id=plan.pk, start=DAY, end=NEXT_DAY, **kwargs)


def test_sample_size_matches_the_textbook_values():
    # 95% confidence, ±5 points, p = 0.5, a large population: the classic 385.
    assert stats.sample_size(confidence=0.95, margin=0.05, p=0.5) == 385
    assert stats.sample_size(confidence=0.99, margin=0.05, p=0.5) == 664
    assert stats.sample_size(confidence=0.95, margin=0.03, p=0.5) == 1068
    assert stats.sample_size(confidence=0.95, margin=0.05, p=0.2) == 246


def test_the_finite_population_correction_shrinks_small_periods():
    # n0 = 384.15; n = n0 / (1 + (n0 - 1) / N).
    assert stats.sample_size(confidence=0.95, margin=0.05, population=1000) == 278
    assert stats.sample_size(confidence=0.95, margin=0.05, population=500) == 218
    assert stats.sample_size(confidence=0.95, margin=0.05, population=100) == 80
    # Never more than the population, and nothing to draw from nothing.
    assert stats.sample_size(confidence=0.95, margin=0.05, population=10) == 10
    assert stats.sample_size(confidence=0.95, margin=0.05, population=0) == 0


def test_a_margin_plan_computes_its_n_from_the_population(make_plan):
    plan = make_plan(size_mode=SamplingPlan.SizeMode.MARGIN, confidence=0.95, margin=0.05)
    assert services.plan_target_size(plan, None) == 385
    assert services.plan_target_size(plan, 1000) == 278


def test_allocation_is_proportional_and_sums_to_the_total():
    assert stats.allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    allocation = stats.allocate({"a": 7, "b": 7, "c": 7}, 10)
    assert (
        sum(allocation.values()) == 10 and max(allocation.values()) - min(allocation.values()) <= 1
    )
    # A stratum never gets more than it holds.
    assert stats.allocate({"a": 1, "b": 30}, 10) == {"a": 0, "b": 10}
    assert stats.allocate({"a": 2, "b": 3}, 10) == {"a": 2, "b": 3}


def test_a_draw_creates_blind_reviews_and_stores_seed_and_population(
    platform_account, analyst, senior, make_plan
):
    decisions = [decide(platform_account, analyst, at=DAY + timedelta(hours=h)) for h in range(8)]
    # Outside the period: never drawn.
    decide(platform_account, analyst, at=NEXT_DAY + timedelta(hours=1))
    plan = make_plan(fixed_size=3)
    sample, created = draw(plan, senior, seed=42)
    assert created
    assert (sample.seed, sample.population_size, sample.target_size, sample.drawn_size) == (
        42,
        8,
        3,
        3,
    )
    reviews = list(sample.reviews.all())
    assert len(reviews) == 3
    assert {r.decision_id for r in reviews} <= {d.pk for d in decisions}
    assert all(r.status == "new" and r.analyst_id == analyst.pk for r in reviews)
    assert all(r.inclusion == "random" for r in reviews)


def test_the_draw_is_reproducible_from_its_seed(platform_account, analyst, senior, make_plan):
    for h in range(12):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    plan = make_plan(fixed_size=4)
    population = services.plan_population(plan, DAY, NEXT_DAY)
    first = services.draw_select(plan, population, seed=7)
    again = services.draw_select(plan, population, seed=7)
    other = services.draw_select(plan, population, seed=8)
    ids = [c.decision_id for c, _ in first.chosen]
    assert ids == [c.decision_id for c, _ in again.chosen]
    assert ids != [c.decision_id for c, _ in other.chosen]
    sample, _ = draw(plan, senior, seed=7)
    assert sorted(sample.reviews.values_list("decision_id", flat=True)) == sorted(ids)


def test_a_second_draw_for_the_same_period_draws_nothing_new(
    platform_account, analyst, senior, make_plan
):
    for h in range(6):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    plan = make_plan(fixed_size=3)
    sample, created = draw(plan, senior)
    again, created_again = draw(plan, senior)
    assert created and not created_again and again.pk == sample.pk
    assert QAReview.objects.count() == 3 and Sample.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_beats_drawing_at_once_create_one_sample(platform_account, analyst, senior, make_plan):
    for h in range(6):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    plan = make_plan(fixed_size=3)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(
                services.sample_draw(actor=None, plan_id=plan.pk, start=DAY, end=NEXT_DAY)[1]
            )
        except Exception as error:  # noqa: BLE001 - the test reports it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == [False, True]
    assert Sample.objects.count() == 1 and QAReview.objects.count() == 3


def test_stratified_draw_allocates_by_analyst(
    platform_account, analyst, analyst2, senior, make_plan
):
    for h in range(6):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    for h in range(2):
        decide(platform_account, analyst2, at=DAY + timedelta(hours=h, minutes=30))
    plan = make_plan(fixed_size=4, stratify_by=SamplingPlan.Stratify.ANALYST)
    sample, _ = draw(plan, senior, seed=3)
    per_analyst = {a: sample.reviews.filter(analyst=a).count() for a in (analyst.pk, analyst2.pk)}
    assert per_analyst == {analyst.pk: 3, analyst2.pk: 1}
    assert sample.strata == {f"analyst:{analyst.pk}": [6, 3], f"analyst:{analyst2.pk}": [2, 1]}


def test_always_include_rules_add_every_ban_and_new_analysts(
    platform_account, analyst, senior, make_plan
):
    for h in range(5):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    # A ban needs a senior (four-eyes for others); a senior's ban applies at once.
    ban = decide(platform_account, senior, at=DAY + timedelta(hours=6), actions=[{"type": "ban"}])
    newcomer = make_member("newcomer", "analyst")
    newcomer.date_joined = DAY - timedelta(days=3)
    newcomer.save()
    new_decision = decide(platform_account, newcomer, at=DAY + timedelta(hours=7))
    plan = make_plan(fixed_size=1, always_action_types=["ban"], always_new_analyst_days=30)
    analyst.date_joined = DAY - timedelta(days=400)
    analyst.save()
    senior.date_joined = DAY - timedelta(days=400)
    senior.save()
    sample, _ = draw(plan, senior)
    inclusions = dict(sample.reviews.values_list("decision_id", "inclusion"))
    assert inclusions[ban.pk] == "always_action"
    assert inclusions[new_decision.pk] == "always_new_analyst"
    assert sum(1 for how in inclusions.values() if how == "random") == 1
    assert (sample.population_size, sample.drawn_size, sample.always_included) == (7, 1, 2)


def test_scope_filters_reasons_and_human_decisions(platform_account, analyst, senior, make_plan):
    spam = decide(platform_account, analyst, at=DAY + timedelta(hours=1))
    decide(
        platform_account,
        analyst,
        reason="harassment",
        at=DAY + timedelta(hours=2),
        outcome="no_violation",
        actions=[],
    )
    plan = make_plan(fixed_size=10, reasons=["spam"], decision_kind="human")
    population = services.plan_population(plan, DAY, NEXT_DAY)
    assert [c.decision_id for c in population] == [spam.pk]


def test_a_decision_is_never_sampled_twice(platform_account, analyst, senior, make_plan):
    for h in range(3):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    first = make_plan(name="First", fixed_size=3)
    second = make_plan(name="Second", fixed_size=3)
    draw(first, senior)
    sample, _ = draw(second, senior)
    assert sample.population_size == 0 and QAReview.objects.count() == 3


def test_only_seniors_plan_and_draw(platform_account, analyst, senior, make_plan):
    plan = make_plan()
    with pytest.raises(PermissionDenied):
        services.sample_draw(actor=analyst, plan_id=plan.pk, start=DAY, end=NEXT_DAY)
    with pytest.raises(PermissionDenied):
        services.plan_save(actor=analyst, data={"name": "Mine"})


def test_beat_draws_the_previous_day_of_every_active_plan(
    platform_account, analyst, senior, make_plan
):
    import time_machine

    for h in range(3):
        decide(platform_account, analyst, at=DAY + timedelta(hours=h))
    make_plan(fixed_size=2)
    make_plan(name="Paused", fixed_size=2, active=False)
    with time_machine.travel(NEXT_DAY + timedelta(hours=2)):
        assert services.samples_draw_due() == 1
        assert services.samples_draw_due() == 0
    assert QAReview.objects.count() == 2
