"""The statistics QA rests on, in one place: sample sizes, Wilson intervals, proportional
allocation across strata, and Fleiss' and Cohen's kappa. Pure functions, no database."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (0.95 → 1.95996…)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def sample_size(
    *, confidence: float, margin: float, p: float = 0.5, population: int | None = None
) -> int:
    """Cases to review for a proportion estimated within ±margin at the confidence level:
    n₀ = z²·p(1−p)/e², then the finite-population correction n = n₀ / (1 + (n₀ − 1)/N)
    when the population is known; never more than the population."""
    if not 0 < margin < 1:
        raise ValueError("margin must be between 0 and 1")
    if not 0 < p < 1:
        raise ValueError("p must be between 0 and 1")
    z = z_for(confidence)
    n0 = z * z * p * (1 - p) / (margin * margin)
    if population is None:
        return math.ceil(n0)
    if population <= 0:
        return 0
    n = n0 / (1 + (n0 - 1) / population)
    return min(population, math.ceil(n))


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; floating point would miss it slightly.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def allocate(strata: Mapping[Hashable, int], total: int) -> dict[Hashable, int]:
    """Split ``total`` across strata in proportion to their sizes (largest remainder, ties
    broken by stratum order), never giving a stratum more than it holds."""
    population = sum(strata.values())
    total = min(total, population)
    if population == 0 or total == 0:
        return dict.fromkeys(strata, 0)
    # In integers, size·total = quota·population + remainder: equal remainders are exactly
    # equal (as floats they can compare either way), so ties really go by stratum order.
    allocation = {key: size * total // population for key, size in strata.items()}
    remainders = {key: size * total % population for key, size in strata.items()}
    # sorted() is stable: among equal remainders the earlier stratum comes first. Each of the
    # ``left`` strata served has a positive remainder, so its quota is below its size.
    left = total - sum(allocation.values())
    for key in sorted(strata, key=lambda key: -remainders[key])[:left]:
        allocation[key] += 1
    return allocation


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa over subjects, each with the categories its raters chose. Subjects
    with fewer than two ratings are left out; with unequal numbers of raters each subject's
    agreement uses its own count (the usual generalisation). None when undefined."""
    subjects = [list(r) for r in ratings if len(r) >= 2]
    if not subjects:
        return None
    total = sum(len(s) for s in subjects)
    category_totals: Counter = Counter()
    agreement = 0.0
    for subject in subjects:
        counts = Counter(subject)
        category_totals.update(counts)
        n = len(subject)
        agreement += (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
    p_bar = agreement / len(subjects)
    p_e = sum((c / total) ** 2 for c in category_totals.values())
    if p_e >= 1:
        # Everyone chose one and the same category throughout: agreement is perfect.
        return 1.0 if p_bar >= 1 else None
    return (p_bar - p_e) / (1 - p_e)


def fleiss_kappa_from_table(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from a subjects × categories count table (the textbook layout)."""
    ratings = []
    for row in table:
        subject: list[int] = []
        for category, count in enumerate(row):
            subject.extend([category] * count)
        ratings.append(subject)
    return fleiss_kappa(ratings)


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's kappa between two raters' answers on the same subjects, in the same order."""
    if len(first) != len(second):
        raise ValueError("both raters must rate the same subjects")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[c] * counts_b[c] for c in counts_a) / (n * n)
    if expected >= 1:
        return 1.0 if observed >= 1 else None
    return (observed - expected) / (1 - expected)


def percent_agreement(values: Sequence[Hashable]) -> float | None:
    """Share of rater pairs on one subject that agree (0–1); None with fewer than two."""
    n = len(values)
    if n < 2:
        return None
    counts = Counter(values)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))
