"""Detection: rules and their versions, backtests, detector operating points, alerts,
reporter reputation and labelled-data exports.

Human decisions are the ground truth of everything here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tsops.models import HistoryModel


class Alert(HistoryModel):
    """One episode of a statistically tested departure from a baseline.

    ``key`` names what departed (a volume cell, a rule, a detector) so that an episode
    opens once: while an alert with the same kind and key is open or acknowledged, further
    evaluations that still depart update it (``last_seen_at``, ``evaluations``) instead of
    opening another. ``team`` is set when the departure concerns a specialist team's
    restricted work; only that team (and nobody outside it) sees such an alert.
    """

    class Kind(models.TextChoices):
        VOLUME = "volume", "Report volume"
        RULE_HIT_RATE = "rule_hit_rate", "Rule hit rate"
        RULE_RUNAWAY = "rule_runaway", "Runaway rule paused"
        SHADOW_DRIFT = "shadow_drift", "Shadow volume off its backtest"
        DETECTOR_DRIFT = "detector_drift", "Detector precision drift"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    TRANSITIONS: dict[str, set[str]] = {
        Status.OPEN: {Status.ACKNOWLEDGED, Status.RESOLVED},
        Status.ACKNOWLEDGED: {Status.RESOLVED},
        Status.RESOLVED: set(),
    }

    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(
        max_length=300, help_text="What departed, e.g. volume:spam:content:user_report"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(max_length=300)
    detail = models.JSONField(
        default=dict, blank=True, help_text="Observed, expected, test, p-value"
    )
    team = models.CharField(max_length=50, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    evaluations = models.PositiveIntegerField(default=1)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One live episode per (kind, key): the database refuses a second open alert.
            models.UniqueConstraint(
                fields=["kind", "key"],
                condition=~models.Q(status="resolved"),
                name="alert_one_live_episode",
            )
        ]
        indexes = [models.Index(fields=["status", "-opened_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


# --- Reporter reputation and mass-flag defence ---------------------------------------------------


class ReporterReputation(models.Model):
    """How often one reporter's reports were confirmed, keyed by the reporter's hash (never the
    raw id). Derived from ``cases_report`` and the decisions on its cases by
    :mod:`detection.reputation`; a full recompute rebuilds every row from them.

    ``decided``: reports whose deciding decision exists (the first decision on the report's
    case made at or after it arrived, the detector-precision KPI's definition); ``confirmed``:
    of those, decided as a violation. ``score`` is the posterior mean of a Beta prior
    (``TSOPS_REPUTATION_PRIOR_ALPHA/BETA``): (α + confirmed) / (α + β + decided).
    ``trusted``: the reporter sent at least one report as a trusted flagger (Art. 22 DSA).
    """

    reporter_hash = models.CharField(max_length=64, primary_key=True)
    reports = models.PositiveIntegerField(default=0)
    decided = models.PositiveIntegerField(default=0)
    confirmed = models.PositiveIntegerField(default=0)
    score = models.FloatField()
    trusted = models.BooleanField(default=False)
    last_report_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["score", "-reports"], name="reputation_lowest"),
            models.Index(fields=["-reports"], name="reputation_most_active"),
        ]

    def __str__(self) -> str:
        return f"reporter {self.reporter_hash[:12]}: {self.score:.2f}"


class ReputationWatermark(models.Model):
    """How far the incremental reputation job has read (one row, ``name`` "reputation"):
    reports created and decisions made up to ``upto`` are in :class:`ReporterReputation`."""

    name = models.CharField(max_length=50, primary_key=True)
    upto = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} up to {self.upto:%Y-%m-%d %H:%M:%S}"


class ReputationBoost(models.Model):
    """A case whose claim priority a reporter of good standing raised (once per case)."""

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"priority raised on case {self.case_id}"


class ReporterInvalidation(HistoryModel):
    """A senior set aside one reporter's open reports as mass flagging: who, when, why.

    Each report set aside is an :class:`InvalidatedReport`; restoring puts them back (those on
    cases the restorer may see). ``restored_at`` is set once none of its reports stays set
    aside.
    """

    reporter_hash = models.CharField(max_length=64, db_index=True)
    reason = models.TextField()
    invalidated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    invalidated_at = models.DateTimeField(default=timezone.now)
    restored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    restored_at = models.DateTimeField(null=True, blank=True)
    restore_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-invalidated_at", "-id"]

    def __str__(self) -> str:
        return f"invalidation {self.pk} of reporter {self.reporter_hash[:12]}"


class InvalidatedReport(models.Model):
    """One report set aside by an invalidation, and what that did to its case.

    While ``restored_at`` is empty the report does not count toward its case's report
    counters. ``lowered_priority`` (on one row per case) records that this invalidation left
    the case with no report that counts, so its claim priority was lowered by one; a restore
    raises it again when the case has a report that counts once more.
    """

    invalidation = models.ForeignKey(
        ReporterInvalidation, on_delete=models.PROTECT, related_name="reports"
    )
    report = models.ForeignKey("cases.Report", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    lowered_priority = models.BooleanField(default=False)
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A report is set aside by at most one live invalidation.
            models.UniqueConstraint(
                fields=["report"],
                condition=models.Q(restored_at__isnull=True),
                name="invalidated_report_once",
            )
        ]
        indexes = [models.Index(fields=["case"], name="invalidated_report_case")]

    def __str__(self) -> str:
        return f"report {self.report_id} set aside by invalidation {self.invalidation_id}"
