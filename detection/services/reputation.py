"""Reporter reputation at work: the intake hook that lets good reporters raise a case's claim
priority, and the mass-flag defence (a senior sets a reporter's open reports aside, and may
put them back).

Priority (``Case.priority``) orders the claim queue within a severity, higher first; the SLA
sweep raises it by one per breached deadline. Here it is raised by one, once per case, when a
report from a reporter of good standing joins the case (a trusted flagger, or a score at or
above ``TSOPS_REPUTATION_GOOD_PERCENT``). Reports from anyone else never raise it, however
many arrive: a flood from a poor reporter leaves the case where it was in the claim order.

Setting reports aside (invalidation) applies to the reporter's reports on unresolved cases
the senior may see, and per case:

- the reports stop counting toward the case's report counters (``report_count`` and
  ``human_count`` or ``automated_count``), which order equal-priority cases;
- a case left with no report that still counts has its priority lowered by one, so it sinks
  behind real work of its severity (it stays open: a human still decides it, and restoring
  is exact);
- a ``REPORTS_INVALIDATED`` event goes on the case's timeline and a history row on the case.

Restoring undoes exactly that for the cases the restorer may see (``REPORTS_RESTORED``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from cases.models import Case, CaseEvent, Report
from cases.timeline import EventKind
from cases.visibility import visible_cases
from detection.models import InvalidatedReport, ReporterInvalidation
from detection.permissions_reputation import can_invalidate_reporter
from detection.reputation import good_score
from tsops.history import history_snapshot

REASON_MIN = 5

# One statement per intake batch: the touched cases that received a report from a reporter
# of good standing in this batch (its reports carry the batch's ``now`` as created_at), each
# raised once in its life (the boost row is the memory of that).
_BOOST = """
WITH good AS (
    SELECT DISTINCT r.case_id FROM cases_report r
    LEFT JOIN detection_reporterreputation rep ON rep.reporter_hash = r.reporter_hash
    WHERE r.case_id = ANY(%(ids)s) AND r.created_at = %(now)s
      AND (r.source = %(trusted)s OR rep.trusted OR rep.score >= %(good)s)
), boosted AS (
    INSERT INTO detection_reputationboost (case_id, created_at)
    SELECT case_id, %(now)s FROM good
    ON CONFLICT (case_id) DO NOTHING RETURNING case_id
)
UPDATE cases_case c SET priority = c.priority + 1, updated_at = %(now)s
FROM boosted b WHERE c.id = b.case_id
"""


def reputation_priority_hook(*, actor, cases, now: datetime) -> None:
    """Intake hook (``cases.intake.register_intake_hook``): raise the claim priority of the
    batch's cases that a reporter of good standing reported, once per case."""
    ids = [c.case_id for c in cases]
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _BOOST,
            {
                "ids": ids,
                "now": now,
                "trusted": Report.Source.TRUSTED_FLAGGER,
                "good": good_score(),
            },
        )


def _check(actor, reason: str) -> str:
    if not can_invalidate_reporter(actor):
        raise PermissionDenied("Only a senior may set a reporter's reports aside.")
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise ValidationError({"reason": f"Say why, in at least {REASON_MIN} characters."})
    return reason


def _apply_counts(case_ids: list[int], per_case: dict[int, list[int]], sign: int, now) -> None:
    """Add (sign 1) or remove (sign -1) reports from the cases' counters; [automated, human]."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_case c SET report_count = c.report_count + %(s)s * (v.a + v.h), "
            "automated_count = c.automated_count + %(s)s * v.a, "
            "human_count = c.human_count + %(s)s * v.h, updated_at = %(now)s "
            "FROM unnest(%(ids)s::bigint[], %(a)s::int[], %(h)s::int[]) AS v(id, a, h) "
            "WHERE c.id = v.id",
            {
                "s": sign,
                "now": now,
                "ids": case_ids,
                "a": [per_case[i][0] for i in case_ids],
                "h": [per_case[i][1] for i in case_ids],
            },
        )


def _counts_by_case(reports) -> dict[int, list[int]]:
    per_case: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for case_id, source in reports:
        per_case[case_id][0 if source == Report.Source.AUTOMATED_FLAG else 1] += 1
    return per_case


def _sunk(also_set_aside: list[int], case_ids: list[int]) -> set[int]:
    """The cases among ``case_ids`` with no report that counts: every report set aside (by a
    live invalidation, or listed in ``also_set_aside``, about to be)."""
    live = InvalidatedReport.objects.filter(restored_at__isnull=True).values("report_id")
    counting = set(
        Report.objects.filter(case_id__in=case_ids)
        .exclude(pk__in=also_set_aside)
        .exclude(pk__in=live)
        .values_list("case_id", flat=True)
    )
    return {i for i in case_ids if i not in counting}


def _events(case_ids, kind: EventKind, actor, now, data: dict[int, dict]) -> None:
    CaseEvent.objects.bulk_create(
        [CaseEvent(case_id=i, kind=kind, actor=actor, at=now, data=data[i]) for i in case_ids]
    )


def _lock_open_reports(actor, reporter_hash: str) -> list[tuple[int, int, str]]:
    """(report id, case id, source) of the reporter's reports that count, on unresolved cases
    the actor may see, with those cases locked in id order (as intake locks them) so that a
    concurrent intake batch or decision waits rather than counting reports twice."""
    open_cases = visible_cases(actor).exclude(status=Case.Status.RESOLVED)
    target = Report.objects.filter(reporter_hash=reporter_hash, case__in=open_cases)
    case_ids = sorted(set(target.values_list("case_id", flat=True)))
    list(Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk").values("pk"))
    live = InvalidatedReport.objects.filter(restored_at__isnull=True).values("report_id")
    # The status again, now that the rows are locked: a case resolved meanwhile is left.
    return list(
        target.filter(case_id__in=case_ids, case__status__in=Case.OPEN_STATUSES)
        .exclude(pk__in=live)
        .values_list("pk", "case_id", "source")
    )


def reporter_invalidate(*, actor, reporter_hash: str, reason: str) -> ReporterInvalidation:
    """Set aside the reporter's reports on unresolved cases the actor may see (see the module
    docstring for the effect on each case). Refuses (400) when there is none to set aside."""
    reason = _check(actor, reason)
    now = timezone.now()
    with transaction.atomic():
        reports = _lock_open_reports(actor, reporter_hash)
        if not reports:
            raise ValidationError(
                {"reporter_id": "This reporter has no open reports you may set aside."}
            )
        invalidation = ReporterInvalidation(
            reporter_hash=reporter_hash, reason=reason, invalidated_by=actor, invalidated_at=now
        )
        invalidation._history_user = actor
        invalidation._change_reason = "reports set aside as mass flagging"
        invalidation.save()

        per_case = _counts_by_case((c, s) for _, c, s in reports)
        case_ids = sorted(per_case)
        _apply_counts(case_ids, per_case, -1, now)
        first_of_case: set[int] = set()
        rows = []
        # Every case had a report that counted (this reporter's); those left with none sink.
        emptied = _sunk([pk for pk, _, _ in reports], case_ids)
        for pk, case_id, _ in reports:
            lowered = case_id in emptied and case_id not in first_of_case
            first_of_case.add(case_id)
            rows.append(
                InvalidatedReport(
                    invalidation=invalidation,
                    report_id=pk,
                    case_id=case_id,
                    lowered_priority=lowered,
                )
            )
        InvalidatedReport.objects.bulk_create(rows)
        Case.objects.filter(pk__in=emptied).update(priority=F("priority") - 1, updated_at=now)

        data = {
            i: {
                "reports": sum(per_case[i]),
                "reason": reason,
                "invalidation_id": invalidation.pk,
                "priority_lowered": i in emptied,
            }
            for i in case_ids
        }
        _events(case_ids, EventKind.REPORTS_INVALIDATED, actor, now, data)
        history_snapshot(
            Case,
            case_ids,
            history_type="~",
            actor=actor,
            reason=f"reports set aside (invalidation {invalidation.pk})",
            at=now,
        )
    return invalidation


def reporter_restore(*, actor, reporter_hash: str, reason: str) -> list[ReporterInvalidation]:
    """Put back the reporter's reports set aside, on the cases the actor may see: counters,
    priority and a ``REPORTS_RESTORED`` event per case. Refuses (400) when none is set aside
    there. Returns the invalidations touched."""
    reason = _check(actor, reason)
    now = timezone.now()
    with transaction.atomic():
        rows = InvalidatedReport.objects.filter(
            invalidation__reporter_hash=reporter_hash,
            restored_at__isnull=True,
            case__in=visible_cases(actor),
        )
        case_ids = sorted(set(rows.values_list("case_id", flat=True)))
        list(Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk").values("pk"))
        taken = list(
            rows.select_for_update(of=("self",)).values_list(
                "pk", "case_id", "report__source", "invalidation_id"
            )
        )
        if not taken:
            raise ValidationError(
                {"reporter_id": "No report of this reporter is set aside on cases you may see."}
            )
        per_case = _counts_by_case((c, s) for _, c, s, _ in taken)
        case_ids = sorted(per_case)
        _apply_counts(case_ids, per_case, 1, now)
        # A case rises again when it sank (no report counted) and now has one that counts,
        # whichever invalidation sank it: overlapping invalidations of several reporters
        # leave the priority exactly where it started once all are restored.
        sunk_before = _sunk([], case_ids)
        InvalidatedReport.objects.filter(pk__in=[t[0] for t in taken]).update(restored_at=now)
        raised = sorted(sunk_before - _sunk([], case_ids))
        Case.objects.filter(pk__in=raised).update(priority=F("priority") + 1, updated_at=now)

        touched = sorted({t[3] for t in taken})
        invalidations = list(
            ReporterInvalidation.objects.select_for_update().filter(pk__in=touched)
        )
        remaining = set(
            InvalidatedReport.objects.filter(
                invalidation_id__in=touched, restored_at__isnull=True
            ).values_list("invalidation_id", flat=True)
        )
        for invalidation in invalidations:
            if invalidation.pk in remaining:
                continue
            invalidation.restored_by = actor
            invalidation.restored_at = now
            invalidation.restore_reason = reason
            invalidation._history_user = actor
            invalidation._change_reason = "reports restored"
            invalidation.save()

        data = {
            i: {
                "reports": sum(per_case[i]),
                "reason": reason,
                "priority_raised": i in raised,
            }
            for i in case_ids
        }
        _events(case_ids, EventKind.REPORTS_RESTORED, actor, now, data)
        history_snapshot(
            Case,
            case_ids,
            history_type="~",
            actor=actor,
            reason="set-aside reports restored",
            at=now,
        )
    return invalidations
