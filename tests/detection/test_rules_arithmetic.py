"""Integer arithmetic in rule expressions is exact over CEL's whole 64-bit range, as the CEL
interpreter's is."""

from __future__ import annotations

import cel
import pytest

from detection.expressions import compile_expression, default_inputs


def answers(source: str) -> tuple[bool, bool]:
    ours = compile_expression(source, cost_limit=1000).evaluate(default_inputs())
    theirs = cel.compile(source).execute({}) is True
    return ours, theirs


@pytest.mark.parametrize(
    "source",
    ["17 % 5 == 2", "-17 % 5 == -2", "17 % -5 == 2", "9007199254740992 / 3 == 3002399751580330"],
)
def test_small_and_exact_results_agree_with_cel(source):
    assert answers(source) == (True, True)


@pytest.mark.parametrize(
    "source",
    ["9223372036854775807 % 10 == 7", "9007199254740993 % 2 == 1", "-9007199254740993 % 2 == -1"],
)
def test_a_remainder_past_two_to_the_53_is_exact(source):
    assert answers(source) == (True, True)
