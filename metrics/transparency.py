"""The DSA transparency report for one period: every figure defined once, here.

The figures follow the harmonised transparency report templates of Implementing Regulation
(EU) 2024/2835 (summarised in ``shared/reference/dsa-statement-of-reasons.md``) and are
counted the way the statements of reasons (:mod:`enforcement.statements`) describe each
action, so the report and the statements sent to the Transparency Database agree:

- an *action* is an applied enforcement action (active, expired or reversed since), dated
  by when it took effect (``starts_at``); each owes one statement of reasons;
- its *restriction type* is the statement's decision field and value, from the action
  catalogue; its *ground* is law when the policy section names a legal ground, else the
  terms and conditions;
- it was taken *on own initiative* when the statement's ``source_type`` is
  ``SOURCE_VOLUNTARY``: no notice (user report or trusted flagger) and no support ticket
  among the case's reports received by the decision (every report when none was received
  by then, as ``enforcement.statements._sources_before`` does);
- *automated detection*: an automated flag among those reports; *solely automated*: the
  decision was made without a human (``Decision.automated``).

Everything is computed with set-based aggregates in the database (a handful of queries
whatever the period), for the period ``[from 00:00, to 00:00)`` in the project's time zone.
Restricted cases count only for members of the case's team, by the rule every figure uses
(:func:`cases.visibility.figure_teams`, as the KPIs do), superusers included.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
)
from django.utils import timezone

from appeals.models import Appeal
from cases.models import Report, ReportReason
from cases.visibility import figure_cases_q, figure_teams
from enforcement.catalogue import ACTIONS
from enforcement.models import Decision, EnforcementAction
from enforcement.statements import (
    APPLIED_STATUSES,
    CATEGORIES,
    DECISION_ACCOUNT,
    DECISION_MONETARY,
    DECISION_PROVISION,
    DECISION_VISIBILITY,
    FALLBACK_CATEGORY,
)
from tsops.permissions import has_capability

NOTICE_SOURCES = (Report.Source.USER_REPORT, Report.Source.TRUSTED_FLAGGER)
# Sources that make an action a response to someone else's request (not own initiative).
REQUESTED_SOURCES = (*NOTICE_SOURCES, Report.Source.SUPPORT)
REPEAT_OFFENDER_ACTIONS = ("suspend", "ban")

RESTRICTION_GROUPS = (
    ("decision_visibility", "Visibility", DECISION_VISIBILITY),
    ("decision_monetary", "Monetary", DECISION_MONETARY),
    ("decision_provision", "Provision of the service", DECISION_PROVISION),
    ("decision_account", "Account", DECISION_ACCOUNT),
)
ACTION_MEASURES = (
    "actions",
    "law",
    "terms",
    "own_initiative",
    "automated_detection",
    "automated_decision",
)

DEFINITIONS: dict[str, str] = {
    "notices": (
        "Notices received: user reports (Art. 16 DSA) and trusted flaggers' notices (Art. 22) "
        "received in the period, one per report, by the DSA category of the report's reason. "
        "Support tickets are counted apart as other notifications; automated flags and "
        "internal reports are not notices."
    ),
    "trusted_flagger": "Of the notices, those a trusted flagger sent (Art. 22 DSA).",
    "median_hours_to_action": (
        "Median time from a notice's receipt to the first decision on its case made at or after "
        "the receipt and before the end of the period (any outcome: deciding that nothing "
        "breaks a rule is acting on the notice), in hours. Notices not decided by the end of "
        "the period are left out and counted as pending."
    ),
    "actions": (
        "Enforcement actions that took effect in the period (still active, expired or reversed "
        "since): one statement of reasons each. A replacement after a modified appeal is a new "
        "action."
    ),
    "law": "Actions whose policy section names a legal ground (illegal content).",
    "terms": "Actions under a policy section without a legal ground (terms and conditions).",
    "own_initiative": (
        "Actions not requested by anyone: no notice and no support ticket among the case's "
        "reports received by the decision (automated flags and internal reports only)."
    ),
    "automated_detection": "Actions whose case was flagged by an automated detector.",
    "automated_decision": "Actions decided by solely automated means (no human decided).",
    "restriction_types": (
        "Actions by the statement-of-reasons restriction they impose: visibility (removed, "
        "disabled, demoted, age-restricted, interaction-restricted, labelled, other), monetary, "
        "provision of the service, account."
    ),
    "complaints_received": "Appeals (internal complaints, Art. 20 DSA) filed in the period.",
    "complaints_decided": (
        "Appeals decided in the period: upheld (the decision stands) or reversed (overturned, "
        "or modified to a lighter action)."
    ),
    "median_hours_to_decide_complaint": (
        "Median time from filing to decision of the appeals decided in the period, in hours."
    ),
    "complaints_open_at_end": "Appeals filed before the end of the period and not decided by then.",
    "repeat_offender_suspensions": (
        "Account suspensions and bans that took effect in the period on accounts that had active "
        "strikes when decided (Decision.strikes_before > 0; Art. 23 DSA)."
    ),
}


class Median(Aggregate):
    """``percentile_cont(0.5)`` of a duration (an interval in PostgreSQL)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def can_view_transparency_report(user) -> bool:
    return has_capability(user, "export_data")


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """From ``start`` 00:00 to the end of ``end`` (both days included, as for every period in
    TSOps) in the project's time zone, as a half-open ``[since, until)`` pair."""
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz),
    )


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def transparency_report(*, actor, start: date, end: date) -> dict:
    """Every figure of the transparency report from ``start`` to ``end``, both days included
    (see the module docstring
    and :data:`DEFINITIONS`), restricted cases only for their team's members."""
    if not can_view_transparency_report(actor):
        raise PermissionDenied("The transparency report needs the export permission.")
    if start > end:
        raise ValueError("start must not be after end")
    since, until = period_bounds(start, end)
    scope = figure_cases_q(actor, prefix="case__")
    return {
        "period": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "to_included": True,
            "time_zone": str(timezone.get_current_timezone()),
        },
        "restricted_teams_included": sorted(team for team in figure_teams(actor) if team),
        "notices": _notices(since, until, scope),
        "actions": _actions(since, until, scope),
        "complaints": _complaints(since, until, scope),
        "repeat_offender_suspensions": _repeat_offenders(since, until, scope),
        "definitions": DEFINITIONS,
    }


# --- Notices ----------------------------------------------------------------------------------


def _notices(since: datetime, until: datetime, scope: Q) -> dict:
    reports = Report.objects.filter(received_at__gte=since, received_at__lt=until).filter(scope)
    categories = dict(ReportReason.objects.values_list("code", "dsa_category"))
    by_category = {
        c: {"notices": 0, "trusted_flagger": 0, "other_notifications": 0} for c in CATEGORIES
    }
    by_source: dict[str, int] = defaultdict(int)
    for reason, source, count in (
        reports.values_list("reason", "source").annotate(n=Count("id")).order_by()
    ):
        by_source[source] += count
        category = categories.get(reason)
        row = by_category[category if category in CATEGORIES else FALLBACK_CATEGORY]
        if source in NOTICE_SOURCES:
            row["notices"] += count
        if source == Report.Source.TRUSTED_FLAGGER:
            row["trusted_flagger"] += count
        if source == Report.Source.SUPPORT:
            row["other_notifications"] += count

    first_decision = (
        Decision.objects.filter(
            case_id=OuterRef("case_id"),
            created_at__gte=OuterRef("received_at"),
            created_at__lt=until,
        )
        .order_by("created_at")
        .values("created_at")[:1]
    )
    timing = (
        reports.filter(source__in=NOTICE_SOURCES)
        .annotate(decided_at=Subquery(first_decision))
        .aggregate(
            actioned=Count("id", filter=Q(decided_at__isnull=False)),
            median=Median(F("decided_at") - F("received_at"), filter=Q(decided_at__isnull=False)),
        )
    )
    total = by_source[Report.Source.USER_REPORT] + by_source[Report.Source.TRUSTED_FLAGGER]
    return {
        "received": total,
        "trusted_flagger": by_source[Report.Source.TRUSTED_FLAGGER],
        "other_notifications": by_source[Report.Source.SUPPORT],
        "automated_flags": by_source[Report.Source.AUTOMATED_FLAG],
        "internal_reports": by_source[Report.Source.INTERNAL],
        "actioned": timing["actioned"],
        "pending": total - timing["actioned"],
        "median_hours_to_action": _hours(timing["median"]),
        "by_category": [{"category": c, **by_category[c]} for c in CATEGORIES],
    }


# --- Actions ----------------------------------------------------------------------------------


def _reports_by_decision(sources=None) -> Exists:
    """Reports on the action's case received by the time of its decision (of ``sources``)."""
    reports = Report.objects.filter(
        case_id=OuterRef("case_id"), received_at__lte=OuterRef("decision__created_at")
    )
    if sources is not None:
        reports = reports.filter(source__in=sources)
    return Exists(reports)


def _reports_ever(sources) -> Exists:
    return Exists(Report.objects.filter(case_id=OuterRef("case_id"), source__in=sources))


def _counted(before: str, ever: str) -> Q:
    """The action's statement counts such a report: one was received by the decision or, when
    no report at all was received by then (a backdated import), one was ever received."""
    return Q(any_before=True, **{before: True}) | Q(any_before=False, **{ever: True})


def _actions(since: datetime, until: datetime, scope: Q) -> dict:
    automated = [Report.Source.AUTOMATED_FLAG]
    law = Q(decision__policy_section__legal_ground__gt="")
    rows = (
        EnforcementAction.objects.filter(
            status__in=APPLIED_STATUSES, starts_at__gte=since, starts_at__lt=until
        )
        .filter(scope)
        .annotate(
            any_before=_reports_by_decision(),
            requested_before=_reports_by_decision(REQUESTED_SOURCES),
            requested_ever=_reports_ever(REQUESTED_SOURCES),
            flagged_before=_reports_by_decision(automated),
            flagged_ever=_reports_ever(automated),
        )
        .values("action_type")
        .annotate(
            actions=Count("id"),
            law=Count("id", filter=law),
            own_initiative=Count("id", filter=~_counted("requested_before", "requested_ever")),
            automated_detection=Count("id", filter=_counted("flagged_before", "flagged_ever")),
            automated_decision=Count("id", filter=Q(decision__automated=True)),
        )
        .order_by()
    )
    by_value: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ACTION_MEASURES, 0))
    totals = dict.fromkeys(ACTION_MEASURES, 0)
    for row in rows:
        # Terms and conditions: every action without a legal ground, so the two add up.
        row["terms"] = row["actions"] - row["law"]
        spec = ACTIONS.get(row["action_type"])
        value = spec.dsa_value if spec else "DECISION_VISIBILITY_OTHER"
        for measure in ACTION_MEASURES:
            by_value[value][measure] += row[measure]
            totals[measure] += row[measure]
    by_restriction = [
        {"field": field, "group": group, "type": value, **by_value[value]}
        for field, group, values in RESTRICTION_GROUPS
        for value in values
    ]
    return {**totals, "by_restriction": by_restriction}


# --- Complaints -------------------------------------------------------------------------------


def _complaints(since: datetime, until: datetime, scope: Q) -> dict:
    appeals = Appeal.objects.filter(scope)
    decided = Q(decided_at__gte=since, decided_at__lt=until, status__in=Appeal.OUTCOMES)
    figures = appeals.aggregate(
        received=Count("id", filter=Q(filed_at__gte=since, filed_at__lt=until)),
        decided=Count("id", filter=decided),
        upheld=Count("id", filter=decided & Q(status=Appeal.Status.UPHELD)),
        overturned=Count("id", filter=decided & Q(status=Appeal.Status.OVERTURNED)),
        modified=Count("id", filter=decided & Q(status=Appeal.Status.MODIFIED)),
        open_at_end=Count(
            "id",
            filter=Q(filed_at__lt=until) & (Q(decided_at__isnull=True) | Q(decided_at__gte=until)),
        ),
        median=Median(F("decided_at") - F("filed_at"), filter=decided),
    )
    median = figures.pop("median")
    return {
        **figures,
        "reversed": figures["overturned"] + figures["modified"],
        "median_hours_to_decide": _hours(median),
    }


# --- Repeat offenders -------------------------------------------------------------------------


def _repeat_offenders(since: datetime, until: datetime, scope: Q) -> dict:
    return (
        EnforcementAction.objects.filter(
            status__in=APPLIED_STATUSES,
            starts_at__gte=since,
            starts_at__lt=until,
            action_type__in=REPEAT_OFFENDER_ACTIONS,
            decision__strikes_before__gt=0,
        )
        .filter(scope)
        .aggregate(
            suspensions=Count("id"),
            temporary=Count("id", filter=Q(action_type="suspend")),
            permanent=Count("id", filter=Q(action_type="ban")),
            accounts=Count("subject", distinct=True),
        )
    )


# --- Flat rows (CSV) --------------------------------------------------------------------------

CSV_HEADER = ("section", "item", "measure", "value")


def report_rows(report: dict) -> list[tuple]:
    """The report as (section, item, measure, value) rows, for the CSV download."""
    period = report["period"]
    rows: list[tuple] = [
        ("period", "from", "", period["from"]),
        ("period", "to (included)", "", period["to"]),
        ("period", "time zone", "", period["time_zone"]),
    ]
    notices = report["notices"]
    for key in (
        "received",
        "trusted_flagger",
        "other_notifications",
        "automated_flags",
        "internal_reports",
        "actioned",
        "pending",
        "median_hours_to_action",
    ):
        rows.append(("notices", "all", key, notices[key]))
    for row in notices["by_category"]:
        for key in ("notices", "trusted_flagger", "other_notifications"):
            rows.append(("notices by category", row["category"], key, row[key]))
    actions = report["actions"]
    for key in ACTION_MEASURES:
        rows.append(("actions", "all", key, actions[key]))
    for row in actions["by_restriction"]:
        for key in ACTION_MEASURES:
            rows.append(("actions by restriction", row["type"], key, row[key]))
    complaints = report["complaints"]
    for key in (
        "received",
        "decided",
        "upheld",
        "reversed",
        "overturned",
        "modified",
        "open_at_end",
        "median_hours_to_decide",
    ):
        rows.append(("complaints", "all", key, complaints[key]))
    for key, value in report["repeat_offender_suspensions"].items():
        rows.append(("repeat offender suspensions", "all", key, value))
    return rows
