"""Rule effects: what a matching rule does, checked when saved and combined at intake.

Effects are JSON objects, one of::

    {"type": "route", "queue": "spam"}                      (optionally "severity": "P2")
    {"type": "severity", "severity": "P1"}
    {"type": "tag", "tag": "gift-card-ring"}
    {"type": "escalate", "team": "threats"}
    {"type": "action", "action": "remove_content", "delay_hours": 0}
                                     (optionally "section": "SPAM-1.2", "duration_hours": 24)

How the effects of every matching rule combine for one report (:func:`combine`), in rule
order (``position``):

- the first rule with a ``route`` decides the queue, and its severity when it names one
  (else the reason's default);
- ``severity`` effects can only make the report more urgent than that;
- the first ``escalate`` wins;
- tags add up; every ``action`` is asked for (scheduled when its type is in
  ``TSOPS_RULE_AUTO_ACTIONS``, else proposed for a human).

A routing rule migrated from the old routing table is one rule with a route (and its
severity and escalation), so the first matching one decides everything, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

from cases.models import Queue, Severity
from enforcement.catalogue import ACTIONS
from enforcement.models import PolicySection
from tsops.roles import team_labels

MAX_EFFECTS = 20
_TAG = re.compile(r"^[a-z0-9][a-z0-9_:\-]{0,39}$")
TYPES = ("route", "severity", "tag", "escalate", "action")
_SEVERITIES = {f"P{value}": value for value in Severity.values}


def validate_effects(raw) -> tuple[list[dict], dict]:
    """The effects as stored (normalised), and the errors by position ({} when valid)."""
    if not isinstance(raw, list):
        return [], {"effects": ['A list of effects, e.g. [{"type": "tag", "tag": "x"}].']}
    if len(raw) > MAX_EFFECTS:
        return [], {"effects": [f"At most {MAX_EFFECTS} effects."]}
    clean: list[dict] = []
    errors: dict[str, list[str]] = {}
    queues = set(Queue.objects.values_list("slug", flat=True))
    for index, effect in enumerate(raw):
        problem, normal = _validate_one(effect, queues)
        if problem:
            errors[f"effects[{index}]"] = [problem]
        else:
            clean.append(normal)
    kinds = [e["type"] for e in clean]
    if not errors and kinds.count("route") > 1:
        errors["effects"] = ["One route per rule: a report goes to one queue."]
    return clean, errors


def _validate_one(effect, queues: set[str]) -> tuple[str, dict]:
    if not isinstance(effect, dict):
        return 'Each effect is an object with a "type".', {}
    kind = effect.get("type")
    if kind not in TYPES:
        return f"Unknown effect type {kind!r}: one of {', '.join(TYPES)}.", {}
    allowed = {
        "route": {"type", "queue", "severity"},
        "severity": {"type", "severity"},
        "tag": {"type", "tag"},
        "escalate": {"type", "team"},
        "action": {"type", "action", "delay_hours", "section", "duration_hours"},
    }[kind]
    unknown = sorted(set(effect) - allowed)
    if unknown:
        return f"Unknown field {unknown[0]!r} for a {kind} effect.", {}
    if kind == "route":
        if effect.get("queue") not in queues:
            return f"No queue {effect.get('queue')!r}.", {}
        normal = {"type": "route", "queue": effect["queue"]}
        if "severity" in effect:
            if effect["severity"] not in _SEVERITIES:
                return f"Severity is one of {', '.join(_SEVERITIES)}.", {}
            normal["severity"] = effect["severity"]
        return "", normal
    if kind == "severity":
        if effect.get("severity") not in _SEVERITIES:
            return f"Severity is one of {', '.join(_SEVERITIES)}.", {}
        return "", {"type": "severity", "severity": effect["severity"]}
    if kind == "tag":
        tag = effect.get("tag")
        if not isinstance(tag, str) or not _TAG.match(tag):
            return "A tag is 1–40 lower-case letters, digits, '-', '_' or ':'.", {}
        return "", {"type": "tag", "tag": tag}
    if kind == "escalate":
        if effect.get("team") not in team_labels():
            return f"No team {effect.get('team')!r}.", {}
        return "", {"type": "escalate", "team": effect["team"]}
    return _validate_action(effect)


def _validate_action(effect: dict) -> tuple[str, dict]:
    action = effect.get("action")
    spec = ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None:
        return f"Unknown action {action!r}: one of {', '.join(ACTIONS)}.", {}
    delay = effect.get("delay_hours", 0)
    if (
        not isinstance(delay, int)
        or isinstance(delay, bool)
        or not 0 <= delay <= settings.TSOPS_RULE_MAX_DELAY_HOURS
    ):
        return f"delay_hours is a whole number from 0 to {settings.TSOPS_RULE_MAX_DELAY_HOURS}.", {}
    normal = {"type": "action", "action": action, "delay_hours": delay}
    if "section" in effect:
        section = effect["section"]
        if not isinstance(section, str) or not PolicySection.objects.filter(code=section).exists():
            return f"No policy section {section!r}.", {}
        normal["section"] = section
    if spec.needs_feature:
        return f"{action} needs a feature chosen by a human: a rule cannot ask for it.", {}
    if spec.needs_duration or "duration_hours" in effect:
        duration = effect.get("duration_hours")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 1:
            return f"{action} needs duration_hours (a whole number of hours).", {}
        if spec.max_duration_hours and duration > spec.max_duration_hours:
            return f"{action} lasts at most {spec.max_duration_hours} hours.", {}
        normal["duration_hours"] = duration
    return "", normal


def is_automatic(effect: dict) -> bool:
    """Whether an action effect may be applied without a human (else it is proposed)."""
    return effect["action"] in settings.TSOPS_RULE_AUTO_ACTIONS


@dataclass
class Combined:
    """The effects of every matching live rule on one report, combined."""

    queue: str | None = None
    route_severity: int | None = None
    route_rule: object | None = None
    severity: int | None = None
    escalate_team: str = ""
    escalate_rule: object | None = None
    tags: list[str] = field(default_factory=list)
    actions: list[tuple[object, object, dict]] = field(default_factory=list)


def combine(matches: list[tuple[object, object, list[dict]]]) -> Combined:
    """Combine ``(rule, version, effects)`` of the matching rules, in rule order."""
    out = Combined()
    for rule, version, effects in matches:
        for effect in effects:
            kind = effect["type"]
            if kind == "route" and out.queue is None:
                out.queue, out.route_rule = effect["queue"], rule
                if "severity" in effect:
                    out.route_severity = _SEVERITIES[effect["severity"]]
            elif kind == "severity":
                value = _SEVERITIES[effect["severity"]]
                out.severity = value if out.severity is None else min(out.severity, value)
            elif kind == "escalate" and not out.escalate_team:
                out.escalate_team, out.escalate_rule = effect["team"], rule
            elif kind == "tag" and effect["tag"] not in out.tags:
                out.tags.append(effect["tag"])
            elif kind == "action":
                out.actions.append((rule, version, effect))
    return out


def severity_label(value: int) -> str:
    return f"P{value}"
