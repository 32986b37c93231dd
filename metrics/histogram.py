"""Duration histograms: how rollups keep percentiles that can be combined over any range.

A percentile cannot be averaged across days or queues, and keeping every duration would
make a 90-day dashboard read millions of values. Each rollup row therefore keeps a fixed
histogram of :data:`HIST_BUCKETS` counts over geometric buckets of minutes:

    bucket k holds durations in [2^(k/6) − 1, 2^((k+1)/6) − 1) minutes

(six buckets per doubling, each :data:`BUCKET_GROWTH` ≈ 12.2% of (its lower edge + 1 minute)
wide: about 7 seconds near zero, 25% of a one-minute value, 12% of the value above a few hours;
the last bucket, from about 40.5 days, is open-ended). Histograms of any set of rows add
up element by element, so a range's P50/P90 is read from the summed histogram at a cost
that depends on the number of rollup rows, never on the number of cases.

Reading a percentile: the values inside a bucket are taken as evenly spread over it (the
j-th of c values at lo + (j + ½)/c · (hi − lo)), and ranks are then interpolated like
PostgreSQL's ``percentile_cont``. Each ranked value read this way lies in the same bucket as
the exact one, so it is less than one bucket width off, which is at most
``BUCKET_GROWTH × (value + 1 minute)``; that bound is linear, so it holds for the interpolated
percentile too (:func:`error_bound`). Below about 12 minutes a bucket is wider than 12% of the
value, so "within 12%" alone would not be true there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

HIST_BUCKETS = 96
PER_OCTAVE = 6
# Bucket k is BUCKET_GROWTH × (edge(k) + 1) minutes wide: 2^(1/6) − 1 ≈ 0.1225.
BUCKET_GROWTH = 2 ** (1 / PER_OCTAVE) - 1


def edge(k: int) -> float:
    """Lower edge of bucket ``k`` in minutes (``edge(HIST_BUCKETS)`` closes the last finite
    bucket)."""
    return 2 ** (k / PER_OCTAVE) - 1


def error_bound(minutes: float) -> float:
    """How far, at most, a percentile read from a histogram is from the exact
    ``percentile_cont`` of the raw durations when that is ``minutes`` (below the open-ended
    last bucket, where every value reads as its lower edge)."""
    return BUCKET_GROWTH * (max(minutes, 0) + 1)


def bucket(minutes: float) -> int:
    """The bucket of a duration in minutes (negative durations count as zero)."""
    if minutes <= 0:
        return 0
    return min(HIST_BUCKETS - 1, int(math.floor(PER_OCTAVE * math.log2(minutes + 1))))


def bucket_sql(minutes_sql: str) -> str:
    """The same bucket as :func:`bucket`, as a SQL expression over ``minutes_sql``."""
    return (
        f"LEAST({HIST_BUCKETS - 1}, GREATEST(0, FLOOR({PER_OCTAVE} * "
        f"LN(GREATEST({minutes_sql}, 0) + 1) / LN(2))))::int"
    )


def from_values(minutes: Iterable[float]) -> list[int]:
    hist = [0] * HIST_BUCKETS
    for value in minutes:
        hist[bucket(value)] += 1
    return hist


def add(histograms: Iterable[Sequence[int] | None]) -> list[int]:
    total = [0] * HIST_BUCKETS
    for hist in histograms:
        if hist:
            for i, count in enumerate(hist):
                total[i] += count or 0
    return total


def count(hist: Sequence[int] | None) -> int:
    return sum(c or 0 for c in hist) if hist else 0


def _value_at(hist: Sequence[int], rank: int) -> float:
    """The estimated value of the ``rank``-th smallest duration (0-based)."""
    seen = 0
    for k, c in enumerate(hist):
        c = c or 0
        if rank < seen + c:
            lo = edge(k)
            if k == HIST_BUCKETS - 1:
                return lo
            hi = edge(k + 1)
            return lo + (rank - seen + 0.5) / c * (hi - lo)
        seen += c
    raise ValueError("rank beyond the histogram")


def percentile(hist: Sequence[int] | None, fraction: float) -> float | None:
    """The ``fraction`` (0–1) percentile, interpolated like ``percentile_cont``; None when
    the histogram is empty."""
    n = count(hist)
    if n == 0:
        return None
    position = fraction * (n - 1)
    below = math.floor(position)
    low = _value_at(hist, below)
    if position == below:
        return low
    high = _value_at(hist, below + 1)
    return low + (position - below) * (high - low)


# The SQL functions ``metrics_hist`` and ``metrics_hist_add`` the rollups call are installed by
# metrics/migrations/0001_initial.py (a migration keeps its own frozen copy).


def sum_sql(column: str, alias: str) -> str:
    """``ARRAY[sum(col[1]), …]`` — the element-wise sum of a histogram column in one
    aggregate pass (subscripts are far cheaper than unnesting)."""
    parts = ", ".join(f"SUM({column}[{i}])::bigint" for i in range(1, HIST_BUCKETS + 1))
    return f"ARRAY[{parts}] AS {alias}"
