"""axe-core in the browser tests: find the accessibility violations of the page a test has open.

axe-core is vendored from npm as a test asset (tests/browser/assets/axe-core/, see its
README); it is never served to users. It is put into the page through the DevTools protocol
(``page.evaluate``), which the page's Content-Security-Policy does not apply to, so the policy
stays as strict in the tests as for users (``add_script_tag`` would be an inline script, which
the policy rightly refuses).

Any browser test can check the page it has open::

    from tests.browser.axe import assert_no_serious_violations

    assert_no_serious_violations(page, "appeal page")

A test that checks many pages loads axe-core once for its browser context with
:func:`install_axe` and collects :func:`violations` page by page (tests/browser/
test_accessibility.py does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

AXE_SOURCE = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"
# axe-core's impact levels, from least to most severe; the console allows none of the last two.
IMPACTS = ("minor", "moderate", "serious", "critical")
FAILING_IMPACTS = ("serious", "critical")
# How many of a rule's offending elements a failure message shows.
SHOWN_NODES = 4

_source: str | None = None

# Run every rule axe-core enables by default (WCAG 2.0-2.2 A/AA and best practices) on the
# whole document; only violations come back, each node's selector and HTML included.
RUN_AXE = """async () => {
  const result = await window.axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({
      target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t).join(' '),
      html: n.html, impact: n.impact, summary: n.failureSummary || '',
    })),
  }));
}"""


@dataclass(frozen=True)
class Violation:
    """One axe-core rule broken on one page, with the elements that break it."""

    page: str
    rule: str
    impact: str
    help: str
    help_url: str
    nodes: tuple[dict, ...]

    def describe(self, shown: int = SHOWN_NODES) -> str:
        lines = [
            f"{self.page}: {self.rule} ({self.impact}, {len(self.nodes)} element"
            f"{'s' if len(self.nodes) != 1 else ''}) {self.help} <{self.help_url}>"
        ]
        for node in self.nodes[:shown]:
            detail = node["summary"].replace("\n", " ").strip()
            lines.append(f"    {node['target']}  {_short(node['html'])}")
            if detail:
                lines.append(f"        {_short(detail, 220)}")
        if len(self.nodes) > shown:
            lines.append(f"    … and {len(self.nodes) - shown} more")
        return "\n".join(lines)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def axe_source() -> str:
    global _source
    if _source is None:
        _source = AXE_SOURCE.read_text(encoding="utf-8")
    return _source


def install_axe(context) -> None:
    """Load axe-core into every page the browser context opens from now on (an init script,
    which Chromium keeps compiled: cheaper than :func:`inject_axe` on each page)."""
    context.add_init_script(script=axe_source())


def inject_axe(page) -> None:
    """Load axe-core into the open page, unless it is there already."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The source as an expression evaluated in the page's main world, not a <script>.
        page.evaluate(axe_source() + "\n;undefined")


def violations(page, label: str, impacts=FAILING_IMPACTS) -> list[Violation]:
    """The open page's violations whose impact is in ``impacts`` (serious and critical)."""
    inject_axe(page)
    found = []
    for rule in page.evaluate(RUN_AXE):
        nodes = tuple(n for n in rule["nodes"] if (n["impact"] or rule["impact"]) in impacts)
        if nodes:
            found.append(
                Violation(
                    page=label,
                    rule=rule["id"],
                    impact=rule["impact"],
                    help=rule["help"],
                    help_url=rule["helpUrl"],
                    nodes=nodes,
                )
            )
    return found


def failing(found: list[Violation]) -> tuple[list[Violation], list[Violation]]:
    """``found`` split into the serious or critical violations and the rest."""
    bad = [v for v in found if v.impact in FAILING_IMPACTS]
    return bad, [v for v in found if v.impact not in FAILING_IMPACTS]


def report(found: list[Violation]) -> str:
    """A failure message: every page, rule and the first few offending elements."""
    pages = {v.page for v in found}
    nodes = sum(len(v.nodes) for v in found)
    head = (
        f"{len(found)} serious or critical accessibility violation"
        f"{'s' if len(found) != 1 else ''} ({nodes} elements) on {len(pages)} page"
        f"{'s' if len(pages) != 1 else ''}:"
    )
    return "\n".join([head, *(v.describe() for v in found)])


def assert_no_serious_violations(page, label: str) -> None:
    """Fail when axe-core finds a serious or critical violation on the open page."""
    found = violations(page, label)
    assert not found, report(found)
