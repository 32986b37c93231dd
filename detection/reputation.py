"""Reporter reputation: how often a reporter's reports are confirmed, as a smoothed score.

A report is *decided* by its deciding decision — the first decision on its case made at or
after the report arrived — and *confirmed* when that decision is a violation: the definition
the detector-precision KPI uses for automated flags (``metrics.rollups.DETECTORS``), applied
here to every report that carries a reporter's hash. A reopened case's new decision decides
only the reports received since the previous one, exactly as there.

The score is the posterior mean of a Beta(α, β) prior updated with the reporter's decided
reports: ``(α + confirmed) / (α + β + decided)``, with α and β from
``TSOPS_REPUTATION_PRIOR_ALPHA`` and ``TSOPS_REPUTATION_PRIOR_BETA``. A reporter nobody has
decided on has the prior mean. Trusted flaggers (Art. 22 DSA) are the reporters who sent
reports as ``trusted_flagger``; they count as of good standing whatever their score.

Rows are kept current by :func:`reputation_refresh` (a beat job reading what changed since
its watermark) and can be rebuilt from scratch by :func:`reputation_recompute` (the
``reputation_recompute`` command); both run the same set-based statement, so an incremental
refresh and a full recompute give the same rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases.models import Report
from detection.models import ReporterReputation, ReputationWatermark
from metrics.deciding import DECIDING_DECISION_LATERAL, deciding_decision_lateral

WATERMARK = "reputation"
# Reports and decisions committed a little after the moment they carry are still read: each
# refresh re-reads this much before its watermark (recomputing a hash twice is harmless).
OVERLAP = timedelta(minutes=10)

GOOD = "good"
MIXED = "mixed"
POOR = "poor"
NEW = "new"
TRUSTED = "trusted"
BANDS: dict[str, str] = {
    TRUSTED: "Trusted flaggers",
    GOOD: "Good record",
    MIXED: "Mixed record",
    POOR: "Poor record",
    NEW: "No decided reports yet",
}


def prior() -> tuple[int, int]:
    """The Beta prior's (α, β)."""
    return settings.TSOPS_REPUTATION_PRIOR_ALPHA, settings.TSOPS_REPUTATION_PRIOR_BETA


def score_of(confirmed: int, decided: int) -> float:
    """The posterior mean of the Beta prior after ``decided`` reports, ``confirmed`` of them."""
    alpha, beta = prior()
    return (alpha + confirmed) / (alpha + beta + decided)


def good_score() -> float:
    return settings.TSOPS_REPUTATION_GOOD_PERCENT / 100


def poor_score() -> float:
    return settings.TSOPS_REPUTATION_POOR_PERCENT / 100


def band_of(*, score: float, decided: int, trusted: bool) -> str:
    """The band a reporter is shown in (the case page's mix, the reporters page)."""
    if trusted:
        return TRUSTED
    if decided == 0:
        return NEW
    if score >= good_score():
        return GOOD
    if score <= poor_score():
        return POOR
    return MIXED


def reporter_inputs(hashes: list[str]) -> dict[str, dict]:
    """Each hash's rule inputs ``{"reputation", "trusted", "reports", "confirmed"}``, in one
    query for a whole intake batch; a hash never seen (or empty) answers the prior."""
    wanted = sorted({h for h in hashes if h})
    known = (
        {
            row[0]: {
                "reputation": row[1],
                "trusted": row[2],
                "reports": row[3],
                "confirmed": row[4],
            }
            for row in ReporterReputation.objects.filter(reporter_hash__in=wanted).values_list(
                "reporter_hash", "score", "trusted", "reports", "confirmed"
            )
        }
        if wanted
        else {}
    )
    unknown = {"reputation": score_of(0, 0), "trusted": False, "reports": 0, "confirmed": 0}
    return {h: known.get(h, dict(unknown)) for h in dict.fromkeys(hashes)}


def reporter_inputs_as_of(hashes: list[str], as_of) -> dict[str, dict]:
    """The same inputs as they stood at ``as_of`` (what a backtest replays): only reports
    received, and deciding decisions made, before that moment count."""
    wanted = sorted({h for h in hashes if h})
    rows = []
    if wanted:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.reporter_hash, count(*), count(d.outcome), "  # noqa: S608
                "count(*) FILTER (WHERE d.outcome = 'violation'), "
                "bool_or(r.source = %s) FROM cases_report r "
                + deciding_decision_lateral(before="%s")
                + " WHERE r.reporter_hash = ANY(%s) AND r.received_at < %s GROUP BY 1",
                [Report.Source.TRUSTED_FLAGGER, as_of, wanted, as_of],
            )
            rows = cursor.fetchall()
    known = {}
    for reporter_hash, reports, decided, confirmed, trusted in rows:
        known[reporter_hash] = {
            "reputation": score_of(confirmed, decided),
            "trusted": bool(trusted),
            "reports": reports,
            "confirmed": confirmed,
        }
    unknown = {"reputation": score_of(0, 0), "trusted": False, "reports": 0, "confirmed": 0}
    return {h: known.get(h, dict(unknown)) for h in dict.fromkeys(hashes)}


def rule_inputs(hashes: list[str], *, as_of=None) -> dict[str, dict]:
    """The reporter inputs of rules (``detection.inputs``): current, or as of a moment."""
    if as_of is None:
        return reporter_inputs(hashes)
    return reporter_inputs_as_of(hashes, as_of)


# One statement for every hash asked (or all of them): counts, score and trusted from the
# reports and each report's deciding decision, upserted. ``%(all)s`` skips the hash filter.
_RECOMPUTE = f"""
INSERT INTO detection_reporterreputation
    (reporter_hash, reports, decided, confirmed, score, trusted, last_report_at, updated_at)
SELECT r.reporter_hash, count(*), count(d.outcome),
       count(*) FILTER (WHERE d.outcome = 'violation'),
       (%(alpha)s + count(*) FILTER (WHERE d.outcome = 'violation'))::float8
           / (%(alpha)s + %(beta)s + count(d.outcome)),
       bool_or(r.source = %(trusted)s), max(r.received_at), %(now)s
FROM cases_report r {DECIDING_DECISION_LATERAL}
WHERE r.reporter_hash <> '' AND (%(all)s OR r.reporter_hash = ANY(%(hashes)s))
GROUP BY r.reporter_hash
ON CONFLICT (reporter_hash) DO UPDATE SET
    reports = EXCLUDED.reports, decided = EXCLUDED.decided, confirmed = EXCLUDED.confirmed,
    score = EXCLUDED.score, trusted = EXCLUDED.trusted,
    last_report_at = EXCLUDED.last_report_at, updated_at = EXCLUDED.updated_at
"""  # noqa: S608 (a fragment from code)

# The hashes whose figures may have changed since ``%(since)s``: reporters of reports received
# since then, and reporters of any report on a case decided since then.
_CHANGED = """
SELECT reporter_hash FROM cases_report
WHERE received_at > %(since)s AND reporter_hash <> ''
UNION
SELECT r.reporter_hash FROM enforcement_decision d
JOIN cases_report r ON r.case_id = d.case_id
WHERE d.created_at > %(since)s AND r.reporter_hash <> ''
"""


def _recompute(hashes: list[str] | None, now: datetime) -> int:
    alpha, beta = prior()
    with connection.cursor() as cursor:
        cursor.execute(
            _RECOMPUTE,
            {
                "alpha": alpha,
                "beta": beta,
                "trusted": Report.Source.TRUSTED_FLAGGER,
                "now": now,
                "all": hashes is None,
                "hashes": hashes or [],
            },
        )
        return cursor.rowcount


def reputation_recompute() -> int:
    """Rebuild every reporter's row from the reports and decisions; returns the rows written.
    Also moves the watermark, so the next refresh starts from here."""
    now = timezone.now()
    with transaction.atomic():
        written = _recompute(None, now)
        ReputationWatermark.objects.update_or_create(name=WATERMARK, defaults={"upto": now})
    return written


def reputation_refresh() -> int:
    """Recompute the reporters whose reports arrived or were decided since the watermark;
    returns the rows written. The first run (no watermark yet) is a full recompute."""
    now = timezone.now()
    with transaction.atomic():
        mark = ReputationWatermark.objects.select_for_update().filter(name=WATERMARK).first()
        if mark is None:
            written = _recompute(None, now)
            ReputationWatermark.objects.create(name=WATERMARK, upto=now)
            return written
        with connection.cursor() as cursor:
            cursor.execute(_CHANGED, {"since": mark.upto - OVERLAP})
            hashes = [row[0] for row in cursor.fetchall()]
        written = _recompute(hashes, now) if hashes else 0
        mark.upto = now
        mark.save(update_fields=["upto"])
    return written
