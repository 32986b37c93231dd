"""Backtests: a rule version replayed over stored reports, scored against human decisions.

The replay reads reports in id order, in chunks, each as it was at its moment: the subject's
snapshot (taken at first report), and every account fact as of the report's received time
(:mod:`detection.inputs`) — a strike or ban added afterwards changes nothing. Reporter inputs
are those known at the period's start, so no decision made during the period leaks into them.

Labels are human decisions: a report is *decided* by its deciding decision (the first on its
case at or after it arrived, ``metrics.deciding``) when a human made it, and *confirmed* when
that decision found a violation; a report a rule decided counts as undecided.

- precision = confirmed / decided among matched reports, with its Wilson interval;
- recall = confirmed matched reports / confirmed reports of the rule's reason family, where the
  family is the reasons its condition names (``report.reason == …`` or ``in [...]`` at the top
  of its ``&&`` chain), or every reason when it names none.

Only reports on cases the requester may see are replayed: a backtest never shows, counts or
samples a restricted case to someone outside its team.

The job records its running totals and the last report id with every chunk, so a worker
killed half-way is replaced by one that resumes from there (``tsops.jobs``).
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from cases.models import Report
from cases.visibility import visible_cases
from detection.engine import RuleSet
from detection.inputs import ReportFacts, build_inputs
from detection.models import Backtest, Rule
from qa.stats import wilson_interval
from tsops.jobs import job_finish, job_progress, job_start

CHUNK = 5000
SAMPLES = 10
JOB_KIND = "detection.backtest"


def _empty_side() -> dict:
    return {
        "matches": 0,
        "by_day": {},
        "decided": 0,
        "confirmed": 0,
        "family_confirmed": 0,
        "matched_confirmed": 0,
        "effects": {},
        "samples_matched": [],
        "samples_missed": [],
    }


def _reports(actor, start: datetime, end: datetime, after_id: int):
    """The next chunk of visible reports in the period, each with what a replay needs."""
    cases = visible_cases(actor).values("pk")
    return list(
        Report.objects.filter(
            received_at__gte=start, received_at__lt=end, pk__gt=after_id, case_id__in=cases
        )
        .order_by("pk")
        .values_list(
            "pk",
            "received_at",
            "source",
            "reason",
            "detector",
            "score",
            "reporter_hash",
            "case_id",
            "subject_id",
            "subject__kind",
            "subject__created_at",
            "subject__content_created_at",
            "subject__owner_id",
            "subject__snapshot_text",
            "subject__snapshot_media",
            "subject__external_id",
        )[:CHUNK]
    )


def decisions_by_case(case_ids) -> dict[int, list[tuple[datetime, str, bool]]]:
    """Each case's decisions, oldest first: (when, outcome, automated)."""
    from enforcement.models import Decision

    found: dict[int, list[tuple[datetime, str, bool]]] = {}
    for case_id, created, outcome, automated in (
        Decision.objects.filter(case_id__in=case_ids)
        .order_by("created_at", "pk")
        .values_list("case_id", "created_at", "outcome", "automated")
    ):
        found.setdefault(case_id, []).append((created, outcome, automated))
    return found


def _earlier_reports(report_ids: list[int]) -> dict[int, int]:
    """Reports each report's case had before it (what ``subject.report_count`` was then)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.id, (SELECT count(*) FROM cases_report e WHERE e.case_id = r.case_id "
            "AND e.id < r.id) FROM cases_report r WHERE r.id = ANY(%s)",
            [report_ids],
        )
        return dict(cursor.fetchall())


def label_for(decisions, received_at) -> str | None:
    """The human label of a report: the outcome of its deciding decision (the first on its
    case at or after it arrived, as ``metrics.deciding`` defines it), or None while undecided
    or when a rule decided it (a rule never labels itself)."""
    for created, outcome, automated in decisions or ():
        if created >= received_at:
            return None if automated else outcome
    return None


def backtest_run(backtest_id: int) -> None:
    """Run (or resume) a backtest to the end, recording progress as it goes."""
    backtest = Backtest.objects.select_related("rule", "version", "compare_version", "job").get(
        pk=backtest_id
    )
    if backtest.job_id is None or not job_start(backtest.job_id):
        return
    Backtest.objects.filter(pk=backtest.pk).update(status=Backtest.Status.RUNNING)
    try:
        _replay(backtest)
    except Exception as exc:  # the job records why it failed; the worker logs the trace
        Backtest.objects.filter(pk=backtest.pk).update(
            status=Backtest.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        job_finish(backtest.job_id, status="failed", error=str(exc)[:2000])
        raise


def _replay(backtest: Backtest) -> None:
    actor = get_user_model().objects.get(pk=backtest.requested_by_id)
    rule = backtest.rule
    versions = [("candidate", backtest.version)]
    if backtest.compare_version_id:
        versions.append(("compare", backtest.compare_version))
    sets = {name: RuleSet.of([(rule, version, True)]) for name, version in versions}
    families = {
        name: sets[name].entries[0].compiled.guards.get("report.reason") for name, _ in versions
    }
    others = RuleSet.of(
        [
            (other, other.active_version, True)
            for other in Rule.objects.filter(state=Rule.State.ACTIVE)
            .exclude(pk=rule.pk)
            .select_related("active_version")
            if other.active_version is not None
        ]
    )
    state = backtest.job.result.get("state") or {
        "after_id": 0,
        "evaluated": 0,
        "sides": {name: _empty_side() for name, _ in versions},
        "overlap": {"only_candidate": 0, "only_compare": 0, "both": 0, "also_active": 0},
    }
    total = (
        Report.objects.filter(
            received_at__gte=backtest.period_from,
            received_at__lt=backtest.period_to,
            case_id__in=visible_cases(actor).values("pk"),
        ).count()
        if not state["evaluated"]
        else backtest.job.total
    )
    while True:
        rows = _reports(actor, backtest.period_from, backtest.period_to, state["after_id"])
        if not rows:
            break
        _score_chunk(rows, sets, families, others, state, backtest.period_from)
        state["after_id"] = rows[-1][0]
        state["evaluated"] += len(rows)
        job_progress(backtest.job_id, done=state["evaluated"], total=total, state=state)
    results = _summarise(state, backtest)
    Backtest.objects.filter(pk=backtest.pk).update(
        status=Backtest.Status.DONE, results=results, finished_at=timezone.now()
    )
    job_finish(backtest.job_id, backtest_id=backtest.pk)


def _score_chunk(rows, sets, families, others, state, period_start) -> None:
    earlier = _earlier_reports([row[0] for row in rows])
    facts = [
        ReportFacts(
            at=row[1],
            received_at=row[1],
            source=row[2],
            reason=row[3],
            detector=row[4],
            score=row[5],
            text_length=len(row[13] or ""),
            media_count=len(row[14] or ()),
            subject_id=row[8],
            subject_kind=row[9],
            subject_created_at=row[11] or row[10],
            account_id=row[12] or (row[8] if row[9] == "account" else None),
            reporter_hash=row[6],
            open_case_reports=earlier.get(row[0], 0),
        )
        for row in rows
    ]
    inputs = build_inputs(facts, reporters_as_of=period_start)
    labels = decisions_by_case(sorted({row[7] for row in rows}))
    for row, values in zip(rows, inputs, strict=True):
        label = label_for(labels.get(row[7]), row[1])
        matched = {name: bool(ruleset.evaluate(values)) for name, ruleset in sets.items()}
        for name, hit in matched.items():
            _count(state["sides"][name], families[name], row, label, hit, sets[name])
        if matched["candidate"] and others.entries and others.evaluate(values):
            state["overlap"]["also_active"] += 1
        if "compare" in matched:
            both = matched["candidate"] and matched["compare"]
            state["overlap"]["both"] += int(both)
            state["overlap"]["only_candidate"] += int(matched["candidate"] and not both)
            state["overlap"]["only_compare"] += int(matched["compare"] and not both)


def _sample(row, label) -> dict:
    return {
        "report_id": row[0],
        "case_id": row[7],
        "received_at": row[1].isoformat(),
        "reason": row[3],
        "source": row[2],
        "score": row[5],
        "subject": f"{row[9]} {row[15]}",
        "text": (row[13] or "")[:200],
        "label": label,
    }


def _count(side: dict, family, row, label, hit: bool, ruleset: RuleSet) -> None:
    in_family = family is None or row[3] in family
    confirmed = label == "violation"
    if in_family and confirmed:
        side["family_confirmed"] += 1
    if not hit:
        if in_family and confirmed and len(side["samples_missed"]) < SAMPLES:
            side["samples_missed"].append(_sample(row, label))
        return
    side["matches"] += 1
    day = row[1].date().isoformat()
    side["by_day"][day] = side["by_day"].get(day, 0) + 1
    for effect in ruleset.entries[0].version.effects:
        key = _effect_key(effect)
        side["effects"][key] = side["effects"].get(key, 0) + 1
    if label is not None:
        side["decided"] += 1
        side["confirmed"] += int(confirmed)
    if in_family and confirmed:
        side["matched_confirmed"] += 1
    if len(side["samples_matched"]) < SAMPLES:
        side["samples_matched"].append(_sample(row, label))


def _effect_key(effect: dict) -> str:
    kind = effect["type"]
    detail = {
        "route": lambda e: e["queue"] + (f" {e['severity']}" if "severity" in e else ""),
        "severity": lambda e: e["severity"],
        "tag": lambda e: e["tag"],
        "escalate": lambda e: e["team"],
        "action": lambda e: e["action"],
    }[kind](effect)
    return f"{kind}: {detail}"


def _summarise(state: dict, backtest: Backtest) -> dict:
    days = max((backtest.period_to - backtest.period_from).total_seconds() / 86400, 1 / 24)
    sides = {}
    for name, side in state["sides"].items():
        interval = wilson_interval(side["confirmed"], side["decided"])
        sides[name] = {
            "version": (
                backtest.version if name == "candidate" else backtest.compare_version
            ).number,
            "matches": side["matches"],
            "matches_per_day": round(side["matches"] / days, 2),
            "match_rate": round(side["matches"] / state["evaluated"], 6)
            if state["evaluated"]
            else 0,
            "by_day": dict(sorted(side["by_day"].items())),
            "effects": dict(sorted(side["effects"].items(), key=lambda kv: -kv[1])),
            "decided": side["decided"],
            "confirmed": side["confirmed"],
            "precision": round(side["confirmed"] / side["decided"], 4) if side["decided"] else None,
            "precision_interval": [round(b, 4) for b in interval] if interval else None,
            "recall": (
                round(side["matched_confirmed"] / side["family_confirmed"], 4)
                if side["family_confirmed"]
                else None
            ),
            "family_confirmed": side["family_confirmed"],
            "samples_matched": side["samples_matched"],
            "samples_missed": side["samples_missed"],
        }
    return {
        "evaluated": state["evaluated"],
        "period_days": round(days, 2),
        "sides": sides,
        "overlap": state["overlap"],
    }
