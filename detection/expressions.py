"""Rule expressions: Google's Common Expression Language, checked, costed and compiled.

A rule's condition is a CEL expression over the rule inputs (:data:`INPUTS`). Saving one
goes through :func:`compile_expression`, which

1. parses it with cel-python's parser (the CEL grammar as that maintained library ships it);
2. checks it against the inputs: every field must exist, every operator and function must be
   one CEL defines for its operands' types (CEL never coerces), and the whole expression must
   be a ``bool``;
3. estimates its cost as CEL's checker does — a unit per operation, a comprehension costing
   its body times the declared maximum length of the list it walks, a regular expression
   costing its pattern's length — and refuses anything over ``TSOPS_RULE_COST_LIMIT``, so no
   rule can stall intake;
4. compiles the checked tree into nested Python closures over plain values.

Why closures instead of handing the expression to an interpreter at run time: intake evaluates
every active and shadow rule on every report. cel-python's interpreter takes about 470 µs per
evaluation and the cel-rust binding spends about 50 µs converting one report's inputs before it
can start; the compiled closures take about a microsecond, which is what keeps intake with 50
rules near intake with none (``bench/rules.py``). Because the checker has proven the types, the
closures need no run-time type dispatch; the few operations that can still fail at run time
(integer division by zero, overflow past 64 bits) raise :class:`EvaluationError`, which CEL's
commutative ``&&``/``||`` absorb exactly as the specification says. The test suite evaluates
every expression it compiles with the cel-rust interpreter too and requires the same answer.
"""

from __future__ import annotations

import codecs
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import re2
from celpy.celparser import CELParseError, CELParser
from lark import Token, Tree

MAX_LENGTH = 4000
MAX_NESTING = 32
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class ExpressionError(ValueError):
    """The expression cannot be saved: ``str(error)`` names the problem for its author."""


class EvaluationError(Exception):
    """An operation failed at run time (division by zero, overflow): the rule does not match."""


# --- The inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """One field a rule can read: its CEL type, what it means, and for lists their bound."""

    type: str
    doc: str
    max_items: int = 0


STRING, INT, DOUBLE, BOOL, NULL = "string", "int", "double", "bool", "null_type"
LIST_STRING = "list(string)"

INPUTS: dict[str, dict[str, Input]] = {
    "report": {
        "source": Input(
            STRING, "Where it came from: user_report, automated_flag, support, internal"
        ),
        "reason": Input(STRING, "The reason code reported, e.g. spam, scam, harassment"),
        "detector": Input(STRING, 'The detector that flagged it ("" for human reports)'),
        "score": Input(DOUBLE, "The detector's score, 0.0–1.0 (0.0 when there is none)"),
        "text_length": Input(INT, "Characters of reported text (the snapshot)"),
        "received_hour": Input(INT, "Hour of day it was received, 0–23 UTC"),
        "received_weekday": Input(INT, "Day of week it was received, 1 (Monday)–7 (Sunday)"),
        "has_media": Input(BOOL, "Whether media came with it"),
        "media_count": Input(INT, "How many media items came with it"),
    },
    "subject": {
        "kind": Input(STRING, "account, content, message, listing or profile"),
        "age_days": Input(INT, "Days since the subject was created (content) or first seen"),
        "report_count": Input(INT, "Reports on its open case so far, this one excluded"),
    },
    "account": {
        "known": Input(BOOL, "Whether an account stands behind the subject"),
        "age_days": Input(INT, "Days since TSOps first saw the account"),
        "strikes": Input(INT, "Strike points in force"),
        "active_restrictions": Input(
            LIST_STRING, 'Action types in force on it, e.g. ["suspend_account"]', max_items=16
        ),
        "prior_actions": Input(INT, "Enforcement actions ever applied to it"),
        "evasion_suspect": Input(BOOL, "Flagged as a ban-evasion suspect"),
        "in_cluster": Input(BOOL, "Member of an open coordinated cluster"),
        "cluster_size": Input(INT, "Size of the largest open cluster it is in (0 when none)"),
    },
    "reporter": {
        "known": Input(BOOL, "Whether the report names a reporter"),
        "reputation": Input(
            DOUBLE, "Share of the reporter's reports confirmed, smoothed by a Beta prior (0–1)"
        ),
        "trusted": Input(BOOL, "A trusted flagger (DSA Art. 22)"),
        "reports": Input(INT, "Reports the reporter made before"),
    },
}

FIELDS: dict[str, Input] = {
    f"{root}.{name}": spec for root, fields in INPUTS.items() for name, spec in fields.items()
}


def default_inputs() -> dict[str, Any]:
    """Inputs with every field at its zero value (the shape :func:`Compiled.evaluate` takes)."""
    zero = {STRING: "", INT: 0, DOUBLE: 0.0, BOOL: False, LIST_STRING: ()}
    return {path: zero[spec.type] for path, spec in FIELDS.items()}


# --- Compiled expressions --------------------------------------------------------------------


@dataclass
class Compiled:
    """A checked expression: its closure over flat inputs (``{"report.reason": ...}``)."""

    source: str
    fn: Callable[[dict], Any]
    cost: int
    fields: frozenset[str]
    # Literal equalities every match must satisfy (``report.reason == "spam"`` at the top of
    # an ``&&`` chain): the engine skips the rule for reports that cannot match.
    guards: dict[str, frozenset[str]] = field(default_factory=dict)
    # Lower bounds every match satisfies (``report.score >= 0.9`` at the top of an ``&&``
    # chain): a detector's thresholds in use.
    bounds: dict[str, float] = field(default_factory=dict)

    def evaluate(self, inputs: dict) -> bool:
        """True when it matches; an operation failing at run time is no match."""
        try:
            return self.fn(inputs) is True
        except EvaluationError:
            return False


@dataclass
class _Node:
    """A checked and compiled subexpression."""

    type: str
    fn: Callable[[dict], Any]
    cost: int
    may_fail: bool = False
    const: Any = None
    is_const: bool = False
    path: str | None = None


_parser: CELParser | None = None


def compile_expression(source: str, *, cost_limit: int) -> Compiled:
    """Parse, check, cost and compile ``source``, or raise :class:`ExpressionError`."""
    global _parser
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError('Write an expression, e.g. report.reason == "spam".')
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"At most {MAX_LENGTH} characters (this one has {len(source)}).")
    if "\x00" in source:
        raise ExpressionError("The expression contains a NUL character.")
    if _parser is None:
        _parser = CELParser()
    try:
        tree = _parser.parse(source)
    except CELParseError as exc:
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        where = f" at line {line}, column {column}" if line else ""
        raise ExpressionError(f"Syntax error{where}.") from None
    depth = _nesting(tree)
    if depth > MAX_NESTING:
        raise ExpressionError(
            f"Nested {depth} levels deep; at most {MAX_NESTING} levels of brackets are allowed."
        )
    checker = _Checker()
    try:
        node = checker.expr(tree)
    except RecursionError:
        raise ExpressionError(
            f"The expression is nested too deeply (at most {MAX_NESTING} levels)."
        ) from None
    if node.type != BOOL:
        raise ExpressionError(f"A rule's condition must be a bool; this one is {node.type}.")
    if node.cost > cost_limit:
        raise ExpressionError(
            f"Estimated cost {node.cost} is over the limit of {cost_limit}: simplify the "
            "expression or walk shorter lists."
        )
    return Compiled(
        source=source,
        fn=node.fn,
        cost=node.cost,
        fields=frozenset(checker.fields),
        guards=_guards(tree),
        bounds=_bounds(tree),
    )


_NESTING_NODES = frozenset(
    {
        "paren_expr",
        "list_lit",
        "map_lit",
        "ident_arg",
        "member_dot_arg",
        "dot_ident_arg",
        "member_index",
    }
)


def _nesting(tree: Tree) -> int:
    """The deepest nesting of brackets (parentheses, calls, lists, indexes), walked without
    recursion so that no input can exhaust the stack."""
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in _NESTING_NODES:
            depth += 1
            deepest = max(deepest, depth)
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))
    return deepest


def _children(tree: Tree) -> list:
    return [c for c in tree.children if c is not None]


def _position(tree) -> str:
    """Where a subtree starts, for messages ("column 12")."""
    if isinstance(tree, Token):
        return f"column {tree.column}"
    for token in tree.scan_values(lambda v: isinstance(v, Token)):
        return f"column {token.column}"
    return "the expression"


def _type_name(type_: str) -> str:
    return type_


def _list_of(type_: str) -> str | None:
    if type_.startswith("list(") and type_.endswith(")"):
        return type_[5:-1]
    return None


_NUMERIC = {INT, DOUBLE}
_ORDERED = {INT, DOUBLE, STRING}


def _const(node_type: str, value: Any) -> _Node:
    return _Node(
        type=node_type, fn=lambda _v, value=value: value, cost=0, const=value, is_const=True
    )


class _Checker:
    """Walks cel-python's parse tree: types, cost and a closure for each node."""

    def __init__(self) -> None:
        self.fields: set[str] = set()
        # Comprehension variables in scope, with their types.
        self.scope: dict[str, str] = {}

    # expr: conditionalor ["?" conditionalor ":" expr]
    def expr(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.conditionalor(parts[0])
        cond, then, other = (
            self.conditionalor(parts[0]),
            self.conditionalor(parts[1]),
            self.expr(parts[2]),
        )
        if cond.type != BOOL:
            raise ExpressionError(
                f"Type error at {_position(parts[0])}: the condition of ?: must be a bool, "
                f"not {cond.type}."
            )
        result_type = _unify(then.type, other.type)
        if result_type is None:
            raise ExpressionError(
                f"Type error at {_position(parts[1])}: both branches of ?: must have one type "
                f"(here {then.type} and {other.type})."
            )
        c, t, o = cond.fn, then.fn, other.fn
        return _Node(
            type=result_type,
            fn=lambda v: t(v) if c(v) else o(v),
            cost=cond.cost + max(then.cost, other.cost) + 1,
            may_fail=cond.may_fail or then.may_fail or other.may_fail,
        )

    def conditionalor(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.conditionaland(parts[0])
        left, right = self.conditionalor(parts[0]), self.conditionaland(parts[1])
        return _logical("||", left, right, parts)

    def conditionaland(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.relation(parts[0])
        left, right = self.conditionaland(parts[0]), self.relation(parts[1])
        return _logical("&&", left, right, parts)

    def relation(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.addition(parts[0])
        op_tree, right_tree = parts
        op = op_tree.data
        left = self.relation(_children(op_tree)[0])
        right = self.addition(right_tree)
        return _relation(op, left, right, op_tree)

    def addition(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.multiplication(parts[0])
        op_tree, right_tree = parts
        left = self.addition(_children(op_tree)[0])
        right = self.multiplication(right_tree)
        return _arithmetic(op_tree.data, left, right, op_tree)

    def multiplication(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.unary(parts[0])
        op_tree, right_tree = parts
        left = self.multiplication(_children(op_tree)[0])
        right = self.unary(right_tree)
        return _arithmetic(op_tree.data, left, right, op_tree)

    def unary(self, tree: Tree) -> _Node:
        parts = _children(tree)
        if len(parts) == 1:
            return self.member(parts[0])
        op, operand_tree = parts
        operand = self.unary(operand_tree)
        if op.data == "unary_not":
            if operand.type != BOOL:
                raise ExpressionError(
                    f"Type error at {_position(operand_tree)}: ! needs a bool, not {operand.type}."
                )
            f = operand.fn
            return _Node(BOOL, lambda v: not f(v), operand.cost + 1, operand.may_fail)
        if operand.type not in _NUMERIC:
            raise ExpressionError(
                f"Type error at {_position(operand_tree)}: - needs a number, not {operand.type}."
            )
        if operand.is_const:
            return _const(operand.type, -operand.const)
        f = operand.fn
        return _Node(operand.type, lambda v: -f(v), operand.cost + 1, operand.may_fail)

    def member(self, tree: Tree) -> _Node:
        (inner,) = _children(tree)
        kind = inner.data
        if kind == "primary":
            return self.primary(inner)
        if kind == "member_dot":
            target_tree, name = _children(inner)
            return self.field_access(target_tree, str(name), inner)
        if kind == "member_dot_arg":
            parts = _children(inner)
            target_tree, name = parts[0], str(parts[1])
            args = _children(parts[2]) if len(parts) > 2 else []
            return self.method(target_tree, name, args, inner)
        if kind == "member_index":
            target_tree, index_tree = _children(inner)
            return self.index(target_tree, index_tree)
        raise ExpressionError(
            f"Message construction is not available in rules ({_position(inner)})."
        )

    def field_access(self, target_tree: Tree, name: str, where: Tree) -> _Node:
        root = _root_ident(target_tree)
        if root is not None and root not in self.scope:
            if root not in INPUTS:
                raise ExpressionError(
                    f"Unknown input {root!r} at {_position(target_tree)}: rules read "
                    f"{', '.join(INPUTS)}."
                )
            if name not in INPUTS[root]:
                raise ExpressionError(
                    f"Unknown field {root}.{name} at {_position(where)}: {root} has "
                    f"{', '.join(INPUTS[root])}."
                )
            path = f"{root}.{name}"
            self.fields.add(path)
            return _Node(INPUTS[root][name].type, operator.itemgetter(path), 1, path=path)
        target = self.member(target_tree)
        raise ExpressionError(
            f"Type error at {_position(where)}: {target.type} has no field {name!r}."
        )

    def method(self, target_tree: Tree, name: str, args: list, where: Tree) -> _Node:
        if name in _MACROS:
            return self.macro(target_tree, name, args, where)
        target = self.member(target_tree)
        arg_nodes = [self.expr(a) for a in args]
        return _call(name, [target, *arg_nodes], where, receiver=True)

    def macro(self, target_tree: Tree, name: str, args: list, where: Tree) -> _Node:
        target = self.member(target_tree)
        element = _list_of(target.type)
        if element is None:
            raise ExpressionError(
                f"Type error at {_position(where)}: {name}() walks a list, not {target.type}."
            )
        if len(args) != 2:
            raise ExpressionError(
                f"{name}() at {_position(where)} takes a variable and an expression, "
                f'e.g. account.active_restrictions.{name}(r, r == "suspend_account").'
            )
        var = _root_ident(args[0])
        if var is None or _children(args[0]) and _ident_only(args[0]) is None:
            raise ExpressionError(f"{name}() at {_position(where)} needs a variable name first.")
        if var in INPUTS:
            raise ExpressionError(f"{name}() at {_position(where)}: {var!r} names an input.")
        saved = dict(self.scope)
        self.scope[var] = element
        try:
            body = self.expr(args[1])
        finally:
            self.scope = saved
        bound = _list_bound(target)
        cost = target.cost + bound * (body.cost + 1) + 1
        items, step = target.fn, body.fn

        def bind(v: dict, item: Any) -> dict:
            scoped = dict(v)
            scoped[var] = item
            return scoped

        if name in ("exists", "all", "exists_one"):
            if body.type != BOOL:
                raise ExpressionError(
                    f"Type error at {_position(args[1])}: {name}() needs a bool test, "
                    f"not {body.type}."
                )
            if name == "exists":
                fn = lambda v: any(step(bind(v, x)) for x in items(v))  # noqa: E731
            elif name == "all":
                fn = lambda v: all(step(bind(v, x)) for x in items(v))  # noqa: E731
            else:
                fn = lambda v: sum(1 for x in items(v) if step(bind(v, x))) == 1  # noqa: E731
            return _Node(BOOL, fn, cost, target.may_fail or body.may_fail)
        if name == "filter":
            if body.type != BOOL:
                raise ExpressionError(
                    f"Type error at {_position(args[1])}: filter() needs a bool test."
                )
            fn = lambda v: tuple(x for x in items(v) if step(bind(v, x)))  # noqa: E731
            node = _Node(target.type, fn, cost, target.may_fail or body.may_fail)
        else:
            fn = lambda v: tuple(step(bind(v, x)) for x in items(v))  # noqa: E731
            node = _Node(f"list({body.type})", fn, cost, target.may_fail or body.may_fail)
        node.const = bound  # the bound of the resulting list, for an outer comprehension
        return node

    def index(self, target_tree: Tree, index_tree: Tree) -> _Node:
        target, index = self.member(target_tree), self.expr(index_tree)
        element = _list_of(target.type)
        if element is None or index.type != INT:
            raise ExpressionError(
                f"Type error at {_position(index_tree)}: [] indexes a list with an int "
                f"(here {target.type}[{index.type}])."
            )
        t, i = target.fn, index.fn

        def fn(v: dict) -> Any:
            items, at = t(v), i(v)
            if not 0 <= at < len(items):
                raise EvaluationError("index out of range")
            return items[at]

        return _Node(element, fn, target.cost + index.cost + 1, True)

    def primary(self, tree: Tree) -> _Node:
        (inner,) = _children(tree)
        kind = inner.data
        if kind == "literal":
            return _literal(_children(inner)[0])
        if kind == "ident":
            name = str(_children(inner)[0])
            if name in self.scope:
                return _Node(self.scope[name], operator.itemgetter(name), 1)
            if name in INPUTS:
                raise ExpressionError(
                    f"{name} at {_position(inner)} is a group of inputs: read one of its fields, "
                    f"e.g. {name}.{next(iter(INPUTS[name]))}."
                )
            raise ExpressionError(
                f"Unknown input {name!r} at {_position(inner)}: rules read {', '.join(INPUTS)}."
            )
        if kind == "paren_expr":
            return self.expr(_children(inner)[0])
        if kind == "list_lit":
            parts = _children(inner)
            items = [self.expr(e) for e in _children(parts[0])] if parts else []
            return _list_literal(items, inner)
        if kind == "ident_arg":
            parts = _children(inner)
            name = str(parts[0])
            args = _children(parts[1]) if len(parts) > 1 else []
            if name == "has":
                return self.has(args, inner)
            return _call(name, [self.expr(a) for a in args], inner, receiver=False)
        if kind == "map_lit":
            raise ExpressionError(f"Map literals are not available in rules ({_position(inner)}).")
        raise ExpressionError(f"Unsupported syntax at {_position(inner)}.")

    def has(self, args: list, where: Tree) -> _Node:
        """``has(report.score)``: every declared field is always present."""
        if len(args) != 1:
            raise ExpressionError(f"has() at {_position(where)} takes one field.")
        self.expr(args[0])
        return _const(BOOL, True)


_MACROS = {"exists", "all", "exists_one", "filter", "map"}


def _ident_only(tree: Tree) -> str | None:
    return _root_ident(tree)


def _root_ident(tree) -> str | None:
    """The identifier a member/primary chain of one ident reduces to, else None."""
    node = tree
    while isinstance(node, Tree):
        kids = _children(node)
        if node.data == "ident":
            return str(kids[0])
        if node.data in ("member_dot", "member_dot_arg", "member_index"):
            return None
        if len(kids) != 1:
            return None
        node = kids[0]
    return None


def _unify(a: str, b: str) -> str | None:
    if a == b:
        return a
    return None


def _list_bound(node: _Node) -> int:
    if node.path is not None:
        return FIELDS[node.path].max_items or 1
    if node.is_const and isinstance(node.const, tuple):
        return max(len(node.const), 1)
    if isinstance(node.const, int) and not node.is_const:
        return max(node.const, 1)
    return 16


def _literal(token: Token) -> _Node:
    kind, text = token.type, str(token)
    if kind == "INT_LIT":
        value = int(text, 0) if "x" not in text.lower() else int(text, 16)
        if not INT_MIN <= value <= INT_MAX:
            raise ExpressionError(f"Integer {text} at column {token.column} is out of range.")
        return _const(INT, value)
    if kind == "FLOAT_LIT":
        return _const(DOUBLE, float(text))
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        return _const(STRING, _decode_string(text))
    if kind == "BOOL_LIT":
        return _const(BOOL, text == "true")
    if kind == "NULL_LIT":
        return _const(NULL, None)
    if kind == "UINT_LIT":
        raise ExpressionError(
            f"Unsigned integers ({text} at column {token.column}) are not used by rule inputs: "
            "write a plain int."
        )
    raise ExpressionError(f"Bytes literals are not used by rule inputs (column {token.column}).")


def _decode_string(text: str) -> str:
    raw = text[0] in "rR"
    if raw:
        text = text[1:]
    quote = 3 if text[:3] in ('"""', "'''") else 1
    body = text[quote:-quote]
    if raw:
        return body
    return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")


def _list_literal(items: list[_Node], where: Tree) -> _Node:
    if not items:
        return _Node("list(dyn)", lambda _v: (), 1, const=(), is_const=True)
    element = items[0].type
    for item in items[1:]:
        if item.type != element:
            raise ExpressionError(
                f"Type error at {_position(where)}: a list holds one type "
                f"(here {element} and {item.type})."
            )
    if all(i.is_const for i in items):
        values = tuple(i.const for i in items)
        node = _Node(f"list({element})", lambda _v: values, 1, const=values, is_const=True)
        # Membership in a literal list is a set lookup.
        node.members = frozenset(values)  # type: ignore[attr-defined]
        return node
    fns = [i.fn for i in items]
    return _Node(
        f"list({element})",
        lambda v: tuple(f(v) for f in fns),
        sum(i.cost for i in items) + 1,
        any(i.may_fail for i in items),
    )


def _logical(op: str, left: _Node, right: _Node, parts: list) -> _Node:
    for node, tree in ((left, parts[0]), (right, parts[1])):
        if node.type != BOOL:
            raise ExpressionError(
                f"Type error at {_position(tree)}: {op} joins bools, not {node.type}."
            )
    a, b = left.fn, right.fn
    cost = left.cost + right.cost + 1
    may_fail = left.may_fail or right.may_fail
    if not may_fail:
        if op == "&&":
            return _Node(BOOL, lambda v: a(v) and b(v), cost)
        return _Node(BOOL, lambda v: a(v) or b(v), cost)
    # CEL's && and || are commutative over errors: false && error is false whichever side
    # fails, true || error is true.
    absorbing = op == "||"

    def fn(v: dict) -> bool:
        try:
            first = a(v)
        except EvaluationError:
            if b(v) is absorbing:
                return absorbing
            raise
        if first is absorbing:
            return absorbing
        return b(v)

    return _Node(BOOL, fn, cost, True)


_COMPARE = {
    "relation_lt": (operator.lt, "<"),
    "relation_le": (operator.le, "<="),
    "relation_gt": (operator.gt, ">"),
    "relation_ge": (operator.ge, ">="),
    "relation_eq": (operator.eq, "=="),
    "relation_ne": (operator.ne, "!="),
}


def _relation(op: str, left: _Node, right: _Node, where: Tree) -> _Node:
    cost = left.cost + right.cost + 1
    may_fail = left.may_fail or right.may_fail
    if op == "relation_in":
        element = _list_of(right.type)
        if element is None or (element != left.type and element != "dyn"):
            raise ExpressionError(
                f"Type error at {_position(where)}: 'in' tests a {right.type} for a "
                f"{left.type}; it needs a list of {left.type}."
            )
        a = left.fn
        members = getattr(right, "members", None)
        if members is not None:
            return _Node(BOOL, lambda v: a(v) in members, cost, may_fail)
        b = right.fn
        return _Node(BOOL, lambda v: a(v) in b(v), cost, may_fail)
    compare, symbol = _COMPARE[op]
    comparable = left.type == right.type or {left.type, right.type} <= _NUMERIC
    if symbol in ("==", "!="):
        comparable = comparable or NULL in (left.type, right.type)
    elif left.type not in _ORDERED or right.type not in _ORDERED:
        comparable = left.type == right.type == BOOL
    if not comparable:
        raise ExpressionError(
            f"Type error at {_position(where)}: {symbol} is not defined for "
            f"{left.type} and {right.type}."
        )
    a, b = left.fn, right.fn
    if right.is_const:
        constant = right.const
        return _Node(BOOL, lambda v: compare(a(v), constant), cost, may_fail)
    return _Node(BOOL, lambda v: compare(a(v), b(v)), cost, may_fail)


def _checked_int(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise EvaluationError("integer overflow")
    return value


def _arithmetic(op: str, left: _Node, right: _Node, where: Tree) -> _Node:
    symbol = {
        "addition_add": "+",
        "addition_sub": "-",
        "multiplication_mul": "*",
        "multiplication_div": "/",
        "multiplication_mod": "%",
    }[op]
    t = left.type
    ok = left.type == right.type and (
        t in _NUMERIC or (symbol == "+" and (t == STRING or _list_of(t) is not None))
    )
    if symbol == "%" and t == DOUBLE:
        ok = False
    if not ok:
        raise ExpressionError(
            f"Type error at {_position(where)}: {symbol} is not defined for {left.type} and "
            f"{right.type} (CEL never converts: write double(x) or int(x))."
        )
    a, b = left.fn, right.fn
    cost = left.cost + right.cost + 1
    may_fail = left.may_fail or right.may_fail
    if t == INT:
        if symbol == "/":

            def fn(v: dict) -> int:
                x, y = a(v), b(v)
                if y == 0:
                    raise EvaluationError("division by zero")
                q = abs(x) // abs(y)
                return _checked_int(q if (x >= 0) == (y > 0) else -q)

        elif symbol == "%":

            def fn(v: dict) -> int:
                x, y = a(v), b(v)
                if y == 0:
                    raise EvaluationError("modulus by zero")
                # Truncated remainder (the sign of x), in integers: exact at any size.
                remainder = abs(x) % abs(y)
                return remainder if x >= 0 else -remainder

        else:
            python_op = {"+": operator.add, "-": operator.sub, "*": operator.mul}[symbol]
            fn = lambda v: _checked_int(python_op(a(v), b(v)))  # noqa: E731
        return _Node(INT, fn, cost, True)
    if t == DOUBLE:
        python_op = {
            "+": operator.add,
            "-": operator.sub,
            "*": operator.mul,
            "/": _double_div,
        }[symbol]
        return _Node(DOUBLE, lambda v: python_op(a(v), b(v)), cost, may_fail)
    return _Node(t, lambda v: a(v) + b(v), cost, may_fail)


def _double_div(x: float, y: float) -> float:
    if y == 0:
        if x == 0 or x != x:
            return float("nan")
        return float("inf") if (x > 0) == (str(y)[0] != "-") else float("-inf")
    return x / y


def _regex(pattern: str, where: Tree):
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except Exception:  # re2 raises its own error type for a bad pattern
        raise ExpressionError(f"Invalid regular expression at {_position(where)}.") from None


def _call(name: str, args: list[_Node], where: Tree, *, receiver: bool) -> _Node:
    """The functions CEL's standard library defines that rules use."""
    types = [a.type for a in args]
    fns = [a.fn for a in args]
    cost = sum(a.cost for a in args) + 1
    may_fail = any(a.may_fail for a in args)
    call = f"{name}()"

    def refuse() -> ExpressionError:
        shown = ", ".join(types) if types else "nothing"
        return ExpressionError(
            f"Type error at {_position(where)}: no function {call} takes ({shown})."
        )

    if name == "size" and len(args) == 1:
        if types[0] == STRING or _list_of(types[0]) is not None:
            f = fns[0]
            return _Node(INT, lambda v: len(f(v)), cost, may_fail)
        raise refuse()
    if name in ("contains", "startsWith", "endsWith") and receiver and types == [STRING, STRING]:
        f, g = fns
        method = {
            "contains": operator.contains,
            "startsWith": str.startswith,
            "endsWith": str.endswith,
        }[name]
        return _Node(BOOL, lambda v: method(f(v), g(v)), cost, may_fail)
    if name == "matches" and types == [STRING, STRING]:
        if not args[1].is_const:
            raise ExpressionError(
                f"matches() at {_position(where)} needs a literal pattern, so its cost is known."
            )
        pattern = _regex(args[1].const, where)
        f = fns[0]
        return _Node(
            BOOL,
            lambda v: pattern.search(f(v)) is not None,
            cost + len(args[1].const),
            may_fail,
        )
    if name in ("lowerAscii", "upperAscii") and receiver and types == [STRING]:
        f = fns[0]
        table = str.lower if name == "lowerAscii" else str.upper
        return _Node(STRING, lambda v: _ascii_case(f(v), table), cost, may_fail)
    if name == "int" and len(args) == 1 and types[0] in (INT, DOUBLE, STRING):
        f = fns[0]
        return _Node(INT, lambda v: _to_int(f(v)), cost, True)
    if name == "double" and len(args) == 1 and types[0] in (INT, DOUBLE, STRING):
        f = fns[0]
        return _Node(DOUBLE, lambda v: _to_double(f(v)), cost, True)
    if name == "string" and len(args) == 1 and types[0] in (INT, DOUBLE, STRING, BOOL):
        f = fns[0]
        return _Node(STRING, lambda v: _to_string(f(v)), cost, may_fail)
    known = {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "double",
        "string",
        "lowerAscii",
        "upperAscii",
        "has",
    } | _MACROS
    if name not in known:
        raise ExpressionError(
            f"Unknown function {name}() at {_position(where)}: rules may use "
            f"{', '.join(sorted(known))}."
        )
    raise refuse()


def _ascii_case(value: str, change) -> str:
    return "".join(change(c) if c.isascii() else c for c in value)


_INT_TEXT = re.compile(r"^[+-]?[0-9]+$")
_DOUBLE_TEXT = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _to_int(value) -> int:
    """CEL's int(): a double truncated toward zero, or a string of decimal digits (no
    spaces, no digit separators); anything else is an error."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise EvaluationError("not a finite number")
        return _checked_int(int(value))
    if isinstance(value, str):
        if not _INT_TEXT.match(value):
            raise EvaluationError("not an integer")
        return _checked_int(int(value))
    return _checked_int(int(value))


def _to_double(value) -> float:
    """CEL's double(): an int, or a string holding a decimal number."""
    if isinstance(value, str):
        if not _DOUBLE_TEXT.match(value):
            raise EvaluationError("not a number")
        return float(value)
    return float(value)


def _to_string(value) -> str:
    """CEL's string(): a double in its shortest decimal form without an exponent or a
    trailing ".0" (1.0 reads "1"), as the reference interpreter writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


# --- Guards -----------------------------------------------------------------------------------

_GUARD_FIELDS = ("report.reason", "report.source", "report.detector", "subject.kind")


def _guards(tree: Tree) -> dict[str, frozenset[str]]:
    """Literal equalities every match satisfies: top-level ``&&`` terms of the forms
    ``field == "x"`` and ``field in ["x", "y"]`` (every member a string literal) on the fields
    rules are indexed by."""
    guards: dict[str, frozenset[str]] = {}
    for term in _top_level_and_terms(tree):
        found = _guard_of(term)
        if found is None:
            continue
        path, values = found
        guards[path] = guards[path] & values if path in guards else values
    return guards


def _top_level_and_terms(tree: Tree) -> list[Tree]:
    """The relations joined by the expression's outermost ``&&`` chain."""
    node = tree
    # expr -> conditionalor -> conditionaland (only when there is no ?: and no ||).
    if len(_children(node)) != 1:
        return []
    node = _children(node)[0]
    if len(_children(node)) != 1:
        return []
    node = _children(node)[0]
    terms: list[Tree] = []
    while isinstance(node, Tree) and node.data == "conditionaland":
        kids = _children(node)
        if len(kids) == 1:
            terms.append(kids[0])
            break
        terms.append(kids[1])
        node = kids[0]
    return terms


def _reduce(tree):
    """Descend through single-child wrappers to the node that does something."""
    node = tree
    while (
        isinstance(node, Tree)
        and len(_children(node)) == 1
        and node.data
        in (
            "expr",
            "conditionalor",
            "conditionaland",
            "relation",
            "addition",
            "multiplication",
            "unary",
            "member",
            "primary",
        )
    ):
        node = _children(node)[0]
    return node


def _field_path(tree) -> str | None:
    node = _reduce(tree)
    if not (isinstance(node, Tree) and node.data == "member_dot"):
        return None
    target, name = _children(node)
    root = _reduce(target)
    if isinstance(root, Tree) and root.data == "ident":
        path = f"{_children(root)[0]}.{name}"
        return path if path in _GUARD_FIELDS else None
    return None


def _string_literal(tree) -> str | None:
    node = _reduce(tree)
    if isinstance(node, Tree) and node.data == "literal":
        token = _children(node)[0]
        if token.type in ("STRING_LIT", "MLSTRING_LIT"):
            return _decode_string(str(token))
    return None


def _guard_of(term: Tree) -> tuple[str, frozenset[str]] | None:
    kids = _children(term)
    if term.data != "relation" or len(kids) != 2 or not isinstance(kids[0], Tree):
        return None
    operator_tree, right = kids
    path = _field_path(_children(operator_tree)[0])
    if path is None:
        return None
    if operator_tree.data == "relation_eq":
        value = _string_literal(right)
        return (path, frozenset([value])) if value is not None else None
    if operator_tree.data == "relation_in":
        node = _reduce(right)
        if not (isinstance(node, Tree) and node.data == "list_lit" and _children(node)):
            return None
        values = [_string_literal(e) for e in _children(_children(node)[0])]
        if not values or any(v is None for v in values):
            return None
        return path, frozenset(values)
    return None


def _bounds(tree: Tree) -> dict[str, float]:
    """Top-level ``&&`` terms ``field >= number`` or ``field > number``: the highest bound
    per field."""
    bounds: dict[str, float] = {}
    for term in _top_level_and_terms(tree):
        kids = _children(term)
        if term.data != "relation" or len(kids) != 2 or not isinstance(kids[0], Tree):
            continue
        operator_tree, right = kids
        if operator_tree.data not in ("relation_ge", "relation_gt"):
            continue
        left = _reduce(_children(operator_tree)[0])
        if not (isinstance(left, Tree) and left.data == "member_dot"):
            continue
        target, name = _children(left)
        root = _reduce(target)
        if not (isinstance(root, Tree) and root.data == "ident"):
            continue
        value = _reduce(right)
        if not (isinstance(value, Tree) and value.data == "literal"):
            continue
        token = _children(value)[0]
        if token.type not in ("FLOAT_LIT", "INT_LIT"):
            continue
        path = f"{_children(root)[0]}.{name}"
        number = float(str(token)) if token.type == "FLOAT_LIT" else float(int(str(token), 0))
        bounds[path] = max(bounds.get(path, number), number)
    return bounds
