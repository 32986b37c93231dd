"""Reads of reporter reputation, as the actor may see it.

The stored :class:`~detection.models.ReporterReputation` row is the system's figure (priority
and rules use it). What a member is shown is counted again over the reports on the cases they
may see, so a restricted case never shows in a figure to someone outside its team; a
reporter none of whose reports the actor may see does not exist for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404

from cases.identifiers import hash_for_text
from cases.models import Case, Report
from cases.visibility import visible_cases
from detection.models import ReporterInvalidation, ReporterReputation
from detection.permissions_reputation import can_view_reporters
from detection.reputation import BANDS, band_of, good_score, poor_score, prior, score_of
from metrics.deciding import DECIDING_DECISION_LATERAL
from tsops.errors import HiddenObject

LIST_LIMIT = 50


@dataclass
class ReporterRecord:
    """One reporter as the actor may see them; ``prefix`` is the only part of the hash shown."""

    reporter_hash: str
    reports: int
    open_reports: int
    decided: int
    confirmed: int
    set_aside: int
    score: float
    trusted: bool
    band: str
    invalidations: list

    @property
    def prefix(self) -> str:
        return self.reporter_hash[:12]

    @property
    def band_label(self) -> str:
        return BANDS[self.band]

    @property
    def confirmed_share(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None


# Per hash, over the reports on the actor's visible cases: reports, open ones, decided and
# confirmed (the deciding decision, as metrics.deciding defines it), trusted, set aside.
_FIGURES = """
SELECT r.reporter_hash, count(*),
       count(*) FILTER (WHERE c.status <> 'resolved'),
       count(d.outcome), count(*) FILTER (WHERE d.outcome = 'violation'),
       bool_or(r.source = %s),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM detection_invalidatedreport ir
                                      WHERE ir.report_id = r.id AND ir.restored_at IS NULL))
FROM cases_report r
JOIN cases_case c ON c.id = r.case_id
{deciding}
WHERE r.reporter_hash = ANY(%s) AND r.case_id IN ({visible})
GROUP BY r.reporter_hash
"""


def _figures(actor, hashes: list[str]) -> dict[str, ReporterRecord]:
    if not hashes:
        return {}
    visible_sql, visible_params = visible_cases(actor).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            _FIGURES.format(visible=visible_sql, deciding=DECIDING_DECISION_LATERAL),
            [Report.Source.TRUSTED_FLAGGER, hashes, *visible_params],
        )
        rows = cursor.fetchall()
    records = {}
    for h, reports, open_reports, decided, confirmed, trusted, set_aside in rows:
        score = score_of(confirmed, decided)
        records[h] = ReporterRecord(
            reporter_hash=h,
            reports=reports,
            open_reports=open_reports,
            decided=decided,
            confirmed=confirmed,
            set_aside=set_aside,
            score=score,
            trusted=trusted,
            band=band_of(score=score, decided=decided, trusted=trusted),
            invalidations=[],
        )
    return records


def _check(actor) -> None:
    if not can_view_reporters(actor):
        raise PermissionDenied("Only seniors look reporters up.")


def reporter_hash_of(reporter_id: str) -> str:
    """The hash a raw reporter id is stored under (the raw id is never kept)."""
    return hash_for_text(reporter_id)


def reporter_get_for(*, actor, reporter_hash: str) -> ReporterRecord:
    """One reporter's record over the cases the actor may see, with the invalidations of
    their reports; 404 when none of their reports is visible (or the hash is unknown)."""
    _check(actor)
    record = _figures(actor, [reporter_hash]).get(reporter_hash)
    if record is None:
        # A reporter whose reports are all out of the actor's sight exists: a denial, logged.
        known = ReporterReputation.objects.filter(pk=reporter_hash).first() or (
            Report.objects.filter(reporter_hash=reporter_hash).only("pk").first()
        )
        if known is not None:
            raise HiddenObject("No such reporter.", actor=actor, obj=known)
        raise Http404("No such reporter.")
    record.invalidations = list(
        ReporterInvalidation.objects.filter(reporter_hash=reporter_hash)
        .select_related("invalidated_by", "restored_by")
        .order_by("-invalidated_at")[:20]
    )
    return record


def reporter_list(*, actor, order: str = "lowest", prefix: str = "") -> list[ReporterRecord]:
    """Reporters by lowest score or most reports (``order``: "lowest" or "active"), optionally
    those whose hash starts with ``prefix``; figures over the cases the actor may see."""
    _check(actor)
    rows = ReporterReputation.objects.all()
    if prefix:
        rows = rows.filter(reporter_hash__startswith=prefix.lower())
    ordering = ("score", "-reports") if order == "lowest" else ("-reports", "score")
    # Read a few more than shown: some may have no report the actor can see.
    hashes = list(
        rows.order_by(*ordering, "reporter_hash").values_list("reporter_hash", flat=True)[
            : LIST_LIMIT * 2
        ]
    )
    figures = _figures(actor, hashes)
    return [figures[h] for h in hashes if h in figures][:LIST_LIMIT]


def reporter_mix(*, case: Case) -> list[dict]:
    """A case's reports by their reporter's band (and those set aside), never who reported:
    ``[{"band", "label", "count"}]`` in band order, empty bands left out. The caller has
    checked the case is visible (the case page's panel)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE "
            "WHEN EXISTS (SELECT 1 FROM detection_invalidatedreport ir "
            "  WHERE ir.report_id = r.id AND ir.restored_at IS NULL) THEN 'set_aside' "
            "WHEN r.source = %(trusted)s OR rep.trusted THEN 'trusted' "
            "WHEN r.reporter_hash = '' THEN 'none' "
            "WHEN rep.decided IS NULL OR rep.decided = 0 THEN 'new' "
            "WHEN rep.score >= %(good)s THEN 'good' "
            "WHEN rep.score <= %(poor)s THEN 'poor' ELSE 'mixed' END AS band, count(*) "
            "FROM cases_report r "
            "LEFT JOIN detection_reporterreputation rep ON rep.reporter_hash = r.reporter_hash "
            "WHERE r.case_id = %(case)s GROUP BY band",
            {
                "trusted": Report.Source.TRUSTED_FLAGGER,
                "good": good_score(),
                "poor": poor_score(),
                "case": case.pk,
            },
        )
        counts = dict(cursor.fetchall())
    labels = {
        **BANDS,
        "none": "No reporter (automated or internal)",
        "set_aside": "Set aside as mass flagging",
    }
    return [
        {"band": band, "label": label, "count": counts[band]}
        for band, label in labels.items()
        if counts.get(band)
    ]


def prior_mean() -> float:
    """The score of a reporter nobody has decided on."""
    alpha, beta = prior()
    return alpha / (alpha + beta)
