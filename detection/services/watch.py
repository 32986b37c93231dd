"""Watching live rules: runaway rules pause themselves, hit rates off their backtest alert.

Every few minutes (beat) the last hour is looked at:

- **Runaway** (MediaWiki AbuseFilter's emergency stop): a live rule matching more than
  ``TSOPS_RULE_RUNAWAY_PERCENT`` % of the hour's reports, with at least
  ``TSOPS_RULE_RUNAWAY_MIN_REPORTS`` reports in the hour, is paused at once; an alert opens
  and every senior who manages rules is told, with a link to resume it.
- **Hit rate against the backtest**: a rule version with a finished backtest is expected to
  match its backtest's share of reports; the hour's matches are tested against that
  expectation with a two-sided Poisson test at level ``TSOPS_ALERT_RULE_ALPHA`` (one
  alert per episode, only from ``TSOPS_ALERT_MIN_COUNT`` matches or expected matches).
  For a shadow version, a departure by more than ``TSOPS_RULE_SHADOW_DRIFT_FACTOR`` either
  way is also reported as shadow drift.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from cases.models import Report
from detection.models import Alert, Backtest, Rule, RuleHit
from detection.services.alerts import alert_raise
from detection.services.rules import rule_pause
from detection.stats import poisson_two_sided
from tsops.permissions import has_capability
from tsops.services import notification_send

RULE_ALPHA = 0.001
MIN_COUNT = 5


def rules_watch(*, now=None) -> dict:
    """Pause runaway rules and raise hit-rate alerts for the hour before ``now``."""
    now = now or timezone.now()
    since = now - timedelta(hours=1)
    intake = Report.objects.filter(created_at__gte=since, created_at__lt=now).count()
    hits = dict(
        RuleHit.objects.filter(at__gte=since, at__lt=now)
        .values_list("version_id")
        .annotate(n=Count("id"))
        .values_list("version_id", "n")
    )
    paused = _pause_runaways(intake, hits, now)
    alerted = _hit_rate_alerts(intake, hits, now)
    return {"intake": intake, "paused": paused, "alerts": alerted}


def _pause_runaways(intake: int, hits: dict[int, int], now) -> list[int]:
    if intake < settings.TSOPS_RULE_RUNAWAY_MIN_REPORTS:
        return []
    paused = []
    for rule in Rule.objects.filter(state=Rule.State.ACTIVE).select_related("active_version"):
        matched = hits.get(rule.active_version_id, 0)
        if matched * 100 <= settings.TSOPS_RULE_RUNAWAY_PERCENT * intake:
            continue
        share = round(100 * matched / intake, 1)
        reason = (
            f"Matched {matched} of {intake} reports in the hour to {now:%H:%M} UTC ({share}%), "
            f"over the {settings.TSOPS_RULE_RUNAWAY_PERCENT}% limit."
        )
        if rule_pause(rule_id=rule.pk, reason=reason) is None:
            continue
        paused.append(rule.pk)
        link = f"/detection/rules/{rule.pk}/"
        alert_raise(
            kind=Alert.Kind.RULE_RUNAWAY,
            key=f"rule:{rule.pk}:runaway",
            title=f'Rule "{rule.name}" paused: it matched {share}% of intake',
            detail={"observed": matched, "intake": intake, "share_percent": share, "link": link},
        )
        notification_send(
            actor=None,
            recipients=_rule_managers(),
            kind="rule_paused",
            title=f'Rule "{rule.name}" was paused: it ran away',
            body=reason + " Resume it from the rule's page once it is fixed or understood.",
            link=link,
        )
    return paused


def _rule_managers():
    from django.contrib.auth import get_user_model

    members = get_user_model().objects.filter(is_active=True).prefetch_related("groups")
    return [m for m in members if has_capability(m, "manage_rules")]


def _hit_rate_alerts(intake: int, hits: dict[int, int], now) -> int:
    raised = 0
    rules = Rule.objects.filter(state__in=[Rule.State.ACTIVE, Rule.State.SHADOW])
    for rule in rules:
        for version_id, shadow in ((rule.active_version_id, False), (rule.shadow_version_id, True)):
            if version_id is None or (not shadow and rule.state != Rule.State.ACTIVE):
                continue
            backtest = (
                Backtest.objects.filter(version_id=version_id, status=Backtest.Status.DONE)
                .order_by("-finished_at")
                .first()
            )
            if backtest is None:
                continue
            rate = backtest.results.get("sides", {}).get("candidate", {}).get("match_rate") or 0
            expected = rate * intake
            observed = hits.get(version_id, 0)
            if max(observed, expected) < MIN_COUNT:
                continue
            p_value = poisson_two_sided(observed, expected)
            factor = settings.TSOPS_RULE_SHADOW_DRIFT_FACTOR
            drifted = shadow and (
                observed > factor * expected or (expected > 0 and observed * factor < expected)
            )
            if p_value >= RULE_ALPHA and not drifted:
                continue
            kind = Alert.Kind.SHADOW_DRIFT if drifted else Alert.Kind.RULE_HIT_RATE
            _, opened = alert_raise(
                kind=kind,
                key=f"rule:{rule.pk}:version:{version_id}",
                title=(
                    f'Rule "{rule.name}" {"shadow" if shadow else "live"} matches: {observed} '
                    f"in the hour, its backtest expected {expected:.1f}"
                ),
                detail={
                    "observed": observed,
                    "expected": round(expected, 2),
                    "intake": intake,
                    "test": "two-sided Poisson",
                    "p_value": p_value,
                    "backtest_id": backtest.pk,
                    "link": f"/detection/rules/{rule.pk}/",
                },
            )
            raised += int(opened)
    return raised
