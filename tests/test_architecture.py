"""The shape of the code base, checked from its source (AST, no imports of the modules read).

- No module imports another app's views: pages are composed from panels (``cases.panels``).
- The app-level import graph has no cycle, counting every import (also those inside
  functions). Only the project's composition modules (URLs, settings, home, navigation, demo
  data, management commands) may import any app; every other tsops module is below the apps.
- Every timeline event kind has a label, and every kind written anywhere is an ``EventKind``.
- No labels are registered as an import side effect (``LABELS.update``).
- ``Case.status`` is written only by the lifecycle module (``cases.lifecycle``) and by the
  set-based SQL writers it declares (the claim helper and intake), never anywhere else.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cases.timeline import EventKind

ROOT = Path(__file__).resolve().parent.parent
APPS = (
    "tsops",
    "cases",
    "enforcement",
    "escalations",
    "appeals",
    "qa",
    "metrics",
    "workspace",
    "investigations",
)
# Modules that assemble the project from its apps: they may import any app.
COMPOSITION = {"tsops.urls", "tsops.settings", "tsops.home", "tsops.navigation", "tsops.demo"}
COMPOSITION_PACKAGES = ("tsops.management",)
# Written rows come from these too (benchmark seeding), though they are no app.
KIND_WRITERS = (*APPS, "bench")
KIND_CODE = re.compile(r"^[A-Z]+(_[A-Z]+)+$")
SQL_KIND = re.compile(r"'([A-Z]+(?:_[A-Z]+)+)'")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    path: str  # file, relative to the repository
    line: int
    target: str  # dotted module (or module.attribute) imported


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files(packages=APPS) -> list[Path]:
    files = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or "tests" in path.parts:
                continue
            files.append(path)
    return files


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path) -> list[Import]:
    """Every import in the file, at any depth; ``from a import b`` names ``a.b`` when b is a
    module, else ``a``."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        rel = str(path.relative_to(ROOT))
        found.extend(Import(module, rel, node.lineno, t) for t in dict.fromkeys(targets))
    return found


def _app_of(dotted: str) -> str | None:
    top = dotted.split(".")[0]
    return top if top in APPS else None


def _is_composition(module: str) -> bool:
    return module in COMPOSITION or module.startswith(tuple(p + "." for p in COMPOSITION_PACKAGES))


def _all_imports() -> list[Import]:
    return [i for path in _project_files() for i in _imports(path)]


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of the graph as closed paths of nodes (``[a, b, a]``), one through each edge
    that lies on a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)

    # For every edge inside a component, the shortest cycle through it: each edge that keeps
    # the graph cyclic is named, not only the first one found.
    cycles: list[list[str]] = []
    for component in components:
        for source in sorted(component):
            for target in sorted(edges[source] & component):
                back = _shortest_path(edges, target, source, component)
                cycle = [source, *back]
                if cycle not in cycles:
                    cycles.append(cycle)
    return cycles


def _shortest_path(edges: dict[str, set[str]], start: str, end: str, within: set[str]):
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == end:
            return paths[node]
        for nxt in sorted(edges.get(node, ())):
            if nxt in within and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"{end} not reachable from {start} inside its component")


def test_find_cycles_finds_a_cycle_and_only_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c", "a"],
        ["b", "c", "a", "b"],
        ["c", "a", "b", "c"],
    ]
    assert find_cycles({"a": {"a"}}) == [["a", "a"]]


def test_no_module_imports_another_apps_views():
    offending = [
        f"{i.path}:{i.line} {i.importer} imports {i.target}"
        for i in _all_imports()
        if not _is_composition(i.importer)
        and _app_of(i.target) not in (None, _app_of(i.importer))
        and i.target.split(".")[-1].endswith("views")
    ]
    assert not offending, "Compose pages from panels instead:\n" + "\n".join(offending)


def test_the_app_import_graph_has_no_cycle():
    edges: dict[str, set[str]] = defaultdict(set)
    examples: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for i in _all_imports():
        source, target = _app_of(i.importer), _app_of(i.target)
        if _is_composition(i.importer) or target in (None, source):
            continue
        edges[source].add(target)
        examples[(source, target)].append(i)
    cycles = find_cycles(edges)
    report = []
    for cycle in cycles:
        report.append(" -> ".join(cycle))
        for source, target in zip(cycle, cycle[1:], strict=False):
            seen = examples[(source, target)]
            for i in seen[:3]:
                report.append(f"    {source} -> {target}: {i.path}:{i.line} imports {i.target}")
            if len(seen) > 3:
                report.append(f"    {source} -> {target}: and {len(seen) - 3} more imports")
    assert not cycles, "App import cycles:\n" + "\n".join(report)


def test_tsops_modules_other_than_composition_import_no_app():
    offending = [
        f"{i.path}:{i.line} {i.importer} imports {i.target}"
        for i in _all_imports()
        if _app_of(i.importer) == "tsops"
        and not _is_composition(i.importer)
        and _app_of(i.target) not in (None, "tsops")
    ]
    assert not offending, "tsops is below every app:\n" + "\n".join(offending)


def test_every_event_kind_has_a_label():
    for kind in EventKind:
        assert kind.label and kind.label != kind.value, kind


def _string(node: ast.AST) -> str | None:
    """The text of a string literal or of an f-string's literal parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_string(v) or "" for v in node.values)
    return None


def _kind_argument(call: ast.Call) -> ast.AST | None:
    """The kind a call writes to the timeline: ``record(case, kind, ...)``,
    ``CaseEvent(kind=...)``, ``CaseEvent.objects.create(kind=...)``."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    dotted = ast.unparse(func)
    keyword = next((k.value for k in call.keywords if k.arg == "kind"), None)
    if name == "record" and ("timeline" in dotted or dotted == "record"):
        return call.args[1] if len(call.args) > 1 else keyword
    if dotted in ("CaseEvent", "CaseEvent.objects.create"):
        return keyword
    return None


def _kinds_written() -> list[tuple[str, str]]:
    """(where, kind) for every kind written as a literal, an EventKind member or in SQL."""
    written = []
    for path in _project_files(KIND_WRITERS):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                argument = _kind_argument(node)
                text = _string(argument) if argument is not None else None
                if text is not None and KIND_CODE.match(text):
                    written.append((where, text))
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "EventKind"
                and KIND_CODE.match(node.attr)
            ):
                written.append((where, node.attr))
            else:
                text = _string(node)
                if text and re.search(r"INSERT\s+INTO\s+cases_caseevent", text, re.I):
                    written.extend((where, kind) for kind in SQL_KIND.findall(text))
    return written


def test_every_kind_written_is_an_event_kind():
    written = _kinds_written()
    # The scan sees the writers it is meant to see (the services, and SQL seeding).
    assert any(kind == "ESCALATION_RAISED" for _, kind in written)
    assert any(where.startswith("bench/") for where, _ in written)
    unknown = [f"{where} {kind}" for where, kind in written if kind not in EventKind.values]
    assert not unknown, "Kinds written without an EventKind member:\n" + "\n".join(unknown)


def test_no_labels_registered_as_an_import_side_effect():
    offending = [
        str(path.relative_to(ROOT))
        for path in _project_files(KIND_WRITERS)
        if "LABELS.update" in path.read_text()
    ]
    assert not offending, "Labels belong on EventKind:\n" + "\n".join(offending)


# Where Case.status may be written: the lifecycle module, and the SQL writers it declares
# (tsops.claims runs the claim and lease-expiry statements for cases.lifecycle.CASE_WORK;
# intake's batch UPDATE makes the INTAKE_RESTRICT move).
STATUS_WRITERS = {"cases/lifecycle.py"}
SQL_STATUS_WRITERS = {"tsops/claims.py", "cases/intake.py"}
CASE_STATUS_SQL = re.compile(r"UPDATE\s+cases_case\b[^;]*\bSET\b[^;]*\bstatus\s*=", re.I | re.S)


def _mentions_case_status(node: ast.AST) -> bool:
    """``Case.Status…`` anywhere in the expression."""
    return any(
        isinstance(sub, ast.Attribute)
        and sub.attr == "Status"
        and isinstance(sub.value, ast.Name)
        and sub.value.id == "Case"
        for sub in ast.walk(node)
    )


def _assigned_statuses(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    if isinstance(node, ast.Assign):
        return [(target, node.value) for target in node.targets]
    if isinstance(node, ast.AugAssign | ast.AnnAssign) and node.value is not None:
        return [(node.target, node.value)]
    return []


def _writes_status_by_assignment(node: ast.AST) -> bool:
    for target, value in _assigned_statuses(node):
        if isinstance(target, ast.Attribute) and target.attr == "status":
            owner = target.value
            if (isinstance(owner, ast.Name) and "case" in owner.id.lower()) or (
                _mentions_case_status(value)
            ):
                return True
    return False


def _writes_status_by_query(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr not in ("update", "create", "bulk_update", "update_or_create"):
        return False
    receiver = ast.unparse(node.func.value)
    writes = any(k.arg == "status" for k in node.keywords) or any(
        "'status'" in ast.unparse(a) for a in node.args
    )
    return writes and "case" in receiver.lower()


def _writes_status_by_sql(node: ast.AST) -> bool:
    text = _string(node) if isinstance(node, ast.Constant | ast.JoinedStr) else None
    return bool(text and CASE_STATUS_SQL.search(text))


def case_status_writes(source: str, name: str) -> list[str]:
    """Every write of a case's status in ``source`` (reported as ``name:line``)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if _writes_status_by_assignment(node):
            found.append(f"{name}:{node.lineno} assigns .status")
        if _writes_status_by_query(node):
            found.append(f"{name}:{node.lineno} {node.func.attr}(status=...)")
        if _writes_status_by_sql(node) and name not in SQL_STATUS_WRITERS:
            found.append(f"{name}:{node.lineno} SQL sets cases_case.status")
    return found


def test_case_status_is_written_only_by_the_lifecycle_module():
    offending = []
    for path in _project_files():
        name = str(path.relative_to(ROOT))
        if name not in STATUS_WRITERS:
            offending += case_status_writes(path.read_text(), name)
    assert not offending, "Case.status written outside cases.lifecycle:\n" + "\n".join(offending)


def test_the_status_write_check_catches_each_form():
    """The check itself: an assignment, an update() and an SQL statement are all caught."""
    sample = (
        "def f(case, Case):\n"
        "    case.status = 'resolved'\n"
        "    Case.objects.filter(pk=1).update(status=Case.Status.NEW)\n"
        "    sql = 'UPDATE cases_case SET status = %s WHERE id = %s'\n"
    )
    assert len(case_status_writes(sample, "cases/sample.py")) == 3
    assert len(case_status_writes(sample, "cases/intake.py")) == 2  # its SQL is declared


# Functions read like the steps they do (STYLE.md): past ~60 lines the steps get names, and
# none passes this. Demo data (long literal tables) and migrations are exempt.
MAX_FUNCTION_LINES = 80


def _is_demo_data(path: Path) -> bool:
    return path.name == "demo.py" or path.name.startswith("demo_")


def function_lengths(source: str, name: str) -> list[tuple[str, int]]:
    """(``name:line qualified.name``, length) of every function and method in ``source``,
    nested ones too; the length counts lines from ``def`` to the last line of the body,
    docstring included (decorators not)."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qualified = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                found.append((f"{name}:{child.lineno} {qualified}", length))
                visit(child, f"{qualified}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source, filename=name), "")
    return found


def test_the_function_length_count_is_right():
    """The check itself: a method counts from its ``def`` to its last line, docstring and
    blank lines inside included, decorators and what follows not."""
    sample = (
        "class A:\n"
        "    @property\n"
        "    def f(self):\n"
        '        """Doc."""\n'
        "\n"
        "        def g():\n"
        "            return 1\n"
        "        return g()\n"
        "\n"
        "\n"
        "x = 1\n"
    )
    assert function_lengths(sample, "m.py") == [("m.py:3 A.f", 6), ("m.py:6 A.f.g", 2)]


def test_no_function_is_longer_than_the_limit():
    offending = [
        f"{where} is {length} lines"
        for path in _project_files()
        if not _is_demo_data(path)
        for where, length in function_lengths(path.read_text(), str(path.relative_to(ROOT)))
        if length > MAX_FUNCTION_LINES
    ]
    assert not offending, (
        f"Functions over {MAX_FUNCTION_LINES} lines (name their steps):\n" + "\n".join(offending)
    )
