"""Celery tasks of detection: load by id, call one service. Each area's own tasks module is
imported here so that autodiscovery finds them."""

from __future__ import annotations

from celery import shared_task

from detection.tasks_alerts import alerts_check_volume
from detection.tasks_operating import detectors_check_drift
from detection.tasks_reputation import reputation_refresh

__all__ = ["alerts_check_volume", "detectors_check_drift", "reputation_refresh"]


@shared_task(name="detection.tasks.rule_actions_apply_due")
def rule_actions_apply_due() -> int:
    from detection.services.rule_actions import rule_actions_apply_due as apply_due

    return apply_due()


@shared_task(name="detection.tasks.rules_watch")
def rules_watch() -> dict:
    from detection.services.rule_actions import rule_proposals_settle
    from detection.services.watch import rules_watch as watch

    result = watch()
    result["proposals_settled"] = rule_proposals_settle()
    return result


@shared_task(name="detection.tasks.backtest_run", acks_late=True)
def backtest_run(backtest_id: int) -> None:
    from detection.backtest import backtest_run as run

    run(backtest_id)


@shared_task(name="detection.tasks.backtests_resume_stalled")
def backtests_resume_stalled() -> int:
    """Beat, every 60 s: send the backtests whose worker died to a new one (they resume)."""
    from detection.services.backtests import backtests_resume_stalled as resume

    return resume()
