"""The rules engine: which rule versions match a report, at intake and in backtests.

Intake asks :class:`IntakeRules` (registered with ``cases.routing``) once per batch: it loads
the live and shadow versions, builds every report's inputs (:mod:`detection.inputs`), and
evaluates each version in rule order. Live matches decide routing, severity, tags, escalation
and actions (:func:`detection.effects.combine`); shadow matches are only recorded. Once the
batch's reports are stored, :meth:`IntakeBatch.record` writes the hits and the actions the
rules asked for, in the batch's transaction.

Compiled expressions are cached by version id: versions never change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app
from django.db import connection, transaction

from cases.routing import RuleItem, RuleVerdict
from cases.timeline import EventKind
from detection.effects import combine, is_automatic
from detection.expressions import Compiled, EvaluationError, compile_expression
from detection.inputs import ReportFacts, build_inputs
from detection.models import Rule, RuleAction, RuleHit, RuleVersion
from tsops.broker import kick

_compiled: dict[int, Compiled] = {}


def compiled_for(version: RuleVersion) -> Compiled:
    """The version's compiled expression (checked when it was saved; cached for good)."""
    found = _compiled.get(version.pk)
    if found is None:
        # Saved versions passed the limit in force then; a later, lower limit must not make
        # intake fail on them, so they compile without one.
        found = compile_expression(version.expression, cost_limit=10**9)
        _compiled[version.pk] = found
    return found


@dataclass
class Entry:
    """One version the engine evaluates, and whether its effects apply."""

    rule: Rule
    version: RuleVersion
    live: bool
    compiled: Compiled
    guards: tuple[tuple[str, frozenset[str]], ...] = ()

    def __post_init__(self) -> None:
        self.guards = tuple(self.compiled.guards.items())
        self._fn = self.compiled.fn

    def matches(self, inputs: dict) -> bool:
        for path, values in self.guards:
            if inputs[path] not in values:
                return False
        # As Compiled.evaluate, called once per candidate rule of every report.
        try:
            return self._fn(inputs) is True
        except EvaluationError:
            return False


_NONE: frozenset = frozenset()

# The live rule set and the rule rows it was built from (RuleSet.live).
_live_cache: tuple[tuple, RuleSet] | None = None


@dataclass
class RuleSet:
    """Versions to evaluate, in rule order (``position``, then id).

    Most rules guard on one categorical input (``report.reason == "spam"``, ``report.source in
    [...]``): the set is indexed by the input guarded most often, so a report is only tried
    against the versions that could match its value, still in rule order."""

    entries: list[Entry]
    _path: str | None = field(init=False, default=None)
    _unguarded: tuple[Entry, ...] = field(init=False, default=())
    _by_value: dict[str, tuple[Entry, ...]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # Every input some entry reads.
        self.fields: frozenset[str] = frozenset().union(
            *(entry.compiled.fields for entry in self.entries)
        )
        counts = Counter(path for entry in self.entries for path, _ in entry.guards)
        if not counts:
            return
        self._path = path = counts.most_common(1)[0][0]
        unguarded, by_value = [], {}
        for index, entry in enumerate(self.entries):
            values = dict(entry.guards).get(path)
            if values is None:
                unguarded.append(index)
            else:
                for value in values:
                    by_value.setdefault(value, []).append(index)
        self._unguarded = tuple(self.entries[i] for i in unguarded)
        self._by_value = {
            value: tuple(self.entries[i] for i in sorted(set(unguarded) | set(indexes)))
            for value, indexes in by_value.items()
        }

    @classmethod
    def live(cls) -> RuleSet:
        """The active versions of active rules and the shadow versions of shadow and active
        rules. Every intake batch asks: the set is kept per process and reused while the rules'
        rows are unchanged, column for column (one plain query); versions never change."""
        global _live_cache
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT * FROM detection_rule WHERE state IN (%s, %s) ORDER BY id",
                [Rule.State.ACTIVE, Rule.State.SHADOW],
            )
            fingerprint = tuple(cursor.fetchall())
        cached = _live_cache
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        # Loaded after the fingerprint, so it is at least as new: a change in between only
        # makes the next batch load again.
        ruleset = cls._load()
        _live_cache = (fingerprint, ruleset)
        return ruleset

    @classmethod
    def _load(cls) -> RuleSet:
        rules = Rule.objects.filter(
            state__in=[Rule.State.ACTIVE, Rule.State.SHADOW]
        ).select_related("active_version", "shadow_version")
        entries = []
        for rule in sorted(rules, key=lambda r: (r.position, r.pk)):
            if rule.state == Rule.State.ACTIVE and rule.active_version is not None:
                entries.append(
                    Entry(rule, rule.active_version, True, compiled_for(rule.active_version))
                )
            if rule.shadow_version is not None:
                entries.append(
                    Entry(rule, rule.shadow_version, False, compiled_for(rule.shadow_version))
                )
        return cls(entries)

    @classmethod
    def of(cls, pairs: list[tuple[Rule, RuleVersion, bool]]) -> RuleSet:
        return cls(
            [Entry(rule, version, live, compiled_for(version)) for rule, version, live in pairs]
        )

    def candidates(self, inputs: dict) -> tuple[Entry, ...] | list[Entry]:
        """The entries whose indexed guard admits this report (all of them when none is)."""
        if self._path is None:
            return self.entries
        return self._by_value.get(inputs[self._path], self._unguarded)

    def evaluate(self, inputs: dict, snoozed: frozenset = frozenset()) -> list[Entry]:
        """The entries matching one report's inputs; ``snoozed`` holds the rule ids silenced
        for this report's subject or account."""
        if snoozed:
            return [
                entry
                for entry in self.candidates(inputs)
                if entry.rule.pk not in snoozed and entry.matches(inputs)
            ]
        return [entry for entry in self.candidates(inputs) if entry.matches(inputs)]


def snoozes_for(subject_ids: set[int], now: datetime) -> dict[int, set[int]]:
    """Rule ids snoozed per subject id (accounts and items), at ``now``."""
    if not subject_ids:
        return {}
    found: dict[int, set[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rule_id, subject_id FROM detection_rulesnooze WHERE subject_id = ANY(%s) "
            "AND until > %s AND lifted_at IS NULL",
            [sorted(subject_ids), now],
        )
        for rule_id, subject_id in cursor.fetchall():
            found.setdefault(subject_id, set()).add(rule_id)
    return found


# --- Intake -----------------------------------------------------------------------------------


def _facts_for(items: list[RuleItem], now: datetime) -> list[ReportFacts]:
    subject_ids = sorted({item.subject_id for item in items})
    with connection.cursor() as cursor:
        # The open case's report count by subject (its partial unique index answers it).
        cursor.execute(
            "SELECT subject_id, report_count FROM cases_case "
            "WHERE subject_id = ANY(%s) AND status <> 'resolved'",
            [subject_ids],
        )
        open_counts = dict(cursor.fetchall())
    facts = []
    # Reports of this batch on the same subject count too: the second one of a batch is
    # judged as a second report, as it would be sent alone.
    earlier_in_batch: dict[int, int] = {}
    hashes: dict[str, str] = {}
    for item in items:
        clean = item.report
        open_reports = open_counts.get(item.subject_id, 0)
        open_reports += earlier_in_batch.get(item.subject_id, 0)
        earlier_in_batch[item.subject_id] = earlier_in_batch.get(item.subject_id, 0) + 1
        if clean.reporter_id not in hashes:
            hashes[clean.reporter_id] = _reporter_hash(clean.reporter_id)
        facts.append(
            ReportFacts(
                at=now,
                received_at=clean.received_at or now,
                source=clean.source,
                reason=clean.reason,
                detector=clean.detector,
                score=clean.score,
                text_length=len(clean.text or ""),
                media_count=len(clean.media or ()),
                subject_id=item.subject_id,
                subject_kind=clean.subject_kind,
                subject_created_at=clean.content_created_at or item.subject_created_at,
                account_id=item.account_id,
                reporter_hash=hashes[clean.reporter_id],
                open_case_reports=open_reports,
            )
        )
    return facts


def _reporter_hash(reporter_id: str) -> str:
    from cases.identifiers import hash_for_text

    return hash_for_text(reporter_id) if reporter_id else ""


@dataclass
class IntakeBatch:
    """The rules' verdicts on one batch, and what to record once its reports are stored."""

    verdicts: dict[int, RuleVerdict]
    matches: dict[int, list[Entry]] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)

    def record(self, *, actor, placed: list[tuple[int, int, int, bool]], now: datetime) -> None:
        if not self.matches:
            return
        hits, actions = [], []
        for index, report_id, case_id, restricted in placed:
            for entry in self.matches.get(index, ()):
                effects = entry.version.effects
                hits.append((entry, report_id, case_id))
                if entry.live:
                    for effect in effects:
                        if effect["type"] == "action":
                            actions.append(
                                (entry, report_id, case_id, restricted, effect, self.reasons[index])
                            )
        _hits_insert(hits, now)
        if actions:
            _actions_request(actions, now)


def _hits_insert(hits: list[tuple[Entry, int, int]], now: datetime) -> None:
    """One statement for the batch's hits; each takes its version's effects in the database."""
    if not hits:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO detection_rulehit (rule_id, version_id, report_id, case_id, mode, "
            "effects, at) SELECT v.rule_id, v.id, t.rep, t.c, t.m, v.effects, %s FROM unnest("
            "%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) AS t(v, rep, c, m) "
            "JOIN detection_ruleversion v ON v.id = t.v",
            [
                now,
                [entry.version.pk for entry, _, _ in hits],
                [report_id for _, report_id, _ in hits],
                [case_id for _, _, case_id in hits],
                [RuleHit.Mode.LIVE if entry.live else RuleHit.Mode.SHADOW for entry, _, _ in hits],
            ],
        )


def _actions_request(actions, now: datetime) -> None:
    """Schedule (low-impact, on a case open to everyone) or propose each action asked for:
    once per case, version and action type while pending."""
    from cases import timeline
    from detection.services.rule_actions import section_for

    due_now = False
    sections: dict[tuple[str, str], object] = {}
    for entry, report_id, case_id, restricted, effect, reason in actions:
        key = (reason, effect.get("section", ""))
        if key not in sections:
            sections[key] = section_for(*key)
        # Restricted cases are their team's to decide, and an action without a policy section
        # to rest on needs a human: both are proposed instead.
        automatic = is_automatic(effect) and not restricted and sections[key] is not None
        status = RuleAction.Status.SCHEDULED if automatic else RuleAction.Status.PROPOSED
        due_at = now + timedelta(hours=effect.get("delay_hours", 0)) if automatic else None
        exists = RuleAction.objects.filter(
            version=entry.version,
            case_id=case_id,
            action_type=effect["action"],
            status__in=[RuleAction.Status.SCHEDULED, RuleAction.Status.PROPOSED],
        ).exists()
        if exists:
            continue
        action = RuleAction.objects.create(
            rule=entry.rule,
            version=entry.version,
            case_id=case_id,
            report_id=report_id,
            action_type=effect["action"],
            policy_section=sections[key].code if sections[key] is not None else "",
            duration_hours=effect.get("duration_hours"),
            status=status,
            due_at=due_at,
        )
        due_now = due_now or (automatic and due_at <= now)
        timeline.record(
            case_id,
            EventKind.RULE_ACTION_SCHEDULED if automatic else EventKind.RULE_ACTION_PROPOSED,
            None,
            rule_id=entry.rule.pk,
            rule=entry.rule.name,
            version=entry.version.number,
            action=effect["action"],
            due_at=due_at.isoformat() if due_at else None,
            rule_action_id=action.pk,
        )
    if due_now:
        transaction.on_commit(
            lambda: kick(current_app.signature("detection.tasks.rule_actions_apply_due"))
        )


class IntakeRules:
    """The engine as intake sees it (``cases.routing.register_rule_engine``)."""

    def evaluate(self, items: list[RuleItem], *, now: datetime) -> IntakeBatch:
        ruleset = RuleSet.live()
        if not ruleset.entries:
            return IntakeBatch(verdicts={})
        facts = _facts_for(items, now)
        first_seen = {
            item.account_id: item.account_created_at
            for item in items
            if item.account_id and item.account_created_at is not None
        }
        inputs = build_inputs(facts, fields=ruleset.fields, first_seen=first_seen)
        subjects = {item.subject_id for item in items} | {
            item.account_id for item in items if item.account_id
        }
        snoozed = snoozes_for(subjects, now)
        verdicts: dict[int, RuleVerdict] = {}
        matches: dict[int, list[Entry]] = {}
        for item, values in zip(items, inputs, strict=True):
            silenced = (
                frozenset(
                    snoozed.get(item.subject_id, set()) | snoozed.get(item.account_id or 0, set())
                )
                if snoozed
                else _NONE
            )
            found = ruleset.evaluate(values, silenced)
            if not found:
                continue
            matches[item.index] = found
            live = [(e.rule, e.version, e.version.effects) for e in found if e.live]
            if live:
                verdicts[item.index] = _verdict(combine(live))
        reasons = {item.index: item.report.reason for item in items if item.index in matches}
        return IntakeBatch(verdicts=verdicts, matches=matches, reasons=reasons)


def _verdict(combined) -> RuleVerdict:
    return RuleVerdict(
        queue=combined.queue,
        severity=combined.severity,
        route_severity=combined.route_severity,
        rule_id=combined.route_rule.pk if combined.route_rule is not None else None,
        escalate_team=combined.escalate_team,
        escalate_rule=combined.escalate_rule,
        tags=tuple(combined.tags),
    )
