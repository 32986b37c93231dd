"""Intake: reports become one open case per subject, in set-based SQL.

A batch of up to 1,000 reports is validated in Python, then written in a
handful of statements inside one transaction: subjects and owners are upserted,
identifiers recorded, open cases locked (or created, relying on the partial
unique index ``case_one_open_per_subject`` when two batches race), reports
inserted idempotently on (source, external_id), and the cases' counters,
severity and deadlines updated. A single report goes through the same code as
a batch of one.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from cases.identifiers import hash_for_text, identifier_hash, identifier_mask
from cases.lifecycle import INTAKE_RESTRICT
from cases.models import Case, CaseLink, Report, Subject
from cases.permissions import check_submit_reports
from cases.routing import Route, RoutingContext, RuleItem, deadlines_for
from cases.timeline import EventKind
from cases.validation import CleanReport, validate_report
from cases.visibility import case_team_grants_add
from tsops.history import history_snapshot

MAX_BATCH = 1000

# Who escalates a case a routing rule sends to a specialist team. The escalations app
# registers itself here when it loads (cases sits below it and never imports it).
_rule_escalators: list[Callable[..., object | None]] = []


def register_rule_escalator(escalate: Callable[..., object | None]) -> None:
    """``escalate(case_id=, team=, severity=, rule=, submitted_by=)`` returns the escalation,
    or None when the case is not escalated (already escalated, or resolved meanwhile)."""
    if escalate not in _rule_escalators:
        _rule_escalators.append(escalate)


# What the apps above want to know of each batch (the evasion check). Each hook is called
# inside the batch's transaction with ``actor=``, ``cases=`` (``IntakeCase`` per case the
# batch touched) and ``now=``; it may write links, events and severities on those cases.
_intake_hooks: list[Callable[..., None]] = []


def register_intake_hook(hook: Callable[..., None]) -> None:
    """Add a hook run on every intake batch (see ``_intake_hooks``)."""
    if hook not in _intake_hooks:
        _intake_hooks.append(hook)


@dataclass(frozen=True)
class IntakeCase:
    """A case an intake batch opened or joined, as the intake hooks see it."""

    case_id: int
    subject_id: int
    created: bool
    severity: int
    restricted: bool


_RETRIES = 6


@dataclass
class IntakeResult:
    """What happened to one submitted report (``status`` is its HTTP-like code)."""

    index: int
    status: int
    report_id: int | None = None
    case_id: int | None = None
    case_status: str | None = None
    created_case: bool = False
    errors: dict | None = None

    def as_dict(self) -> dict:
        if self.errors is not None:
            return {"index": self.index, "status": self.status, "errors": self.errors}
        return {
            "index": self.index,
            "status": self.status,
            "report_id": self.report_id,
            "case_id": self.case_id,
            "case_status": self.case_status,
            "created_case": self.created_case,
        }


@dataclass
class _CasePlan:
    """The state a case will have after this batch."""

    id: int | None
    subject_id: int
    severity: int
    queue_id: int
    reason: str
    restricted: bool
    team: str
    first_action_due: datetime
    resolve_due: datetime
    status: str = Case.Status.NEW
    claimed_by_id: int | None = None
    version: int = 1
    created: bool = False
    recurrence_of: int | None = None
    tags: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    events: list = field(default_factory=list)


def report_submit(*, actor, data) -> IntakeResult:
    """Take one report (idempotent on source + external_id)."""
    return report_submit_batch(actor=actor, items=[data])[0]


def report_submit_batch(*, actor, items: list) -> list[IntakeResult]:
    """Take up to MAX_BATCH reports; each gets its own result and bad ones don't stop the rest."""
    check_submit_reports(actor)
    if len(items) > MAX_BATCH:
        raise ValueError(f"at most {MAX_BATCH} reports per batch")
    now = timezone.now()
    context = RoutingContext.load()
    results: list[IntakeResult | None] = [None] * len(items)
    first_by_key: dict[tuple[str, str], int] = {}
    unique: list[tuple[int, CleanReport]] = []
    repeats: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        clean, errors = validate_report(item, reasons=context.reasons, now=now)
        if errors:
            results[index] = IntakeResult(index=index, status=400, errors=errors)
            continue
        key = (clean.source, clean.external_id)
        if key in first_by_key:
            repeats.append((index, first_by_key[key]))
        else:
            first_by_key[key] = index
            unique.append((index, clean))
    if unique:
        for attempt in range(_RETRIES):
            try:
                with transaction.atomic():
                    written = _ingest(actor, unique, context, now)
                break
            except (IntegrityError, OperationalError) as exc:
                # A concurrent batch created the same subject's case or report first, or
                # the two deadlocked: everything rolled back, so try again from the top.
                if attempt == _RETRIES - 1 or not _retryable(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
        for result in written:
            results[result.index] = result
    for index, original in repeats:
        first = results[original]
        results[index] = IntakeResult(
            index=index,
            status=200,
            report_id=first.report_id,
            case_id=first.case_id,
            case_status=first.case_status,
            created_case=False,
        )
    return results  # type: ignore[return-value]


def _retryable(exc: Exception) -> bool:
    code = getattr(getattr(exc, "__cause__", None), "pgcode", None)
    return code in ("23505", "40P01", "40001") or isinstance(exc, IntegrityError)


def _fetchall(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _ingest(actor, unique, context: RoutingContext, now) -> list[IntakeResult]:
    # 1. Reports already received (idempotency): answer with what they produced.
    results, fresh = _already_received(unique)
    if not fresh:
        return results

    # 2. Subjects: owners (accounts) first, then the reported subjects.
    subject_ids, subjects_created = _upsert_subjects(fresh, now)

    # 3. Identifiers, on the account behind each subject.
    _upsert_identifiers(fresh, subject_ids, now)

    # 4. The rules engine looks at every report; route each, then plan each subject's case.
    rules = context.evaluate(_rule_items(fresh, subject_ids, subjects_created), now=now)
    routes, by_subject = _route_reports(fresh, subject_ids, context, rules.verdicts)
    plans = _plan_cases(actor, by_subject, routes, context, now)

    # 5. Reports, idempotent even against a concurrent batch.
    rows = [
        (index, clean, plans[subject_id])
        for subject_id, items in by_subject.items()
        for index, clean in items
    ]
    inserted = _insert_reports(actor, rows, now)

    # 6. Counters, severity, deadlines, queue and claim of every touched case. Reports are
    # not copied into the timeline: the case page merges them from cases_report.
    plan_list = list(plans.values())
    _update_joined_cases(rows, plan_list, now)
    _insert_events([(plan.id, kind, data) for plan in plan_list for kind, data in plan.events], now)
    _link_recurrences(plan_list, now)
    _grant_team_visibility([p for p in plan_list if p.restricted])
    _record_history(actor, plan_list)
    rules.record(
        actor=actor,
        placed=[
            (index, inserted[(clean.source, clean.external_id)], plan.id, plan.restricted)
            for index, clean, plan in rows
        ],
        now=now,
    )

    # 7. The apps above look at what this batch opened (the evasion check).
    if _intake_hooks:
        touched = [
            IntakeCase(p.id, p.subject_id, p.created, p.severity, p.restricted) for p in plan_list
        ]
        for hook in _intake_hooks:
            hook(actor=actor, cases=touched, now=now)

    # 8. Rules that escalate at intake. No query at all unless a rule matched.
    _escalate_by_rules(actor, rows, routes)

    for index, clean, plan in rows:
        results.append(
            IntakeResult(
                index,
                201,
                report_id=inserted[(clean.source, clean.external_id)],
                case_id=plan.id,
                case_status=plan.status,
                created_case=plan.created and _first_report_of(plan, index),
            )
        )
    return results


def _already_received(
    unique: list[tuple[int, CleanReport]],
) -> tuple[list[IntakeResult], list[tuple[int, CleanReport]]]:
    """The results of reports stored before (with the case they joined), and the fresh rest."""
    existing = {
        (source, external_id): (report_id, case_id, status)
        for source, external_id, report_id, case_id, status in _fetchall(
            "SELECT r.source, r.external_id, r.id, r.case_id, c.status FROM cases_report r "
            "JOIN cases_case c ON c.id = r.case_id "
            "JOIN unnest(%s::text[], %s::text[]) AS k(source, external_id) "
            "ON r.source = k.source AND r.external_id = k.external_id",
            [[c.source for _, c in unique], [c.external_id for _, c in unique]],
        )
    }
    results: list[IntakeResult] = []
    fresh: list[tuple[int, CleanReport]] = []
    for index, clean in unique:
        hit = existing.get((clean.source, clean.external_id))
        if hit:
            results.append(
                IntakeResult(index, 200, report_id=hit[0], case_id=hit[1], case_status=hit[2])
            )
        else:
            fresh.append((index, clean))
    return results, fresh


def _account_key(clean: CleanReport) -> tuple[str, str] | None:
    """The account behind a report's subject (the subject itself when it is an account)."""
    if clean.subject_kind == Subject.Kind.ACCOUNT:
        return (Subject.Kind.ACCOUNT, clean.subject_external_id)
    if clean.owner_id:
        return (Subject.Kind.ACCOUNT, clean.owner_id)
    return None


def _rule_items(fresh, subject_ids, subjects_created) -> list[RuleItem]:
    items = []
    for index, clean in fresh:
        account = _account_key(clean)
        subject_id = subject_ids[(clean.subject_kind, clean.subject_external_id)]
        account_id = subject_ids.get(account) if account else None
        items.append(
            RuleItem(
                index=index,
                report=clean,
                subject_id=subject_id,
                account_id=account_id,
                subject_created_at=subjects_created[subject_id],
                account_created_at=subjects_created.get(account_id),
            )
        )
    return items


def _route_reports(
    fresh: list[tuple[int, CleanReport]],
    subject_ids: dict[tuple[str, str], int],
    context: RoutingContext,
    verdicts: dict,
) -> tuple[dict[int, Route], dict[int, list[tuple[int, CleanReport]]]]:
    """Each report's route (by batch index), and the reports grouped by subject id."""
    routes: dict[int, Route] = {}
    by_subject: dict[int, list[tuple[int, CleanReport]]] = defaultdict(list)
    for index, clean in fresh:
        routes[index] = context.route(reason=clean.reason, verdict=verdicts.get(index))
        by_subject[subject_ids[(clean.subject_kind, clean.subject_external_id)]].append(
            (index, clean)
        )
    return routes, by_subject


def _insert_reports(actor, rows, now) -> dict[tuple[str, str], int]:
    """Insert the batch's reports into their planned cases; report id by (source,
    external_id). A key stored meanwhile by another transaction fails the batch (it retries)."""
    inserted = {
        (source, external_id): report_id
        for report_id, source, external_id in _fetchall(
            "INSERT INTO cases_report (source, external_id, case_id, subject_id, reason, "
            "description, reporter_hash, detector, score, received_at, submitted_by_id, "
            "created_at, updated_at) "
            "SELECT s, e, c, sub, r, d, rh, det, sc, ra, %s, %s, %s FROM unnest("
            "%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], "
            "%s::text[], %s::text[], %s::float8[], %s::timestamptz[]) "
            "AS t(s, e, c, sub, r, d, rh, det, sc, ra) "
            "ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id",
            [
                actor.pk,
                now,
                now,
                [c.source for _, c, _ in rows],
                [c.external_id for _, c, _ in rows],
                [p.id for _, _, p in rows],
                [p.subject_id for _, _, p in rows],
                [c.reason for _, c, _ in rows],
                [c.description for _, c, _ in rows],
                [hash_for_text(c.reporter_id) if c.reporter_id else "" for _, c, _ in rows],
                [c.detector for _, c, _ in rows],
                [c.score for _, c, _ in rows],
                [c.received_at for _, c, _ in rows],
            ],
        )
    }
    if len(inserted) != len(rows):
        # Another transaction stored one of these keys after step 1: retry the batch.
        raise IntegrityError("report key taken concurrently")
    return inserted


def _update_joined_cases(rows, plan_list: list[_CasePlan], now) -> None:
    """Bring every case a report joined to its planned state, counters included."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for _index, clean, plan in rows:
        counts[plan.id][0 if clean.source == Report.Source.AUTOMATED_FLAG else 1] += 1
    # New cases were inserted with their final counts; only joined cases are updated, which
    # spares every index a second tuple for the batch's new rows.
    joined = [p for p in plan_list if not p.created]
    if not joined:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_case c SET report_count = c.report_count + v.a + v.h, "
            "automated_count = c.automated_count + v.a, human_count = c.human_count + v.h, "
            "severity = v.sev, queue_id = v.q, reason = v.reason, restricted = v.restr, "
            "team = v.team, first_action_due = v.fad, resolve_due = v.rd, status = v.status, "
            "claimed_by_id = v.claimed, lease_expires_at = CASE WHEN v.claimed IS NULL "
            "THEN NULL ELSE c.lease_expires_at END, "
            "claimed_at = CASE WHEN v.claimed IS NULL THEN NULL ELSE c.claimed_at END, "
            "version = v.version, updated_at = %s, "
            "tags = ARRAY(SELECT jsonb_array_elements_text(v.tags::jsonb)) "
            "FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[], %s::bigint[], "
            "%s::text[], %s::bool[], %s::text[], %s::timestamptz[], %s::timestamptz[], "
            "%s::text[], %s::int[], %s::int[], %s::text[]) "
            "AS v(id, a, h, sev, q, reason, restr, team, fad, rd, status, claimed, version, tags) "
            "WHERE c.id = v.id",
            [
                now,
                [p.id for p in joined],
                [counts[p.id][0] for p in joined],
                [counts[p.id][1] for p in joined],
                [p.severity for p in joined],
                [p.queue_id for p in joined],
                [p.reason for p in joined],
                [p.restricted for p in joined],
                [p.team for p in joined],
                [p.first_action_due for p in joined],
                [p.resolve_due for p in joined],
                [p.status for p in joined],
                [p.claimed_by_id for p in joined],
                [p.version for p in joined],
                [json.dumps(p.tags) for p in joined],
            ],
        )


def _link_recurrences(plan_list: list[_CasePlan], now) -> None:
    """A new case for a subject resolved before links to the case it recurs."""
    links = [
        CaseLink(
            from_case_id=p.id,
            to_case_id=p.recurrence_of,
            kind=CaseLink.Kind.RECURRENCE_OF,
            created_at=now,
        )
        for p in plan_list
        if p.recurrence_of
    ]
    CaseLink.objects.bulk_create(links, ignore_conflicts=True)


def _record_history(actor, plan_list: list[_CasePlan]) -> None:
    """History keeps what an analyst could act on: a new case, or one whose severity, queue
    or visibility a joining report changed (a bare count increase is in cases_report
    already)."""
    created = [p.id for p in plan_list if p.created]
    changed = [p.id for p in plan_list if not p.created and p.events]
    history_snapshot(Case, created, history_type="+", actor=actor, reason="intake")
    history_snapshot(Case, changed, history_type="~", actor=actor, reason="report joined")


def _escalate_by_rules(actor, rows, routes: dict[int, Route]) -> None:
    """Escalate each case a matching rule sends to a team, inside the batch's transaction.

    Per case, the most severe of its reports' escalating routes decides (team, severity and
    rule). A case already escalated, or with an active escalation, gets no second one.
    """
    wanted: dict[int, tuple[Route, _CasePlan]] = {}
    for index, _clean, plan in rows:
        route = routes[index]
        if not route.escalate_team or plan.status == Case.Status.ESCALATED:
            continue
        current = wanted.get(plan.id)
        if current is None or route.severity < current[0].severity:
            wanted[plan.id] = (route, plan)
    if not wanted:
        return
    if not _rule_escalators:
        raise RuntimeError(
            "No escalation handler is registered (is the escalations app installed?)"
        )
    for case_id in sorted(wanted):
        route, plan = wanted[case_id]
        escalation = _rule_escalators[0](
            case_id=case_id,
            team=route.escalate_team,
            severity=route.severity,
            rule=route.escalate_rule,
            submitted_by=actor,
        )
        if escalation is not None:
            # What the submitter is told; the escalation moved the case (cases.lifecycle).
            plan.status = escalation.case.status


def _insert_events(events: list[tuple[int, str, dict]], now) -> None:
    if not events:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cases_caseevent (case_id, kind, at, data) "
            "SELECT c, k, %s, d::jsonb FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
            "AS t(c, k, d)",
            [
                now,
                [e[0] for e in events],
                [e[1] for e in events],
                [json.dumps(e[2]) for e in events],
            ],
        )


def _first_report_of(plan: _CasePlan, index: int) -> bool:
    if not plan.reports:
        return False
    return plan.reports[0] == index


def _upsert_subjects(fresh, now) -> tuple[dict[tuple[str, str], int], dict[int, datetime]]:
    """Insert new subjects (snapshot taken at first report); return their ids by (kind,
    external id) and when each was first seen, by id."""
    owners: dict[str, None] = {}
    subjects: dict[tuple[str, str], CleanReport] = {}
    for _, clean in fresh:
        if clean.owner_id:
            owners[clean.owner_id] = None
        subjects.setdefault((clean.subject_kind, clean.subject_external_id), clean)
    ids: dict[tuple[str, str], int] = {}
    created: dict[int, datetime] = {}
    owner_keys = sorted(k for k in owners if (Subject.Kind.ACCOUNT, k) not in subjects)
    if owner_keys:
        for subject_id, kind, external_id, created_at in _fetchall(
            "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, "
            "snapshot_media, created_at, updated_at) "
            "SELECT 'account', e, '', '', '[]'::jsonb, %s, %s FROM unnest(%s::text[]) AS t(e) "
            "ON CONFLICT (kind, external_id) DO UPDATE SET kind = EXCLUDED.kind "
            "RETURNING id, kind, external_id, created_at",
            [now, now, owner_keys],
        ):
            ids[(kind, external_id)] = subject_id
            created[subject_id] = created_at
    accounts_in_batch = sorted(
        (k for k in subjects if k[0] == Subject.Kind.ACCOUNT), key=lambda k: k[1]
    )
    others = sorted(k for k in subjects if k[0] != Subject.Kind.ACCOUNT)
    for group in (accounts_in_batch, others):
        if not group:
            continue
        owner_ids = []
        for key in group:
            owner = subjects[key].owner_id
            owner_ids.append(ids[(Subject.Kind.ACCOUNT, owner)] if owner else None)
        for subject_id, kind, external_id, created_at in _fetchall(
            "INSERT INTO cases_subject (kind, external_id, owner_id, snapshot_text, snapshot_url, "
            "snapshot_media, content_created_at, created_at, updated_at) "
            "SELECT k, e, o, tx, u, m::jsonb, ca, %s, %s FROM unnest(%s::text[], %s::text[], "
            "%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[]) "
            "AS t(k, e, o, tx, u, m, ca) "
            "ON CONFLICT (kind, external_id) DO UPDATE SET "
            "owner_id = COALESCE(cases_subject.owner_id, EXCLUDED.owner_id), "
            "snapshot_text = CASE WHEN cases_subject.snapshot_text = '' "
            "THEN EXCLUDED.snapshot_text ELSE cases_subject.snapshot_text END "
            "RETURNING id, kind, external_id, created_at",
            [
                now,
                now,
                [k[0] for k in group],
                [k[1] for k in group],
                owner_ids,
                [subjects[k].text for k in group],
                [subjects[k].url for k in group],
                [json.dumps(subjects[k].media) for k in group],
                [subjects[k].content_created_at for k in group],
            ],
        ):
            ids[(kind, external_id)] = subject_id
            created[subject_id] = created_at
    return ids, created


def _upsert_identifiers(fresh, subject_ids, now) -> None:
    rows: dict[tuple[int, str, str], str] = {}
    for _, clean in fresh:
        if not clean.identifiers:
            continue
        account_key = (
            (Subject.Kind.ACCOUNT, clean.subject_external_id)
            if clean.subject_kind == Subject.Kind.ACCOUNT
            else (Subject.Kind.ACCOUNT, clean.owner_id)
        )
        account_id = subject_ids[account_key]
        for kind, value in clean.identifiers:
            rows[(account_id, kind, identifier_hash(kind, value))] = identifier_mask(kind, value)
    if not rows:
        return
    keys = sorted(rows)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cases_identifier (account_id, kind, value_hash, masked, last_seen, "
            "created_at, updated_at) "
            "SELECT a, k, h, m, %s, %s, %s FROM unnest(%s::bigint[], %s::text[], %s::text[], "
            "%s::text[]) AS t(a, k, h, m) "
            "ON CONFLICT (account_id, kind, value_hash) "
            "DO UPDATE SET last_seen = EXCLUDED.last_seen",
            [
                now,
                now,
                now,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [rows[k] for k in keys],
            ],
        )


def _plan_cases(actor, by_subject, routes, context, now) -> dict[int, _CasePlan]:
    """Lock each subject's open case or create one; decide its new severity, queue, deadlines."""
    subject_ids = sorted(by_subject)
    plans = _lock_open_cases(subject_ids)
    missing = [s for s in subject_ids if s not in plans]
    if missing:
        new_plans = _new_case_plans(missing, by_subject, routes, now)
        for plan in _insert_cases(new_plans, by_subject, now):
            plans[plan.subject_id] = plan
    for subject_id in subject_ids:
        plan = plans[subject_id]
        if not plan.created:
            _join_reports(plan, by_subject[subject_id], routes, context, now)
    return plans


def _lock_open_cases(subject_ids: list[int]) -> dict[int, _CasePlan]:
    """The open case of each subject, locked in subject order, as a plan by subject id."""
    open_rows = _fetchall(
        "SELECT id, subject_id, severity, queue_id, reason, restricted, team, "
        "first_action_due, resolve_due, status, claimed_by_id, version, tags FROM cases_case "
        "WHERE subject_id = ANY(%s) AND NOT (status = 'resolved') ORDER BY subject_id FOR UPDATE",
        [subject_ids],
    )
    return {
        row[1]: _CasePlan(
            id=row[0],
            subject_id=row[1],
            severity=row[2],
            queue_id=row[3],
            reason=row[4],
            restricted=row[5],
            team=row[6],
            first_action_due=row[7],
            resolve_due=row[8],
            status=row[9],
            claimed_by_id=row[10],
            version=row[11],
            tags=list(row[12]),
        )
        for row in open_rows
    }


def _new_case_plans(missing: list[int], by_subject, routes, now) -> list[_CasePlan]:
    """A new case for each subject without an open one, routed by its most severe report and
    linked to the subject's last resolved case."""
    previous = dict(
        _fetchall(
            "SELECT DISTINCT ON (subject_id) subject_id, id FROM cases_case "
            "WHERE subject_id = ANY(%s) AND status = 'resolved' "
            "ORDER BY subject_id, resolved_at DESC NULLS LAST, id DESC",
            [missing],
        )
    )
    new_plans = []
    for subject_id in missing:
        items = by_subject[subject_id]
        index, clean = min(items, key=lambda item: routes[item[0]].severity)
        route = routes[index]
        first_due, resolve_due = deadlines_for(route.queue, route.severity, now)
        plan = _CasePlan(
            id=None,
            subject_id=subject_id,
            severity=route.severity,
            queue_id=route.queue.id,
            reason=route.reason,
            restricted=route.restricted,
            team=route.team,
            first_action_due=first_due,
            resolve_due=resolve_due,
            created=True,
            recurrence_of=previous.get(subject_id),
        )
        plan.reports = [i for i, _ in items]
        plan.tags = sorted({tag for i, _ in items for tag in routes[i].tags})
        plan.events.append(
            (
                EventKind.CASE_CREATED,
                {
                    "severity": f"P{route.severity}",
                    "queue": route.queue.slug,
                    "reason": route.reason,
                    "rule_id": route.rule_id,
                },
            )
        )
        if plan.recurrence_of:
            plan.events.append(
                (EventKind.CASE_LINKED, {"kind": "recurrence_of", "case_id": plan.recurrence_of})
            )
        new_plans.append(plan)
    return new_plans


def _insert_cases(new_plans: list[_CasePlan], by_subject, now) -> list[_CasePlan]:
    """Insert the new cases with their final counts and search text; the plans, with ids."""
    texts, automated, human = [], [], []
    for plan in new_plans:
        items = by_subject[plan.subject_id]
        clean = items[0][1]
        texts.append(f"{clean.subject_external_id} {clean.owner_id} {clean.text}")
        flags = sum(1 for _, c in items if c.source == Report.Source.AUTOMATED_FLAG)
        automated.append(flags)
        human.append(len(items) - flags)
    created = _fetchall(
        "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, restricted, "
        "team, tags, report_count, automated_count, human_count, first_action_due, "
        "resolve_due, reopen_count, version, created_at, updated_at, search_document) "
        "SELECT s, 'new', sev, q, r, restr, tm, "
        "ARRAY(SELECT jsonb_array_elements_text(tg::jsonb)), a + h, a, h, fad, rd, "
        "0, 1, %s, %s, to_tsvector('english', txt) FROM unnest(%s::bigint[], %s::int[], "
        "%s::bigint[], %s::text[], %s::bool[], %s::text[], %s::timestamptz[], "
        "%s::timestamptz[], %s::text[], %s::int[], %s::int[], %s::text[]) "
        "AS t(s, sev, q, r, restr, tm, fad, rd, txt, a, h, tg) "
        "ON CONFLICT (subject_id) WHERE NOT (status = 'resolved') DO NOTHING "
        "RETURNING id, subject_id",
        [
            now,
            now,
            [p.subject_id for p in new_plans],
            [p.severity for p in new_plans],
            [p.queue_id for p in new_plans],
            [p.reason for p in new_plans],
            [p.restricted for p in new_plans],
            [p.team for p in new_plans],
            [p.first_action_due for p in new_plans],
            [p.resolve_due for p in new_plans],
            texts,
            automated,
            human,
            [json.dumps(p.tags) for p in new_plans],
        ],
    )
    if len(created) != len(new_plans):
        # A concurrent batch opened a case for one of these subjects: retry from the top,
        # when the lock above will find and join it.
        raise IntegrityError("open case created concurrently")
    by_subject_plan = {plan.subject_id: plan for plan in new_plans}
    inserted = []
    for case_id, subject_id in created:
        plan = by_subject_plan[subject_id]
        plan.id = case_id
        inserted.append(plan)
    return inserted


def _join_reports(plan: _CasePlan, items, routes, context, now) -> None:
    """Reports joining an open case may raise its severity (never lower it) and restrict it."""
    plan.version += 1
    plan.reports = []
    added = sorted({tag for index, _ in items for tag in routes[index].tags} - set(plan.tags))
    if added:
        plan.events.append(
            (EventKind.CASE_TAGGED, {"before": plan.tags, "after": plan.tags + added})
        )
        plan.tags = plan.tags + added
    for index, _ in items:
        route = routes[index]
        if route.restricted and not plan.restricted:
            plan.restricted, plan.team = True, route.team
            plan.queue_id, plan.reason = route.queue.id, route.reason
            plan.events.append((EventKind.CASE_RESTRICTED, {"team": route.team}))
            if plan.claimed_by_id is not None:
                # The claimant may not be on the team: the case goes back to the team queue.
                plan.claimed_by_id = None
                source, target = INTAKE_RESTRICT.moves[0]
                if plan.status == source:
                    plan.status = target
        if route.severity < plan.severity:
            old = plan.severity
            plan.severity = route.severity
            if not plan.restricted or route.restricted:
                plan.queue_id, plan.reason = route.queue.id, route.reason
            queue = context.queues[plan.queue_id]
            first_due, resolve_due = deadlines_for(queue, plan.severity, now)
            plan.first_action_due = min(plan.first_action_due, first_due)
            plan.resolve_due = min(plan.resolve_due, resolve_due)
            plan.events.append(
                (
                    EventKind.CASE_SEVERITY_RAISED,
                    {"from": f"P{old}", "to": f"P{plan.severity}", "reason": route.reason},
                )
            )


def _grant_team_visibility(plans: list[_CasePlan]) -> None:
    """Give each restricted case's team the object permission to view it (django-guardian)."""
    case_team_grants_add((p.id, p.team) for p in plans)
