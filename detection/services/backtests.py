"""Asking for a backtest: checked, recorded, and handed to a worker by name."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from detection.backtest import JOB_KIND
from detection.models import Backtest, Rule
from detection.permissions import check_manage_rules
from tsops.broker import kick
from tsops.jobs import job_create

# Handed over by name: services never import tasks.
BACKTEST_TASK = "detection.tasks.backtest_run"


def backtest_request(
    *,
    actor,
    rule_id: int,
    version: int | None,
    period_from: datetime,
    period_to: datetime,
    compare_version: int | None = None,
) -> Backtest:
    """Queue a backtest of one version over [from, to). Without ``compare_version`` it is
    compared with the rule's live version (when that is another one): the policy-change
    simulation."""
    check_manage_rules(actor)
    rule = Rule.objects.select_related("active_version").filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    errors: dict[str, list[str]] = {}
    chosen = rule.versions.filter(number=version).first() if version else rule.versions.first()
    if chosen is None:
        errors["version"] = [f"Rule {rule.pk} has no version {version}."]
    compare = None
    if compare_version is not None:
        compare = rule.versions.filter(number=compare_version).first()
        if compare is None:
            errors["compare_version"] = [f"Rule {rule.pk} has no version {compare_version}."]
    elif rule.active_version is not None and chosen is not None and rule.active_version != chosen:
        compare = rule.active_version
    now = timezone.now()
    if period_from >= period_to:
        errors["to"] = ["The period ends after it starts."]
    elif period_to - period_from > timedelta(days=settings.TSOPS_BACKTEST_MAX_DAYS):
        errors["from"] = [f"At most {settings.TSOPS_BACKTEST_MAX_DAYS} days of history."]
    if period_from > now:
        errors["from"] = ["A backtest replays the past: start before now."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        backtest = Backtest.objects.create(
            rule=rule,
            version=chosen,
            compare_version=compare,
            period_from=period_from,
            period_to=min(period_to, now),
            requested_by=actor,
        )
        backtest.job = job_create(kind=JOB_KIND, subject_id=backtest.pk, created_by=actor)
        backtest.save(update_fields=["job"])
        transaction.on_commit(lambda: kick(current_app.signature(BACKTEST_TASK), backtest.pk))
    return backtest


def backtests_resume_stalled() -> int:
    """Send every backtest whose worker stopped beating to a new worker; how many."""
    from tsops.jobs import jobs_stalled

    stalled = jobs_stalled(kind=JOB_KIND)
    ids = list(Backtest.objects.filter(job_id__in=stalled).values_list("pk", flat=True))
    for backtest_id in ids:
        kick(current_app.signature(BACKTEST_TASK), backtest_id)
    return len(ids)
