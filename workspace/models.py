"""Reviewer well-being: which queues are graphic and their daily budgets, each reviewer's
exposure per day, and the extensions seniors grant."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from tsops.models import HistoryModel


class ExposurePolicy(HistoryModel):
    """How much of a queue one reviewer may take in a day.

    ``graphic`` turns tracking on: minutes with one of the queue's cases open, and cases
    opened (each case once per reviewer per day). A budget left empty does not limit; past
    any budget that is set, claims from the queue are refused until the next day or a
    senior's override. ``break_every_minutes`` prompts a break each time that much exposure
    has gathered today.
    """

    queue = models.OneToOneField(
        "cases.Queue", on_delete=models.CASCADE, related_name="exposure_policy"
    )
    graphic = models.BooleanField(
        default=True, help_text="Track exposure to this queue's cases and apply the budgets"
    )
    daily_budget_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Minutes a reviewer may have this queue's cases open per day (empty: no limit)",
    )
    daily_budget_cases = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Cases a reviewer may open from this queue per day (empty: no limit)",
    )
    break_every_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=20,
        validators=[MinValueValidator(1)],
        help_text="Suggest a break each time this many minutes have gathered (empty: never)",
    )

    class Meta:
        verbose_name_plural = "exposure policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(daily_budget_minutes__isnull=True)
                | models.Q(daily_budget_minutes__gte=1),
                name="workspace_policy_minutes_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(daily_budget_cases__isnull=True)
                | models.Q(daily_budget_cases__gte=1),
                name="workspace_policy_cases_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(break_every_minutes__isnull=True)
                | models.Q(break_every_minutes__gte=1),
                name="workspace_policy_break_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Exposure policy of {self.queue}"


class ExposureTally(models.Model):
    """One reviewer's exposure to one queue on one day (the console's time zone): seconds
    with a case of the queue open and cases opened. Written only by the set-based upsert in
    :mod:`workspace.services` (concurrent polls add, never overwrite)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    queue = models.ForeignKey("cases.Queue", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    seconds = models.PositiveIntegerField(default=0)
    cases_opened = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "queue", "day"], name="workspace_tally_once")
        ]
        indexes = [models.Index(fields=["day", "queue"], name="workspace_tally_day_queue")]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.queue_id} · {self.day}"

    @property
    def minutes(self) -> int:
        return self.seconds // 60


class ExposureCaseOpen(models.Model):
    """A case a reviewer opened on a day: it counts once in that day's tally."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    queue = models.ForeignKey("cases.Queue", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "case", "day"], name="workspace_open_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} opened case {self.case_id} on {self.day}"


class ExposureOverride(HistoryModel):
    """A senior's extension of one reviewer's budget for one queue on one day, with why.
    Overrides add up; they are never edited (the history keeps any change made in the
    admin)."""

    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exposure_overrides"
    )
    queue = models.ForeignKey("cases.Queue", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    extra_minutes = models.PositiveIntegerField(default=0)
    extra_cases = models.PositiveIntegerField(default=0)
    reason = models.TextField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(extra_minutes__gt=0) | models.Q(extra_cases__gt=0),
                name="workspace_override_extends",
            ),
            models.CheckConstraint(
                condition=~models.Q(granted_by=models.F("reviewer")),
                name="workspace_override_not_own",
            ),
        ]
        indexes = [models.Index(fields=["reviewer", "queue", "day"], name="workspace_ovr_lookup")]

    def __str__(self) -> str:
        return f"+{self.extra_minutes} min / +{self.extra_cases} cases for {self.reviewer_id}"
