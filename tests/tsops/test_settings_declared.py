"""Every setting the code reads is declared in tsops/settings.py and listed in the README.

A ``getattr(settings, "X", default)`` hides a setting from whoever deploys TSOps: it has no
environment variable, no validation and no line in the README. These checks read the source
(AST), so they hold for code paths no other test happens to run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.conf import global_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = ROOT / "tsops" / "settings.py"
SKIPPED_DIRS = {"tests", "migrations", ".venv", "node_modules", ".data", ".git"}


def project_modules() -> list[Path]:
    """Every Python file of the project's own packages, tests and migrations excluded."""
    packages = [p.parent for p in ROOT.glob("*/__init__.py") if p.parent.name not in SKIPPED_DIRS]
    files = [ROOT / "manage.py"]
    for package in packages:
        files += [
            path
            for path in package.rglob("*.py")
            if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
        ]
    return sorted(files)


def declared_settings() -> set[str]:
    """Names settings.py assigns at module level, plus Django's own documented defaults."""
    tree = ast.parse(SETTINGS_FILE.read_text())
    names = set()
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id.isupper():
                    names.add(name.id)
    return names | {name for name in dir(global_settings) if name.isupper()}


def _settings_aliases(tree: ast.Module) -> set[str]:
    """Local names bound to ``django.conf.settings`` in a module."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "django.conf":
            aliases |= {a.asname or a.name for a in node.names if a.name == "settings"}
    return aliases


def setting_problems(source: str, declared: set[str]) -> list[str]:
    """What a module does wrong with settings: dynamic reads, or reads of undeclared names."""
    tree = ast.parse(source)
    aliases = _settings_aliases(tree)
    problems = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in aliases
        ):
            problems.append(f"line {node.lineno}: {node.func.id}(settings, …)")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.isupper()
            and node.attr not in declared
        ):
            problems.append(f"line {node.lineno}: settings.{node.attr} is not declared")
    return problems


def test_the_check_finds_dynamic_and_undeclared_reads():
    # The control: without it, an empty result below could mean the scan sees nothing.
    source = (
        "from django.conf import settings as conf\n"
        "a = getattr(conf, 'APPEAL_WINDOW_DAYS', 182)\n"
        "b = conf.NOT_A_SETTING\n"
        "c = conf.APPEAL_WINDOW_DAYS\n"
    )
    problems = setting_problems(source, declared_settings())
    assert problems == [
        "line 2: getattr(settings, …)",
        "line 3: settings.NOT_A_SETTING is not declared",
    ]


def test_every_setting_a_module_reads_is_declared_in_settings_py():
    declared = declared_settings()
    modules = project_modules()
    assert ROOT / "appeals" / "services.py" in modules
    problems = {
        str(path.relative_to(ROOT)): found
        for path in modules
        if (found := setting_problems(path.read_text(), declared))
    }
    assert problems == {}


def environment_variables_of_settings() -> set[str]:
    """The variables settings.py reads through the tsops.config helpers (``env_*("NAME"…)``)."""
    tree = ast.parse(SETTINGS_FILE.read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def readme_configuration_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_environment_variable_is_listed_in_the_readme():
    variables = environment_variables_of_settings()
    assert {"APPEAL_WINDOW_DAYS", "WEBHOOK_MAX_ATTEMPTS", "DATABASE_URL"} <= variables
    assert variables - readme_configuration_variables() == set()
