"""Routing: which queue and severity an incoming report gets, and its SLA deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cases.models import Queue, ReportReason, RoutingRule


@dataclass(frozen=True)
class Route:
    queue: Queue
    severity: int
    reason: str
    restricted: bool
    team: str
    rule_id: int | None
    # The team the matching rule escalates the case to at intake ("" for none).
    escalate_team: str = ""


@dataclass
class RoutingContext:
    """The taxonomy, rules and queues, loaded once per intake batch."""

    reasons: dict[str, ReportReason]
    rules: list[RoutingRule]
    queues: dict[int, Queue]

    @classmethod
    def load(cls) -> RoutingContext:
        queues = {q.id: q for q in Queue.objects.select_related("sla_policy")}
        reasons = {r.code: r for r in ReportReason.objects.all()}
        for reason in reasons.values():
            reason.default_queue = queues[reason.default_queue_id]
        rules = list(RoutingRule.objects.filter(enabled=True).order_by("position", "id"))
        for rule in rules:
            rule.queue = queues[rule.queue_id]
        return cls(reasons=reasons, rules=rules, queues=queues)

    def route(
        self, *, source: str, reason: str, subject_kind: str, detector: str, score: float | None
    ) -> Route:
        """The first matching enabled rule decides; else the reason's defaults.

        A restricted reason can never be routed out of its team's queue, whatever
        a rule says: that would expose the case to people outside the team.
        """
        entry = self.reasons[reason]
        queue, severity, rule_id = entry.default_queue, entry.default_severity, None
        escalate_team = ""
        for rule in self.rules:
            if rule.match_source and rule.match_source != source:
                continue
            if rule.match_reason and rule.match_reason != reason:
                continue
            if rule.match_subject_kind and rule.match_subject_kind != subject_kind:
                continue
            if rule.match_detector and rule.match_detector != detector:
                continue
            if rule.min_score is not None and (score is None or score < rule.min_score):
                continue
            queue = rule.queue
            severity = rule.severity if rule.severity is not None else entry.default_severity
            rule_id = rule.id
            escalate_team = rule.escalate_team
            break
        if entry.restricted and queue.team != entry.restricted_team:
            queue, rule_id, escalate_team = entry.default_queue, None, ""
        team = queue.team or (entry.restricted_team if entry.restricted else "")
        return Route(
            queue=queue,
            severity=severity,
            reason=reason,
            restricted=bool(team),
            team=team,
            rule_id=rule_id,
            escalate_team=escalate_team,
        )


def deadlines_for(queue: Queue, severity: int, start: datetime) -> tuple[datetime, datetime]:
    """(first action due, resolution due) from the queue's SLA policy."""
    return queue.sla_policy.deadlines(severity, start)
