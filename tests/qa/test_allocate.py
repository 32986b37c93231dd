"""Proportional allocation breaks exact ties by stratum order, in exact integer arithmetic."""

from __future__ import annotations

import itertools

from qa.stats import allocate


def test_an_exact_tie_goes_to_the_earlier_stratum_where_floats_would_not():
    # 2 of 6: every stratum's exact remainder is 1/3, but as floats 4·2/6 − 1 is a hair
    # below 1·2/6, so comparing floats would hand the last case to "y" instead of "x".
    assert allocate({"x": 4, "y": 1, "z": 1}, 2) == {"x": 2, "y": 0, "z": 0}


def test_ties_follow_the_order_the_strata_are_given_in_not_their_names():
    assert allocate({"b": 1, "a": 1}, 1) == {"b": 1, "a": 0}
    assert allocate({2: 3, 1: 3, 10: 3}, 4) == {2: 2, 1: 1, 10: 1}


def test_the_total_is_always_met_and_no_stratum_gets_more_than_it_holds():
    for sizes in itertools.product(range(0, 7), repeat=3):
        strata = dict(zip("abc", sizes, strict=True))
        for total in range(0, sum(sizes) + 3):
            allocation = allocate(strata, total)
            assert sum(allocation.values()) == min(total, sum(sizes)), (strata, total)
            assert all(allocation[k] <= strata[k] for k in strata), (strata, total)
            # Largest remainder: never more than one away from the exact share.
            for key, size in strata.items():
                if sum(sizes):
                    share = size * min(total, sum(sizes)) / sum(sizes)
                    assert abs(allocation[key] - share) < 1, (strata, total, key)
