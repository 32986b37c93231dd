"""The agreement statistics calibration rests on, against textbook examples."""

from __future__ import annotations

import pytest

from qa import stats

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters each, 5 categories.
# P̄ = 0.378, P̄e = 0.213, κ = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _two_raters(both_yes: int, yes_no: int, no_yes: int, both_no: int) -> tuple[list, list]:
    """Two raters' answers from a 2×2 contingency table (rater A's answer first)."""
    first = ["yes"] * (both_yes + yes_no) + ["no"] * (no_yes + both_no)
    second = ["yes"] * both_yes + ["no"] * yes_no + ["yes"] * no_yes + ["no"] * both_no
    return first, second


def test_fleiss_kappa_of_the_wikipedia_example_table_is_0_210():
    assert stats.fleiss_kappa_from_table(FLEISS_TABLE) == pytest.approx(0.2099, abs=5e-4)


def test_fleiss_kappa_from_ratings_equals_the_table_form():
    labels = "ABCDE"
    ratings = [
        [labels[category] for category, count in enumerate(row) for _ in range(count)]
        for row in FLEISS_TABLE
    ]
    assert stats.fleiss_kappa(ratings) == pytest.approx(stats.fleiss_kappa_from_table(FLEISS_TABLE))


def test_fleiss_kappa_is_one_for_perfect_agreement_and_negative_below_chance():
    assert stats.fleiss_kappa([["a", "a", "a"], ["b", "b", "b"], ["a", "a", "a"]]) == 1.0
    # Two raters who always disagree, on categories used equally often: κ = -1.
    assert stats.fleiss_kappa([["a", "b"], ["b", "a"]]) == pytest.approx(-1.0)


def test_fleiss_kappa_leaves_out_subjects_with_one_rating_and_is_undefined_without_any():
    assert stats.fleiss_kappa([["a"], ["b"]]) is None
    assert stats.fleiss_kappa([["a", "a"], ["b"], ["b", "b"]]) == 1.0


def test_cohen_kappa_of_the_wikipedia_example_20_5_10_15_is_0_40():
    first, second = _two_raters(20, 5, 10, 15)
    assert stats.cohen_kappa(first, second) == pytest.approx(0.40)


def test_cohen_kappa_of_the_second_wikipedia_example_45_15_25_15_is_0_1304():
    first, second = _two_raters(45, 15, 25, 15)
    assert stats.cohen_kappa(first, second) == pytest.approx(0.1304, abs=1e-4)


def test_cohen_kappa_edges():
    assert stats.cohen_kappa(["a", "b"], ["a", "b"]) == 1.0
    assert stats.cohen_kappa(["a", "a"], ["a", "a"]) == 1.0
    assert stats.cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        stats.cohen_kappa(["a"], ["a", "b"])


def test_percent_agreement_is_the_share_of_agreeing_pairs():
    assert stats.percent_agreement(["a", "a", "a"]) == 1.0
    # Three raters, two agree: one agreeing pair out of three.
    assert stats.percent_agreement(["a", "a", "b"]) == pytest.approx(1 / 3)
    assert stats.percent_agreement(["a", "b", "c"]) == 0.0
    assert stats.percent_agreement(["a"]) is None
