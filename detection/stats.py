"""Tests the detectors rest on: Poisson tails for counts against an expected rate (the upper
tail is the volume detector's, :func:`detection.anomaly.poisson_upper_tail`)."""

from __future__ import annotations

import math

from detection.anomaly import poisson_upper_tail

__all__ = ["poisson_lower_tail", "poisson_two_sided", "poisson_upper_tail"]


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
