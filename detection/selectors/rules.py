"""Reading rules: lists, one rule with its versions, hit counts, backtests and shadow report.

Hit counts, precision and samples count only reports on cases the reader may see
(``cases.visibility``): a restricted case never shows up, not even in a number, for a reader
outside its team. A backtest ran with its requester's visibility, so its results are shown
to the requester and to readers who see at least what the requester saw (same role, a
superset of the requester's teams); others see that it exists, not what it found.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from cases.visibility import can_view_case, visible_cases
from detection.expressions import FIELDS
from detection.models import Backtest, Rule, RuleAction, RuleHit, RuleSnooze, RuleVersion
from detection.permissions import check_manage_rules
from enforcement.models import Decision
from qa.stats import wilson_interval
from tsops.permissions import role_of, teams_of

STATES = tuple(Rule.State.values)


def rule_list(*, actor, state: str = "") -> list[Rule]:
    """Rules in order, each with its live and shadow match counts of the last 24 hours."""
    check_manage_rules(actor)
    rules = Rule.objects.select_related("active_version", "shadow_version").order_by(
        "position", "pk"
    )
    if state:
        rules = rules.filter(state=state)
    since = timezone.now() - timedelta(hours=24)
    counts = (
        RuleHit.objects.filter(at__gte=since, case__in=visible_cases(actor).values("pk"))
        .values("rule_id", "mode")
        .annotate(n=Count("id"))
    )
    by_rule: dict[int, dict[str, int]] = {}
    for row in counts:
        by_rule.setdefault(row["rule_id"], {})[row["mode"]] = row["n"]
    result = list(rules)
    for rule in result:
        rule.hits_24h = by_rule.get(rule.pk, {})
    return result


def rule_get_for(*, actor, rule_id: int) -> Rule:
    check_manage_rules(actor)
    rule = (
        Rule.objects.select_related(
            "active_version", "shadow_version", "pending_version", "pending_by", "created_by"
        )
        .filter(pk=rule_id)
        .first()
    )
    if rule is None:
        raise Http404("No such rule.")
    return rule


def version_describe(version: RuleVersion | None) -> dict | None:
    if version is None:
        return None
    return {
        "number": version.number,
        "expression": version.expression,
        "effects": version.effects,
        "cost": version.cost,
        "note": version.note,
        "created_by": version.created_by.username if version.created_by_id else None,
        "created_at": version.created_at,
        "has_actions": version.has_actions,
    }


def _match_counts(actor, rule: Rule) -> dict:
    visible = visible_cases(actor).values("pk")
    since = timezone.now() - timedelta(hours=24)
    rows = (
        RuleHit.objects.filter(rule=rule, case__in=visible)
        .values("mode")
        .annotate(total=Count("id"), day=Count("id", filter=Q(at__gte=since)))
    )
    counts = {"live": 0, "live_24h": 0, "shadow": 0, "shadow_24h": 0}
    for row in rows:
        counts[row["mode"]] = row["total"]
        counts[f"{row['mode']}_24h"] = row["day"]
    return counts


def can_view_backtest_results(user, backtest: Backtest) -> bool:
    """The requester, or a reader who sees at least what the requester saw."""
    if backtest.requested_by_id == user.pk:
        return True
    requester = backtest.requested_by
    return role_of(user) == role_of(requester) and set(teams_of(requester)) <= set(teams_of(user))


def backtest_describe(*, actor, backtest: Backtest) -> dict:
    """A backtest as the API and the rule page show it (results only to who may see them)."""
    described = {
        "id": backtest.pk,
        "rule_id": backtest.rule_id,
        "version": backtest.version.number,
        "compare_version": backtest.compare_version.number if backtest.compare_version_id else None,
        "from": backtest.period_from,
        "to": backtest.period_to,
        "status": backtest.status,
        "job_id": backtest.job_id,
        "progress": round(backtest.job.fraction, 4) if backtest.job_id else None,
        "requested_by": backtest.requested_by.username,
        "created_at": backtest.created_at,
        "finished_at": backtest.finished_at,
        "error": backtest.error,
        "results": None,
        "results_withheld": False,
    }
    if backtest.status != Backtest.Status.DONE:
        return described
    if not can_view_backtest_results(actor, backtest):
        described["results_withheld"] = True
        return described
    results = dict(backtest.results)
    sides = {}
    for name, side in results.get("sides", {}).items():
        side = dict(side)
        for key in ("samples_matched", "samples_missed"):
            side[key] = _visible_samples(actor, side.get(key, []))
        sides[name] = side
    results["sides"] = sides
    # The tested version first, then the one it is compared with (stored JSON keeps no order).
    results["ordered_sides"] = [
        {"name": name, **sides[name]} for name in ("candidate", "compare") if name in sides
    ]
    described["results"] = results
    return described


def _visible_samples(actor, samples: list[dict]) -> list[dict]:
    ids = {s["case_id"] for s in samples}
    visible = set(visible_cases(actor).filter(pk__in=ids).values_list("pk", flat=True))
    return [s for s in samples if s["case_id"] in visible]


def backtest_get_for(*, actor, backtest_id: int) -> Backtest:
    check_manage_rules(actor)
    backtest = (
        Backtest.objects.select_related("version", "compare_version", "job", "requested_by")
        .filter(pk=backtest_id)
        .first()
    )
    if backtest is None:
        raise Http404("No such backtest.")
    return backtest


def shadow_report(*, actor, rule: Rule) -> dict | None:
    """The shadow version's live record beside its backtest's prediction."""
    version = rule.shadow_version
    if version is None:
        return None
    visible = visible_cases(actor).values("pk")
    # Led by the rule, as the hits' (rule, mode, at) index is.
    hits = RuleHit.objects.filter(
        rule=rule, mode=RuleHit.Mode.SHADOW, version=version, case__in=visible
    )
    first = hits.order_by("at").values_list("at", flat=True).first()
    total = hits.count()
    now = timezone.now()
    days = max((now - first).total_seconds() / 86400, 1 / 24) if first else None
    effects: dict[str, int] = {}
    for effect in version.effects if total else ():
        key = f"{effect['type']}: " + str(
            effect.get("queue")
            or effect.get("severity")
            or effect.get("tag")
            or effect.get("team")
            or effect.get("action")
        )
        effects[key] = total
    decided, confirmed = _precision_so_far(hits)
    interval = wilson_interval(confirmed, decided)
    backtest = (
        Backtest.objects.filter(version=version, status=Backtest.Status.DONE)
        .order_by("-finished_at")
        .first()
    )
    predicted = None
    drift = None
    if backtest is not None and can_view_backtest_results(actor, backtest):
        side = backtest.results.get("sides", {}).get("candidate", {})
        predicted = {
            "backtest_id": backtest.pk,
            "matches_per_day": side.get("matches_per_day"),
            "precision": side.get("precision"),
            "precision_interval": side.get("precision_interval"),
        }
        per_day = total / days if days else 0
        expected = side.get("matches_per_day") or 0
        factor = settings.TSOPS_RULE_SHADOW_DRIFT_FACTOR
        if total and expected:
            drift = per_day > factor * expected or per_day * factor < expected
    return {
        "version": version.number,
        "since": first,
        "matches": total,
        "matches_per_day": round(total / days, 2) if days else 0,
        "would_be_effects": effects,
        "decided": decided,
        "confirmed": confirmed,
        "precision": round(confirmed / decided, 4) if decided else None,
        "precision_interval": [round(b, 4) for b in interval] if interval else None,
        "predicted": predicted,
        "departs_from_backtest": drift,
        "drift_factor": settings.TSOPS_RULE_SHADOW_DRIFT_FACTOR,
    }


def _precision_so_far(hits) -> tuple[int, int]:
    """Of the hit reports a human decided since, how many were violations (the labels of
    :func:`detection.backtest.label_for`)."""
    from detection.backtest import decisions_by_case, label_for

    rows = list(hits.values_list("case_id", "at"))
    decisions = decisions_by_case({case_id for case_id, _ in rows})
    labels = [label_for(decisions.get(case_id), at) for case_id, at in rows]
    decided = [label for label in labels if label is not None]
    return len(decided), sum(1 for label in decided if label == Decision.Outcome.VIOLATION)


def rule_describe(*, actor, rule: Rule) -> dict:
    """One rule as the API answers it."""
    return {
        "id": rule.pk,
        "name": rule.name,
        "description": rule.description,
        "state": rule.state,
        "position": rule.position,
        "active_version": version_describe(rule.active_version),
        "shadow_version": version_describe(rule.shadow_version),
        "latest_version": version_describe(rule.versions.order_by("-number").first()),
        "versions": [
            version_describe(v)
            for v in rule.versions.select_related("created_by").order_by("-number")
        ],
        "matches": _match_counts(actor, rule),
        "paused_reason": rule.paused_reason,
        "pending_activation": (
            {
                "version": rule.pending_version.number,
                "requested_by": rule.pending_by.username,
                "requested_at": rule.pending_at,
            }
            if rule.pending_version_id
            else None
        ),
        "state_changed_at": rule.state_changed_at,
        "snoozes": [
            {
                "id": s.pk,
                "subject": f"{s.subject.kind} {s.subject.external_id}",
                "until": s.until,
                "reason": s.reason,
                "by": s.created_by.username,
            }
            for s in RuleSnooze.objects.filter(
                rule=rule, lifted_at__isnull=True, until__gt=timezone.now()
            ).select_related("subject", "created_by")
        ],
        "backtests": [
            backtest_describe(actor=actor, backtest=b)
            for b in rule.backtests.select_related(
                "version", "compare_version", "job", "requested_by"
            )[:10]
        ],
        "shadow_report": shadow_report(actor=actor, rule=rule),
    }


def input_reference() -> list[dict]:
    """The inputs a rule author can read, as the rule page documents them."""
    return [{"name": path, "type": spec.type, "doc": spec.doc} for path, spec in FIELDS.items()]


def rule_actions_for_case(*, actor, case) -> list[RuleAction]:
    """What rules asked for on a case the actor can see (the case page's panel)."""
    if not can_view_case(actor, case):
        return []
    return list(
        RuleAction.objects.filter(case=case)
        .select_related("rule", "version")
        .order_by("-created_at")
    )


def can_view_backtest_job(user, job) -> bool:
    """A backtest's job is seen by the rule managers (its figures only as the backtest is)."""
    from detection.permissions import can_manage_rules

    return can_manage_rules(user)


def backtest_job_describe(user, job) -> dict:
    backtest = (
        Backtest.objects.filter(pk=job.subject_id)
        .select_related("version", "compare_version", "job", "requested_by")
        .first()
    )
    if backtest is None:
        return {}
    described = backtest_describe(actor=user, backtest=backtest)
    return {
        "backtest_id": backtest.pk,
        "status": described["status"],
        "results": described["results"],
    }
