"""Tests the detectors rest on: Poisson tails for counts against an expected rate."""

from __future__ import annotations

import math


def poisson_upper_tail(observed: int, expected: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(expected): how surprising so many events are."""
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    # 1 − P(X ≤ observed − 1), the terms summed in log space so large counts do not overflow.
    log_terms = [k * math.log(expected) - expected - math.lgamma(k + 1) for k in range(observed)]
    top = max(log_terms)
    below = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return max(0.0, min(1.0, 1.0 - below))


def poisson_lower_tail(observed: int, expected: float) -> float:
    """P(X ≤ observed) for X ~ Poisson(expected): how surprising so few events are."""
    if expected <= 0:
        return 1.0
    log_terms = [
        k * math.log(expected) - expected - math.lgamma(k + 1) for k in range(observed + 1)
    ]
    top = max(log_terms)
    return max(0.0, min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms)))


def poisson_two_sided(observed: int, expected: float) -> float:
    """Twice the smaller tail, at most 1: a departure either way."""
    return min(
        1.0, 2 * min(poisson_upper_tail(observed, expected), poisson_lower_tail(observed, expected))
    )
