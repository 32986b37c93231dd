"""What a rule reads about a report: the inputs of :data:`detection.expressions.INPUTS`.

One builder serves live intake and backtests, so a backtest sees a report exactly as intake
would have: every account fact is taken *as of* the report's moment (``ReportFacts.at``) —
strikes counting then, restrictions in force then, actions applied before then, the account's
age then, a ban-evasion flag raised before then. Intake passes "now"; a backtest passes each
report's received time, so changing an account afterwards does not change a backtest.

Inputs from the apps above plug in through :func:`register_account_facts` (cluster membership,
from investigations) and :func:`register_reporter_inputs` (reputation); without them the
inputs hold their zero values.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from detection.expressions import default_inputs

# account ids -> {account id: [(since, {input field: value}), ...]}: facts that hold from
# ``since`` on (e.g. joined an open cluster).
AccountFacts = Callable[[list[int]], dict[int, list[tuple[datetime, dict]]]]
# reporter hashes, as_of (None = now) -> {hash: {"reputation", "trusted", "reports"}}
ReporterInputs = Callable[..., dict[str, dict]]

_account_facts: list[AccountFacts] = []
_reporter_inputs: list[ReporterInputs] = []


def register_account_facts(provider: AccountFacts) -> None:
    """Add a source of account facts (see ``AccountFacts``)."""
    if provider not in _account_facts:
        _account_facts.append(provider)


def register_reporter_inputs(provider: ReporterInputs) -> None:
    """Set the source of reporter inputs (reputation); the last registered wins."""
    _reporter_inputs[:] = [provider]


@dataclass
class ReportFacts:
    """One report as the builder needs it, whether it arrives now or is replayed."""

    at: datetime
    received_at: datetime
    source: str
    reason: str
    detector: str
    score: float | None
    text_length: int
    media_count: int
    subject_id: int
    subject_kind: str
    subject_created_at: datetime | None
    account_id: int | None
    reporter_hash: str
    open_case_reports: int = 0


@dataclass
class _Standing:
    """An account's history, ordered by time, to read its standing at any moment."""

    first_seen: datetime | None = None
    strikes: list[tuple[datetime, datetime, datetime | None, int]] | None = None
    actions: list[tuple[datetime, datetime | None, datetime | None, str]] | None = None
    facts: list[tuple[datetime, dict]] | None = None


# Inputs that need no query: whether the report has an account or a reporter at all.
_FREE_INPUTS = frozenset({"account.known", "reporter.known"})


def build_inputs(
    reports: list[ReportFacts],
    *,
    reporters_as_of: datetime | None = None,
    fields: frozenset[str] | None = None,
    first_seen: dict[int, datetime] | None = None,
) -> list[dict]:
    """The flat inputs of each report, in order (a handful of queries for the whole list).

    ``fields``, when given, are the inputs the rules being evaluated read: the account's
    standing and the reporters' reputation are only looked up when some rule reads them (the
    others keep their zero values). ``first_seen`` holds accounts' first sightings the caller
    already has (intake, from its upsert); the others are read."""

    def read(group: str) -> bool:
        return fields is None or any(f.startswith(group) and f not in _FREE_INPUTS for f in fields)

    accounts = sorted({r.account_id for r in reports if r.account_id})
    standing = _standings(accounts, first_seen or {}) if read("account.") else {}
    reporter = (
        _reporters(sorted({r.reporter_hash for r in reports if r.reporter_hash}), reporters_as_of)
        if read("reporter.")
        else {}
    )
    base = default_inputs()
    result = []
    for report in reports:
        values = dict(base)
        _report_inputs(values, report)
        if report.account_id:
            _account_inputs(values, standing.get(report.account_id), report.at)
        if report.reporter_hash:
            facts = reporter.get(report.reporter_hash)
            values["reporter.known"] = True
            if facts:
                values["reporter.reputation"] = float(facts.get("reputation", 0.0))
                values["reporter.trusted"] = bool(facts.get("trusted", False))
                values["reporter.reports"] = int(facts.get("reports", 0))
        result.append(values)
    return result


def _report_inputs(values: dict, report: ReportFacts) -> None:
    received = report.received_at
    values["report.source"] = report.source
    values["report.reason"] = report.reason
    values["report.detector"] = report.detector or ""
    values["report.score"] = float(report.score) if report.score is not None else 0.0
    values["report.text_length"] = report.text_length
    values["report.received_hour"] = received.hour
    values["report.received_weekday"] = received.isoweekday()
    values["report.has_media"] = report.media_count > 0
    values["report.media_count"] = report.media_count
    values["subject.kind"] = report.subject_kind
    values["subject.age_days"] = _days(report.subject_created_at, report.at)
    values["subject.report_count"] = report.open_case_reports


def _days(since: datetime | None, at: datetime) -> int:
    if since is None or since > at:
        return 0
    return (at - since).days


def _account_inputs(values: dict, standing: _Standing | None, at: datetime) -> None:
    values["account.known"] = True
    if standing is None:
        return
    values["account.age_days"] = _days(standing.first_seen, at)
    strikes = 0
    for created, expires, voided, points in standing.strikes or ():
        if created > at:
            break
        if expires > at and (voided is None or voided > at):
            strikes += points
    values["account.strikes"] = strikes
    in_force: list[str] = []
    prior = 0
    for starts, ends, expires, action_type in standing.actions or ():
        if starts > at:
            break
        prior += 1
        live = (ends is None or ends > at) and (expires is None or expires > at)
        if live and action_type and action_type not in in_force:
            in_force.append(action_type)
    values["account.prior_actions"] = prior
    values["account.active_restrictions"] = tuple(in_force[:16])
    facts = standing.facts or []
    cut = bisect_right([since for since, _ in facts], at)
    for _since, fact in facts[:cut]:
        values.update({f"account.{name}": value for name, value in fact.items()})


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _standings(accounts: list[int], first_seen: dict[int, datetime]) -> dict[int, _Standing]:
    """Each account's first sighting, strikes, applied actions and registered facts."""
    if not accounts:
        return {}
    standing: dict[int, _Standing] = defaultdict(_Standing)
    unknown = [account_id for account_id in accounts if account_id not in first_seen]
    for account_id in accounts:
        if account_id in first_seen:
            standing[account_id].first_seen = first_seen[account_id]
    for account_id, created in (
        _fetch("SELECT id, created_at FROM cases_subject WHERE id = ANY(%s)", [unknown])
        if unknown
        else ()
    ):
        standing[account_id].first_seen = created
    strikes = defaultdict(list)
    for account_id, created, expires, voided, points in _fetch(
        "SELECT account_id, created_at, expires_at, voided_at, points FROM enforcement_strike "
        "WHERE account_id = ANY(%s) ORDER BY created_at",
        [accounts],
    ):
        strikes[account_id].append((created, expires, voided, points))
    actions = defaultdict(list)
    # Applied actions only (never a pending or rejected one), on the account or on an item it
    # owns: both count towards its prior actions; only those on the account itself restrict it.
    for account_id, starts, ends, expires, action_type, on_account in _fetch(
        "SELECT COALESCE(s.owner_id, s.id), COALESCE(a.starts_at, a.created_at), a.ended_at, "
        "a.expires_at, a.action_type, s.owner_id IS NULL "
        "FROM enforcement_enforcementaction a JOIN cases_subject s ON s.id = a.subject_id "
        "WHERE (a.subject_id = ANY(%s) OR s.owner_id = ANY(%s)) "
        "AND a.status IN ('active', 'expired', 'reversed') ORDER BY 2",
        [accounts, accounts],
    ):
        actions[account_id].append((starts, ends, expires, action_type if on_account else ""))
    facts: dict[int, list[tuple[datetime, dict]]] = defaultdict(list)
    for account_id, since in _fetch(
        "SELECT COALESCE(s.owner_id, s.id), MIN(l.created_at) FROM cases_caselink l "
        "JOIN cases_case c ON c.id = l.from_case_id JOIN cases_subject s ON s.id = c.subject_id "
        "WHERE l.kind = 'evasion_suspect' AND COALESCE(s.owner_id, s.id) = ANY(%s) GROUP BY 1",
        [accounts],
    ):
        facts[account_id].append((since, {"evasion_suspect": True}))
    for provider in _account_facts:
        for account_id, entries in provider(accounts).items():
            facts[account_id].extend(entries)
    for account_id in accounts:
        entry = standing[account_id]
        entry.strikes = strikes.get(account_id, [])
        entry.actions = actions.get(account_id, [])
        entry.facts = sorted(facts.get(account_id, []), key=lambda item: item[0])
    return standing


def _reporters(hashes: Iterable[str], as_of: datetime | None) -> dict[str, dict]:
    hashes = list(hashes)
    if not hashes or not _reporter_inputs:
        return {}
    return _reporter_inputs[0](hashes, as_of=as_of)
