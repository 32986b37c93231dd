"""Ban evasion at intake: a new case whose account shares a strong identifier with another
account under an active suspension or ban is flagged as an evasion suspect.

Runs inside each intake batch's transaction (``cases.intake.register_intake_hook``). For the
cases the batch opened it asks the database once, in one statement, which of their accounts
share an identifier of a kind in ``TSOPS_EVASION_KINDS`` (equal ``value_hash``; weak kinds
such as ``ip`` are simply not in the setting) with another account whose suspension or ban is
active and not past its expiry. A hub value — shared by more accounts than
``TSOPS_NETWORK_HUB_LIMIT``, like a popular device model's hash — links nobody, as in the
network view. Nothing is asked when the batch opened no case or no kind is
configured, and nothing more is written when the answer is empty.

A flagged case gets, in a handful of set-based writes:

- a ``CaseLink`` of kind ``evasion_suspect`` to the case of each action (``created_by`` None);
- an ``EVASION_SUSPECTED`` timeline event per link (the linked account's external id and the
  identifier kind — left out when the linked case is restricted to a team the new case is not
  restricted to, so its timeline reveals nothing of a case its readers may not see);
- its severity raised by ``TSOPS_EVASION_SEVERITY_BUMP`` levels (never past P0), with the
  deadlines stamped again for the new severity as a re-prioritised case's are;
- the tag ``evasion-suspect``, so queue filters and routing can pick it up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from cases.models import Case, CaseEvent, CaseLink, Queue, Severity
from cases.routing import deadlines_for
from cases.timeline import EventKind
from enforcement.catalogue import ACTIONS
from enforcement.models import EnforcementAction
from tsops.history import history_snapshot

EVASION_TAG = "evasion-suspect"
# The actions that take an account off the platform: a suspension or a ban.
ACCOUNT_REMOVALS = tuple(
    code for code, spec in ACTIONS.items() if spec.dsa_field == "decision_account"
)
# At most this many actioned cases are linked from one suspect's case (a device shared with
# dozens of banned accounts says no more with every further link).
MAX_LINKS_PER_CASE = 10


@dataclass(frozen=True)
class EvasionMatch:
    """One new case sharing an identifier with one actioned account's case."""

    case_id: int
    queue_id: int
    severity: int
    restricted: bool
    team: str
    identifier_kind: str
    account_external_id: str
    target_case_id: int
    target_restricted: bool
    target_team: str

    @property
    def target_hidden_from_case(self) -> bool:
        """Whether readers of the suspect's case might not see the linked case."""
        if not self.target_restricted:
            return False
        return not (self.restricted and self.team == self.target_team)


# The batch's identifiers of the evasion kinds (a few thousand rows at most), each with how
# many accounts hold its value, counted by one index probe that stops one past the hub limit.
# Only values held by other accounts too, and by no more than the hub limit (a hub — a
# popular device model's hash — links nobody), are probed for an account under an active
# suspension or ban: the cost follows the batch, never the size of the identifier table.
_MATCH_SQL = """
WITH mine AS MATERIALIZED (
    SELECT b.case_id, i.account_id, i.kind, i.value_hash, (
        SELECT count(*) FROM (
            SELECT 1 FROM cases_identifier h
            WHERE h.kind = i.kind AND h.value_hash = i.value_hash LIMIT %(hub)s + 1
        ) AS held
    ) AS holders
    FROM unnest(%(cases)s::bigint[], %(subjects)s::bigint[]) AS b(case_id, subject_id)
    JOIN cases_subject s ON s.id = b.subject_id
    JOIN cases_identifier i
        ON i.account_id = CASE WHEN s.kind = 'account' THEN s.id ELSE s.owner_id END
        AND i.kind = ANY(%(kinds)s)
)
SELECT DISTINCT ON (mine.case_id, a.case_id)
    mine.case_id, nc.queue_id, nc.severity, nc.restricted, nc.team,
    mine.kind, other.external_id, a.case_id, tc.restricted, tc.team
FROM mine
JOIN cases_identifier theirs
    ON theirs.kind = mine.kind AND theirs.value_hash = mine.value_hash
    AND theirs.account_id <> mine.account_id
JOIN enforcement_enforcementaction a
    ON a.subject_id = theirs.account_id AND a.status = %(active)s
    AND a.action_type = ANY(%(actions)s) AND (a.expires_at IS NULL OR a.expires_at > %(now)s)
JOIN cases_subject other ON other.id = theirs.account_id
JOIN cases_case tc ON tc.id = a.case_id
JOIN cases_case nc ON nc.id = mine.case_id
WHERE mine.holders BETWEEN 2 AND %(hub)s AND a.case_id <> mine.case_id
ORDER BY mine.case_id, a.case_id, array_position(%(kinds)s::text[], mine.kind::text),
    a.created_at DESC
"""


def evasion_matches(*, cases, now: datetime) -> list[EvasionMatch]:
    """The new cases among ``cases`` (``IntakeCase``) whose account shares an evasion-kind
    identifier with another account under an active suspension or ban: one query, none when
    no case is new or no kind is configured."""
    kinds = list(settings.TSOPS_EVASION_KINDS)
    created = [c for c in cases if c.created]
    if not kinds or not created:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _MATCH_SQL,
            {
                "cases": [c.case_id for c in created],
                "subjects": [c.subject_id for c in created],
                "kinds": kinds,
                "active": EnforcementAction.Status.ACTIVE,
                "actions": list(ACCOUNT_REMOVALS),
                "now": now,
                "hub": settings.TSOPS_NETWORK_HUB_LIMIT,
            },
        )
        return [EvasionMatch(*row) for row in cursor.fetchall()]


def evasion_check(*, actor, cases, now: datetime) -> None:
    """The intake hook: flag the batch's new cases that look like ban evasion (see the
    module docstring). Runs inside the batch's transaction."""
    by_case: dict[int, list[EvasionMatch]] = defaultdict(list)
    for match in evasion_matches(cases=cases, now=now):
        if len(by_case[match.case_id]) < MAX_LINKS_PER_CASE:
            by_case[match.case_id].append(match)
    if not by_case:
        return
    _links_add(by_case, now)
    severities = _cases_raise(by_case, now)
    _events_add(by_case, severities, now)
    history_snapshot(Case, sorted(by_case), history_type="~", actor=actor, reason="evasion suspect")


def _links_add(by_case: dict[int, list[EvasionMatch]], now: datetime) -> None:
    CaseLink.objects.bulk_create(
        [
            CaseLink(
                from_case_id=m.case_id,
                to_case_id=m.target_case_id,
                kind=CaseLink.Kind.EVASION_SUSPECT,
                created_at=now,
            )
            for matches in by_case.values()
            for m in matches
        ],
        ignore_conflicts=True,
    )


def _raised(severity: int) -> int:
    return max(min(Severity.values), severity - settings.TSOPS_EVASION_SEVERITY_BUMP)


def _cases_raise(by_case: dict[int, list[EvasionMatch]], now: datetime) -> dict[int, tuple]:
    """Raise each flagged case's severity (deadlines stamped again) and tag it, in one
    statement; (before, after) severity per case."""
    first = {case_id: matches[0] for case_id, matches in by_case.items()}
    queues = Queue.objects.select_related("sla_policy").in_bulk(
        {m.queue_id for m in first.values()}
    )
    ids, severities, first_dues, resolve_dues = [], [], [], []
    changes: dict[int, tuple] = {}
    for case_id, match in sorted(first.items()):
        after = _raised(match.severity)
        changes[case_id] = (match.severity, after)
        first_due, resolve_due = deadlines_for(queues[match.queue_id], after, now)
        ids.append(case_id)
        severities.append(after)
        first_dues.append(first_due)
        resolve_dues.append(resolve_due)
    with connection.cursor() as cursor:
        # New cases: their deadlines count from now, when intake stamped them first.
        cursor.execute(
            "UPDATE cases_case c SET severity = v.sev, "
            "first_action_due = CASE WHEN v.sev <> c.severity THEN v.fad "
            "ELSE c.first_action_due END, "
            "resolve_due = CASE WHEN v.sev <> c.severity THEN v.rd ELSE c.resolve_due END, "
            "tags = CASE WHEN %s = ANY(c.tags) THEN c.tags ELSE array_append(c.tags, %s) END, "
            "updated_at = %s "
            "FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::timestamptz[]) "
            "AS v(id, sev, fad, rd) WHERE c.id = v.id",
            [EVASION_TAG, EVASION_TAG, now, ids, severities, first_dues, resolve_dues],
        )
    return changes


def _event_data(match: EvasionMatch) -> dict:
    data = {"identifier_kind": match.identifier_kind}
    if not match.target_hidden_from_case:
        data.update(
            account=match.account_external_id,
            kind=CaseLink.Kind.EVASION_SUSPECT.value,
            case_id=match.target_case_id,
        )
    return data


def _events_add(by_case: dict[int, list[EvasionMatch]], severities: dict, now: datetime) -> None:
    events = [
        CaseEvent(case_id=case_id, kind=EventKind.EVASION_SUSPECTED, at=now, data=_event_data(m))
        for case_id, matches in sorted(by_case.items())
        for m in matches
    ]
    for case_id, (before, after) in sorted(severities.items()):
        if after != before:
            events.append(
                CaseEvent(
                    case_id=case_id,
                    kind=EventKind.CASE_SEVERITY_RAISED,
                    at=now,
                    data={"before": f"P{before}", "after": f"P{after}"},
                )
            )
    CaseEvent.objects.bulk_create(events)
