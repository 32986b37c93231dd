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
    quiet_hours = models.PositiveIntegerField(
        default=0,
        help_text="Consecutive evaluated hours without a departure since the last one",
    )
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


# --- Alerts: report volume checks ------------------------------------------------------------


class VolumeCheck(models.Model):
    """One evaluated hour of report volume: the row claims the hour, so however often (or
    concurrently) the check runs, each hour is tested, counted quiet or alerted on once."""

    hour = models.DateTimeField(unique=True, help_text="Start of the evaluated hour")
    evaluated_at = models.DateTimeField(default=timezone.now)
    cells = models.PositiveIntegerField(
        default=0, help_text="Cells (reason x subject kind x source) with reports that hour"
    )
    tested = models.PositiveIntegerField(default=0, help_text="Cells at or above the minimum")
    departures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"volume check {self.hour:%Y-%m-%d %H:00}"
