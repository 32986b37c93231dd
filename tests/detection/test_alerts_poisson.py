"""The volume test's Poisson upper tail, against values summed directly (80-digit decimals
for the table below)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from detection.anomaly import expected_count, poisson_upper_tail


def _tail_by_summation(k: int, lam: float) -> float:
    """1 - sum_{i<k} e^-lam lam^i / i!, in exact rationals but for e^-lam (reference only)."""
    lam_q = Fraction(lam)
    below = sum(lam_q**i / math.factorial(i) for i in range(k))
    return 1.0 - math.exp(-lam) * float(below)


@pytest.mark.parametrize(
    ("k", "lam", "expected"),
    [
        (1, 1.0, 0.6321205588285577),
        (5, 1.0, 0.0036598468273437123),
        (10, 2.0, 4.649807501726381e-05),
        (3, 3.0, 0.5768099188731565),
        (20, 5.0, 3.4521358209144602e-07),
    ],
)
def test_the_tail_matches_known_values(k, lam, expected):
    assert poisson_upper_tail(k, lam) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("lam", [0.25, 0.5, 1.0, 2.5, 7.0, 15.0, 40.0])
@pytest.mark.parametrize("k", [1, 2, 5, 10, 17, 30, 60])
def test_the_tail_agrees_with_direct_summation_on_both_branches(k, lam):
    reference = _tail_by_summation(k, lam)
    if reference > 1e-12:
        assert poisson_upper_tail(k, lam) == pytest.approx(reference, rel=1e-8, abs=1e-14)


def test_far_tails_stay_positive_and_ordered_instead_of_underflowing_to_zero():
    tails = [poisson_upper_tail(k, 1.0) for k in (50, 100, 150)]
    assert all(t > 0 for t in tails)
    assert tails[0] > tails[1] > tails[2]
    # log P(X >= 100 | 1) ~ log(e^-1 / 100!) to first order.
    assert math.log(tails[1]) == pytest.approx(-1 - math.lgamma(101), rel=1e-3)


def test_edges():
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert poisson_upper_tail(1, 0.0) == 0.0
    assert 0.0 <= poisson_upper_tail(1000, 1000.0) <= 1.0
    assert poisson_upper_tail(1000, 1000.0) == pytest.approx(0.5042052442, rel=1e-8)


def test_the_baseline_adds_one_pseudo_report_so_an_empty_history_is_testable():
    assert expected_count([0, 0, 0, 0]) == 0.25
    assert expected_count([3, 5, 4, 4]) == 4.25
