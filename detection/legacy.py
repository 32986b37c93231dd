"""The old routing table's rules in the engine's terms (the migration and the tests use it).

A routing rule matched when every match field it set was equal (and, with ``min_score``,
when the report was an automated flag scoring at least that); it routed to its queue, set
its severity when it had one, and escalated to its team when it named one.
"""

from __future__ import annotations

import json


def condition_of(rule) -> str:
    terms = []
    for path, value in (
        ("report.source", rule.match_source),
        ("report.reason", rule.match_reason),
        ("subject.kind", rule.match_subject_kind),
        ("report.detector", rule.match_detector),
    ):
        if value:
            terms.append(f"{path} == {json.dumps(value)}")
    if rule.min_score is not None:
        # The old rules skipped reports without a score; only automated flags carry one.
        if not rule.match_source:
            terms.append('report.source == "automated_flag"')
        terms.append(f"report.score >= {float(rule.min_score)!r}")
    return " && ".join(terms) or "true"


def effects_of(rule, queue_slug: str) -> list[dict]:
    route = {"type": "route", "queue": queue_slug}
    if rule.severity is not None:
        route["severity"] = f"P{rule.severity}"
    effects = [route]
    if rule.escalate_team:
        effects.append({"type": "escalate", "team": rule.escalate_team})
    return effects
