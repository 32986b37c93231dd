"""Which decision decides a report: the one definition the detector-precision KPI and the
detector operating points share.

A report is decided by the first decision on its case made at or after it arrived (the
earliest by time, then by id); it is confirmed when that decision found a violation. Read from
the decisions' side, a decision decides the reports its case received since the case's
previous decision. Both readings are written here, side by side, so they cannot drift apart.
"""

from __future__ import annotations

# From the decisions' side (the rollups): ``d`` joined to the flags ``r`` it decides.
FLAGS_DECIDED_FROM = (
    "enforcement_decision d JOIN cases_case c ON c.id = d.case_id "
    "CROSS JOIN LATERAL (SELECT max(dp.created_at) AS at FROM enforcement_decision dp "
    "WHERE dp.case_id = d.case_id AND (dp.created_at < d.created_at "
    "OR (dp.created_at = d.created_at AND dp.id < d.id))) prev "
    "JOIN cases_report r ON r.case_id = d.case_id AND r.source = 'automated_flag' "
    "AND r.received_at <= d.created_at AND (prev.at IS NULL OR r.received_at > prev.at)"
)


def deciding_decision_lateral(*, before: str = "") -> str:
    """From the reports' side: ``LEFT JOIN LATERAL`` this after a report ``r`` to get its
    deciding decision as ``d`` (all columns null while undecided). ``before``, an SQL
    expression, reads it as it stood at that moment (decisions made later do not count yet)."""
    bound = f"AND dd.created_at < {before} " if before else ""
    where = f"WHERE dd.case_id = r.case_id AND dd.created_at >= r.received_at {bound}"
    return (
        "LEFT JOIN LATERAL (SELECT dd.id, dd.outcome, dd.automated FROM enforcement_decision dd "  # noqa: S608
        + where
        + "ORDER BY dd.created_at, dd.id LIMIT 1) d ON TRUE"
    )


DECIDING_DECISION_LATERAL = deciding_decision_lateral()

# Whether the deciding decision ``d`` confirms the report.
CONFIRMED = "d.outcome = 'violation'"
