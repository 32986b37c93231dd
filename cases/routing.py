"""Routing: which queue and severity an incoming report gets, and its SLA deadlines.

The rules engine (``detection``) decides; cases does not import it. The engine registers
itself with :func:`register_rule_engine` and is asked once per intake batch
(:meth:`RoutingContext.evaluate`); without one, every report takes its reason's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cases.models import Queue, ReportReason


@dataclass(frozen=True)
class Route:
    queue: Queue
    severity: int
    reason: str
    restricted: bool
    team: str
    rule_id: int | None
    # The team the matching rule escalates the case to at intake ("" for none), and that rule.
    escalate_team: str = ""
    escalate_rule: Any = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleItem:
    """One fresh report of an intake batch, as the rules engine is given it."""

    index: int
    report: Any  # cases.validation.CleanReport
    subject_id: int
    account_id: int | None
    # When the subject and its account were first seen (intake has them from its upsert).
    subject_created_at: datetime | None = None
    account_created_at: datetime | None = None


@dataclass(frozen=True)
class RuleVerdict:
    """What the live rules decided for one report."""

    queue: str | None = None
    severity: int | None = None
    route_severity: int | None = None
    rule_id: int | None = None
    escalate_team: str = ""
    escalate_rule: Any = None
    tags: tuple[str, ...] = field(default_factory=tuple)


class RuleBatch(Protocol):
    verdicts: dict[int, RuleVerdict]

    def record(self, *, actor, placed: list[tuple[int, int, int, bool]], now: datetime) -> None:
        """Record the batch's matches once its reports are stored: ``placed`` holds
        (index, report id, case id, case restricted) per fresh report."""


class RuleEngine(Protocol):
    def evaluate(self, items: list[RuleItem], *, now: datetime) -> RuleBatch: ...


_engines: list[RuleEngine] = []


def register_rule_engine(engine: RuleEngine) -> None:
    """The engine deciding routing (the last registered wins)."""
    _engines[:] = [engine]


class _NoRules:
    verdicts: dict[int, RuleVerdict] = {}

    def record(self, *, actor, placed, now) -> None:
        return None


@dataclass
class RoutingContext:
    """The taxonomy and queues, loaded once per intake batch."""

    reasons: dict[str, ReportReason]
    queues: dict[int, Queue]
    queues_by_slug: dict[str, Queue]

    @classmethod
    def load(cls) -> RoutingContext:
        queues = {q.id: q for q in Queue.objects.select_related("sla_policy")}
        reasons = {r.code: r for r in ReportReason.objects.all()}
        for reason in reasons.values():
            reason.default_queue = queues[reason.default_queue_id]
        return cls(
            reasons=reasons, queues=queues, queues_by_slug={q.slug: q for q in queues.values()}
        )

    def evaluate(self, items: list[RuleItem], *, now: datetime) -> RuleBatch:
        """The rules' verdicts on a batch's fresh reports."""
        if not _engines or not items:
            return _NoRules()
        return _engines[0].evaluate(items, now=now)

    def route(self, *, reason: str, verdict: RuleVerdict | None) -> Route:
        """The rules' verdict applied to the reason's defaults.

        A restricted reason can never be routed out of its team's queue, whatever a rule says:
        that would expose the case to people outside the team.
        """
        entry = self.reasons[reason]
        verdict = verdict or RuleVerdict()
        queue, severity = entry.default_queue, entry.default_severity
        rule_id = None
        if verdict.queue is not None and verdict.queue in self.queues_by_slug:
            queue, rule_id = self.queues_by_slug[verdict.queue], verdict.rule_id
            if verdict.route_severity is not None:
                severity = verdict.route_severity
        if verdict.severity is not None:
            severity = min(severity, verdict.severity)
        escalate_team, escalate_rule = verdict.escalate_team, verdict.escalate_rule
        if entry.restricted and queue.team != entry.restricted_team:
            queue, rule_id, escalate_team, escalate_rule = entry.default_queue, None, "", None
        team = queue.team or (entry.restricted_team if entry.restricted else "")
        return Route(
            queue=queue,
            severity=severity,
            reason=reason,
            restricted=bool(team),
            team=team,
            rule_id=rule_id,
            escalate_team=escalate_team,
            escalate_rule=escalate_rule,
            tags=tuple(verdict.tags),
        )


def deadlines_for(queue: Queue, severity: int, start: datetime) -> tuple[datetime, datetime]:
    """(first action due, resolution due) from the queue's SLA policy."""
    return queue.sla_policy.deadlines(severity, start)
