"""Rule expressions: checked against the inputs, costed, refused with a message naming the
problem, and evaluated exactly as the CEL interpreter (cel-rust, ``import cel``) evaluates them.
"""

from __future__ import annotations

import random

import cel
import pytest

from detection.expressions import (
    FIELDS,
    INPUTS,
    MAX_LENGTH,
    MAX_NESTING,
    ExpressionError,
    compile_expression,
    default_inputs,
)

LIMIT = 1000


def compiled(source: str, *, cost_limit: int = LIMIT):
    return compile_expression(source, cost_limit=cost_limit)


def refused(source: str, *, cost_limit: int = LIMIT) -> str:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, cost_limit=cost_limit)
    return str(info.value)


def inputs(**values) -> dict:
    """Every input at its zero value, with ``report__reason="spam"`` style overrides."""
    flat = default_inputs()
    for key, value in values.items():
        path = key.replace("__", ".", 1)
        assert path in flat, path
        flat[path] = value
    return flat


def nested(flat: dict) -> dict:
    """``{"report.reason": "spam"}`` -> ``{"report": {"reason": "spam"}}`` (tuples as lists)."""
    out: dict[str, dict] = {}
    for path, value in flat.items():
        root, name = path.split(".")
        out.setdefault(root, {})[name] = list(value) if isinstance(value, tuple) else value
    return out


def cel_says(source: str, flat: dict) -> bool:
    """The reference interpreter's answer; an evaluation error is no match."""
    try:
        return cel.compile(source).execute(nested(flat)) is True
    except Exception:
        return False


# --- What compiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fields", "cost", "matching", "not_matching"),
    [
        (
            'report.reason == "spam" && report.score >= 0.8',
            {"report.reason", "report.score"},
            5,
            {"report__reason": "spam", "report__score": 0.9},
            {"report__reason": "spam", "report__score": 0.7},
        ),
        (
            'subject.kind == "content" && subject.age_days < 2',
            {"subject.kind", "subject.age_days"},
            5,
            {"subject__kind": "content", "subject__age_days": 1},
            {"subject__kind": "account", "subject__age_days": 1},
        ),
        (
            "account.age_days < 7 && account.strikes >= 2",
            {"account.age_days", "account.strikes"},
            5,
            {"account__age_days": 3, "account__strikes": 2},
            {"account__age_days": 30, "account__strikes": 2},
        ),
        (
            # A comprehension costs its body times the declared bound of the list (16).
            'account.active_restrictions.exists(r, r == "suspend_account")',
            {"account.active_restrictions"},
            1 + 16 * (2 + 1) + 1,
            {"account__active_restrictions": ("limit_reach", "suspend_account")},
            {"account__active_restrictions": ("limit_reach",)},
        ),
        (
            "reporter.trusted || reporter.reputation > 0.75",
            {"reporter.trusted", "reporter.reputation"},
            4,
            {"reporter__reputation": 0.8},
            {"reporter__reputation": 0.7},
        ),
        (
            # A regular expression costs its pattern's length.
            'report.detector.matches("^spam[a-z]*$")',
            {"report.detector"},
            1 + 0 + 1 + len("^spam[a-z]*$"),
            {"report__detector": "spamnet"},
            {"report__detector": "threatnet"},
        ),
    ],
)
def test_an_expression_over_each_input_group_compiles_with_its_fields_and_cost(
    source, fields, cost, matching, not_matching
):
    result = compiled(source)
    assert result.fields == frozenset(fields)
    assert result.cost == cost
    assert result.evaluate(inputs(**matching)) is True
    assert result.evaluate(inputs(**not_matching)) is False


def test_every_documented_input_is_there_with_its_type():
    for path in (
        "report.reason",
        "report.source",
        "report.detector",
        "report.score",
        "subject.kind",
        "account.age_days",
        "account.strikes",
        "account.active_restrictions",
        "reporter.reputation",
        "reporter.trusted",
    ):
        assert path in FIELDS, path
    assert FIELDS["report.score"].type == "double"
    assert FIELDS["account.strikes"].type == "int"
    assert FIELDS["account.active_restrictions"].type == "list(string)"
    assert FIELDS["reporter.trusted"].type == "bool"


# --- What is refused, and the message ---------------------------------------------------------


def test_an_unknown_field_is_named_with_the_fields_its_group_has():
    message = refused('report.reasn == "spam"')
    assert "report.reasn" in message
    for name in INPUTS["report"]:
        assert name in message
    assert "column" in message


def test_an_unknown_input_root_is_named_with_the_roots_there_are():
    message = refused('user.name == "x"')
    assert "'user'" in message
    for root in ("report", "subject", "account", "reporter"):
        assert root in message
    message = refused("reporter > 1")
    assert "group of inputs" in message and "reporter" in message


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("report.reason > 3", [">", "string", "int"]),
        ('report.score + "x" == "y"', ["+", "double", "string"]),
        ("!account.strikes", ["!", "bool", "int"]),
        ("account.strikes", ["bool", "int"]),
        ("report.score", ["bool", "double"]),
        ('account.strikes == 1 ? "a" : 2', ["?:", "string", "int"]),
        ('report.reason in ["spam", 3]', ["list", "string", "int"]),
        ("account.strikes && true", ["&&", "int"]),
        ("report.reason.startsWith(1)", ["startsWith", "string", "int"]),
        ("frobnicate(report.reason)", ["frobnicate"]),
        ("account.strikes % 2.0 == 0.0", ["%"]),
        ("account.active_restrictions.exists(r, r + 1 == 2)", ["+", "string", "int"]),
    ],
)
def test_a_type_error_is_refused_with_the_types_named(source, words):
    message = refused(source)
    for word in words:
        assert word in message, (source, message)


def test_the_cost_limit_refuses_a_nested_comprehension_over_the_restrictions():
    nested_walk = (
        "account.active_restrictions.exists(a, "
        "account.active_restrictions.exists(b, "
        "account.active_restrictions.exists(c, a == b && b == c)))"
    )
    # 16 × 16 × 16 evaluations of the body: far over the limit.
    message = refused(nested_walk, cost_limit=LIMIT)
    assert "cost" in message.lower() and str(LIMIT) in message
    cost = compiled(nested_walk, cost_limit=10**9).cost
    assert cost > 16**3
    # One walk of the same list is well under it.
    assert compiled('account.active_restrictions.exists(a, a == "x")').cost < LIMIT


def test_a_huge_expression_is_refused_with_its_length():
    source = " || ".join(['report.reason == "spam"'] * 400)
    assert len(source) > MAX_LENGTH
    message = refused(source, cost_limit=10**9)
    assert str(MAX_LENGTH) in message and str(len(source)) in message


def test_deep_nesting_is_refused_with_the_depth():
    source = "(" * 40 + "true" + ")" * 40
    message = refused(source)
    assert "40" in message and str(MAX_NESTING) in message
    # Brackets inside a string literal are not nesting.
    assert compiled('report.reason == "' + "(" * 40 + '"').fields == {"report.reason"}
    assert compiled("(" * MAX_NESTING + "true" + ")" * MAX_NESTING).evaluate(inputs())


@pytest.mark.parametrize(
    "source", ['report.reason == "spam" &&', "report.reason = 'spam'", "(report.score > 1"]
)
def test_a_syntax_error_is_refused_as_one(source):
    assert refused(source).startswith("Syntax error")


@pytest.mark.parametrize("source", ["", "   ", None])
def test_an_empty_expression_is_refused(source):
    assert "expression" in refused(source)


def test_a_bad_regular_expression_is_refused_and_a_computed_pattern_too():
    assert "regular expression" in refused('report.detector.matches("spam(")')
    assert "literal pattern" in refused("report.detector.matches(report.reason)")


# --- Evaluation is CEL's ---------------------------------------------------------------------

ORACLE_EXPRESSIONS = [
    'report.reason == "spam" && report.score >= 0.8',
    'report.source == "automated_flag" || reporter.trusted',
    # int and double compare without conversion.
    "account.strikes > 2.5",
    "report.score == 1",
    "account.strikes == report.score",
    "report.score * 10.0 > double(account.strikes)",
    # Ternaries.
    "account.age_days < 7 ? report.score > 0.5 : report.score > 0.9",
    'subject.kind == "account" ? account.age_days < 30 : subject.age_days < 1',
    # Membership in lists.
    'report.reason in ["spam", "scam"] && !reporter.trusted',
    '"suspend_account" in account.active_restrictions',
    "report.received_hour >= 22 || report.received_hour < 6 && report.received_weekday in [6, 7]",
    # Macros.
    'account.active_restrictions.exists(r, r == "suspend_account")',
    'account.active_restrictions.all(r, r.startsWith("restrict"))',
    'account.active_restrictions.exists_one(r, r == "limit_reach")',
    'account.active_restrictions.filter(r, r.endsWith("_account")).size() > 0',
    "account.active_restrictions.map(r, size(r)).exists(n, n > 13)",
    "size(account.active_restrictions) >= 2",
    # Errors at run time (division by zero, overflow) absorbed by && and || either side.
    "(10 / account.strikes > 2) || reporter.trusted",
    "reporter.trusted || (10 / account.strikes > 2)",
    "(100 / account.prior_actions == 100) && report.has_media",
    "report.has_media && (100 / account.prior_actions == 100)",
    "false && (1 / 0 == 1)",
    "(1 / 0 == 1) || true",
    "report.text_length % 7 == 3 || "
    "account.cluster_size / (account.strikes - account.prior_actions) > 1",
    "account.cluster_size * 4611686018427387904 > 0 || reporter.trusted",
    # Strings, conversions, arithmetic.
    'report.detector.contains("net") && report.score > 0.5',
    'report.detector.matches("^spam.*v[0-9]$")',
    "int(report.score * 100.0) >= 80",
    'string(account.strikes) + "x" == "3x"',
    '-account.strikes < -2 && !(report.source == "support")',
    "report.score + 0.5 > 1.0 && report.media_count * 2 > 3",
    "account.evasion_suspect == true && account.in_cluster != false",
    "7 / -2 == -3 && -7 % 3 == -1 && account.known",
    "reporter.reputation >= 0.7 && reporter.reports > 10 || reporter.trusted",
]

_RESTRICTIONS = [
    "suspend_account",
    "restrict_posting",
    "limit_reach",
    "remove_content",
    "restrict_messaging_account",
]


def _random_inputs(rng: random.Random) -> dict:
    values = {}
    for path, spec in FIELDS.items():
        if path == "report.reason":
            values[path] = rng.choice(["spam", "scam", "harassment", "Spam", ""])
        elif path == "report.source":
            values[path] = rng.choice(["user_report", "automated_flag", "support", "internal"])
        elif path == "report.detector":
            values[path] = rng.choice(["", "spamnet-v2", "threatnet", "spam_v1", "spamv9x"])
        elif path == "subject.kind":
            values[path] = rng.choice(["account", "content", "message", "listing", "profile"])
        elif spec.type == "int":
            values[path] = rng.choice([0, 0, 1, 2, 3, 4, 5, rng.randint(0, 400)])
        elif spec.type == "double":
            values[path] = rng.choice([0.0, 0.5, 0.8, 1.0, 2.0, rng.random()])
        elif spec.type == "bool":
            values[path] = rng.random() < 0.5
        elif spec.type == "list(string)":
            values[path] = tuple(rng.sample(_RESTRICTIONS, rng.randint(0, 3)))
        else:
            values[path] = rng.choice(["", "a"])
    values["report.received_hour"] = rng.randint(0, 23)
    values["report.received_weekday"] = rng.randint(1, 7)
    return values


def test_compiled_expressions_answer_as_the_cel_interpreter_does():
    rng = random.Random(20261204)
    samples = [_random_inputs(rng) for _ in range(300)]
    for source in ORACLE_EXPRESSIONS:
        ours = compiled(source)
        program = cel.compile(source)
        answers = []
        for flat in samples:
            try:
                expected = program.execute(nested(flat)) is True
            except Exception:
                expected = False
            got = ours.evaluate(flat)
            assert got is expected, (source, flat)
            answers.append(got)
        # Every expression is tried on inputs it matches and inputs it does not, bar the two
        # constant ones.
        if source not in ("false && (1 / 0 == 1)", "(1 / 0 == 1) || true"):
            assert True in answers and False in answers, source
    # The constant ones: CEL's && and || absorb the error on either side.
    assert not compiled("false && (1 / 0 == 1)").evaluate(inputs())
    assert not compiled("(1 / 0 == 1) && false").evaluate(inputs())
    assert compiled("(1 / 0 == 1) || true").evaluate(inputs())
    assert compiled("true || (1 / 0 == 1)").evaluate(inputs())
    # An error nothing absorbs is no match (and no exception out of evaluate).
    assert not compiled("1 / account.strikes == 0 || false").evaluate(inputs())


def test_run_time_errors_are_no_match_rather_than_an_exception():
    for source in (
        "10 / account.strikes > 1",
        "account.strikes % account.prior_actions == 0",
        "account.cluster_size * 4611686018427387904 * 4 > 0",
        'account.active_restrictions[3] == "x"',
        "int(report.reason) == 1",
    ):
        flat = inputs(account__cluster_size=5, report__reason="spam")
        assert compiled(source).evaluate(flat) is False, source
        assert cel_says(source, flat) is False, source


@pytest.mark.parametrize(
    "source", ['int("1_000") == 1000', 'int(" 5") == 5', 'double("1_0.5") > 1.0']
)
def test_string_conversions_refuse_what_cel_refuses(source):
    flat = inputs()
    assert cel_says(source, flat) is False
    assert compiled(source).evaluate(flat) is False


def test_a_double_reads_as_cel_writes_it():
    source = 'string(1.0) == "1"'
    assert cel_says(source, inputs()) is True
    assert compiled(source).evaluate(inputs()) is True


# --- Guards (the engine's index) --------------------------------------------------------------


def test_a_literal_equality_at_the_top_of_an_and_chain_is_a_guard():
    assert compiled('report.reason == "spam" && report.score > 0.5').guards == {
        "report.reason": frozenset({"spam"})
    }
    assert compiled(
        'report.reason in ["spam", "scam"] && subject.kind == "content" && reporter.trusted'
    ).guards == {
        "report.reason": frozenset({"spam", "scam"}),
        "subject.kind": frozenset({"content"}),
    }
    # Two guards on one field: both must hold.
    assert compiled('report.reason in ["spam", "scam"] && report.reason == "scam"').guards == {
        "report.reason": frozenset({"scam"})
    }


@pytest.mark.parametrize(
    "source",
    [
        'report.reason == "spam" || report.score > 0.5',
        'report.reason != "spam" && reporter.trusted',
        '!(report.reason == "spam") && reporter.trusted',
        'report.reason == "spam" ? reporter.trusted : true',
        '(report.reason == "spam" || report.reason == "scam") && reporter.trusted',
        'report.reason == "sp" + "am" && reporter.trusted',
        'account.active_restrictions.exists(r, r == "x") && reporter.trusted',
    ],
)
def test_no_guard_where_a_match_need_not_have_that_value(source):
    assert compiled(source).guards == {}


def test_guards_only_skip_reports_that_cannot_match():
    """Whatever the guards say, a report the expression matches passes them."""
    rng = random.Random(4)
    for source in (
        'report.reason == "spam" && report.score > 0.5',
        'report.reason in ["spam", "scam"] && report.source == "automated_flag"',
        'report.reason in ["spam"] + ["scam"] && reporter.trusted',
    ):
        result = compiled(source)
        for _ in range(300):
            flat = _random_inputs(rng)
            if result.evaluate(flat):
                for path, values in result.guards.items():
                    assert flat[path] in values, (source, flat[path], values)


def test_a_computed_list_member_is_no_guard():
    source = 'report.reason in ["sp" + "am", "scam"]'
    result = compiled(source)
    flat = inputs(report__reason="spam")
    assert result.evaluate(flat) and cel_says(source, flat)
    assert "spam" in result.guards.get("report.reason", {"spam"})


def test_a_raw_string_does_not_hide_deep_nesting():
    source = 'report.reason == r"\\" || ' + "(" * 40 + "true" + ")" * 40
    message = refused(source)
    assert str(MAX_NESTING) in message
