"""Rollup tables: what the dashboards, CSV exports and the metrics API read.

Every rollup row is keyed by a time slice and the case dimensions ``queue_id``,
``severity``, ``reason`` and ``team``. ``team`` is the specialist team of a restricted
case ("" for an unrestricted one): a row with a team counts only for that team's members
(see :func:`cases.visibility.figure_teams`, the one place that rule lives).

Two grains per fact table:

* ``*Slice`` — one row per key and 15-minute slice (``SLICE_MINUTES``). A rollup run
  recomputes only the slices in which something happened since the last run (set-based
  ``INSERT … SELECT … GROUP BY`` from the source tables), which keeps the every-five-minutes
  run cheap however big a day is.
* ``*Daily`` — the sum of a day's slices, kept equal to it by the very statement that
  replaces a slice (it adds the difference new − old). Dashboards read only these.

The ``*_hist`` columns are duration histograms: :data:`HIST_BUCKETS` counts over geometric
buckets of minutes (see :mod:`metrics.histogram`); percentiles over any range are read from
their sum (an approximation stated in each KPI's definition).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from metrics.histogram import HIST_BUCKETS

SLICE_MINUTES = 15


def _hist(help_text: str):
    return ArrayField(
        models.IntegerField(), size=HIST_BUCKETS, null=True, blank=True, help_text=help_text
    )


class CaseDimensions(models.Model):
    """The dimensions every rollup row carries (plain columns, no foreign keys: rollups
    never lock or cascade with the source rows)."""

    queue_id = models.IntegerField()
    severity = models.SmallIntegerField()
    reason = models.CharField(max_length=40)
    team = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        abstract = True


class CaseMeasures(models.Model):
    """Events of a case on the slice, counted by when they happened."""

    created = models.IntegerField(default=0, help_text="Cases opened")
    first_actions = models.IntegerField(default=0, help_text="Cases first acted on")
    first_actions_in_sla = models.IntegerField(default=0)
    resolved = models.IntegerField(default=0, help_text="Cases resolved")
    resolved_in_sla = models.IntegerField(default=0)
    reopened = models.IntegerField(default=0, help_text="Reopen (rework) events")
    decisions = models.IntegerField(default=0)
    violations = models.IntegerField(default=0, help_text="Violation decisions")
    violations_proactive = models.IntegerField(
        default=0, help_text="Violation decisions on cases whose first report was a flag"
    )
    actioned = models.IntegerField(default=0, help_text="Decisions with an applied action")
    actioned_recurring = models.IntegerField(
        default=0, help_text="…whose account was actioned by another decision in 30 days"
    )
    appeals_filed = models.IntegerField(default=0)
    appeals_decided = models.IntegerField(default=0)
    appeals_overturned = models.IntegerField(default=0)
    appeals_modified = models.IntegerField(default=0)
    escalations_raised = models.IntegerField(default=0)
    escalations_acknowledged = models.IntegerField(default=0)
    escalations_ack_in_time = models.IntegerField(default=0)
    first_action_hist = _hist("Minutes from opening to first action")
    resolution_hist = _hist("Minutes from opening to resolution")
    appeal_hist = _hist("Minutes from filing to the appeal decision")
    ack_hist = _hist("Minutes from escalation to acknowledgement")

    class Meta:
        abstract = True


class CaseSlice(CaseDimensions, CaseMeasures):
    slice_start = models.DateTimeField(help_text="Start of the 15-minute slice")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slice_start", "queue_id", "severity", "reason", "team"],
                name="metrics_caseslice_key",
            )
        ]
        indexes = [models.Index(fields=["day"], name="metrics_caseslice_day")]

    def __str__(self) -> str:
        return f"{self.slice_start} queue {self.queue_id} P{self.severity} {self.reason}"


class CaseDaily(CaseDimensions, CaseMeasures):
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "queue_id", "severity", "reason", "team"],
                name="metrics_casedaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id} P{self.severity} {self.reason}"


class ActionMeasures(models.Model):
    """Enforcement actions by type and by the analyst whose decision they carry out."""

    action_type = models.CharField(max_length=30)
    analyst_id = models.IntegerField()
    applied = models.IntegerField(default=0, help_text="Actions that took effect")
    reversed = models.IntegerField(default=0, help_text="Actions reversed")

    class Meta:
        abstract = True


class ActionSlice(CaseDimensions, ActionMeasures):
    slice_start = models.DateTimeField(help_text="Start of the 15-minute slice")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slice_start", "queue_id", "severity", "reason", "team", "action_type"]
                + ["analyst_id"],
                name="metrics_actionslice_key",
            )
        ]
        indexes = [models.Index(fields=["day"], name="metrics_actionslice_day")]

    def __str__(self) -> str:
        return f"{self.slice_start} queue {self.queue_id} P{self.severity} {self.reason}"


class ActionDaily(CaseDimensions, ActionMeasures):
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "queue_id", "severity", "reason", "team", "action_type"]
                + ["analyst_id"],
                name="metrics_actiondaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id} P{self.severity} {self.reason}"


class AnalystMeasures(models.Model):
    """One analyst's own figures: decisions, appeals against them, QA reviews of them."""

    analyst_id = models.IntegerField()
    decisions = models.IntegerField(default=0, help_text="Human decisions made")
    violations = models.IntegerField(default=0)
    weighted_decisions = models.IntegerField(default=0, help_text="Decisions × severity weight")
    appeals_decided = models.IntegerField(default=0, help_text="Appeals decided on their work")
    appeals_overturned = models.IntegerField(default=0)
    qa_scored = models.IntegerField(default=0, help_text="QA reviews of their decisions scored")
    qa_passed = models.IntegerField(default=0)

    class Meta:
        abstract = True


class AnalystSlice(CaseDimensions, AnalystMeasures):
    slice_start = models.DateTimeField(help_text="Start of the 15-minute slice")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slice_start", "analyst_id", "queue_id", "severity", "reason", "team"],
                name="metrics_analystslice_key",
            )
        ]
        indexes = [models.Index(fields=["day"], name="metrics_analystslice_day")]

    def __str__(self) -> str:
        return f"{self.slice_start} queue {self.queue_id} P{self.severity} {self.reason}"


class AnalystDaily(CaseDimensions, AnalystMeasures):
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "analyst_id", "queue_id", "severity", "reason", "team"],
                name="metrics_analystdaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id} P{self.severity} {self.reason}"


class DetectorMeasures(models.Model):
    """Automated flags judged by the first decision on their case after they arrived."""

    detector = models.CharField(max_length=100)
    flags_decided = models.IntegerField(default=0)
    flags_confirmed = models.IntegerField(default=0, help_text="…decided as a violation")

    class Meta:
        abstract = True


class DetectorSlice(CaseDimensions, DetectorMeasures):
    slice_start = models.DateTimeField(help_text="Start of the 15-minute slice")
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["slice_start", "detector", "queue_id", "severity", "reason", "team"],
                name="metrics_detectorslice_key",
            )
        ]
        indexes = [models.Index(fields=["day"], name="metrics_detectorslice_day")]

    def __str__(self) -> str:
        return f"{self.slice_start} queue {self.queue_id} P{self.severity} {self.reason}"


class DetectorDaily(CaseDimensions, DetectorMeasures):
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "detector", "queue_id", "severity", "reason", "team"],
                name="metrics_detectordaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id} P{self.severity} {self.reason}"


class BacklogDaily(CaseDimensions):
    """Open cases at the end of ``day`` (at ``taken_at`` for a day not over yet), by age."""

    AGE_BUCKETS = ("< 1 h", "1–4 h", "4–24 h", "1–3 d", "3–7 d", "> 7 d")

    day = models.DateField()
    taken_at = models.DateTimeField(help_text="The moment the snapshot describes")
    age_bucket = models.SmallIntegerField(help_text="Index into AGE_BUCKETS")
    open = models.IntegerField(default=0)
    breached = models.IntegerField(default=0, help_text="…past a deadline at taken_at")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "queue_id", "severity", "reason", "team", "age_bucket"],
                name="metrics_backlogdaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id} P{self.severity} {self.reason}"


class RollupState(models.Model):
    """Where the incremental run got to: changes after ``watermark`` are still to roll up."""

    name = models.CharField(max_length=40, primary_key=True)
    watermark = models.DateTimeField()
    last_run_at = models.DateTimeField()
    last_run_slices = models.IntegerField(default=0, help_text="Slices recomputed")
    last_run_ms = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.watermark:%Y-%m-%d %H:%M:%S}"


class RollupDay(models.Model):
    """Bookkeeping per day: when it was last rebuilt in full and when its backlog snapshot
    was taken (a day without a snapshot shows no backlog rather than an empty one)."""

    day = models.DateField(primary_key=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    final = models.BooleanField(default=False, help_text="Rebuilt after the day was over")
    backlog_taken_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.day}"


# --- summaries: the daily rows summed over the dimensions an unfiltered page does not need ---
#
# An unfiltered dashboard reads every daily row of its range, and the daily tables have a
# row per queue × severity × reason × team (× analyst × action type): their size grows with
# the variety of the work, not only with time. Each summary keeps one day's totals over
# fewer dimensions, rewritten from the daily rows of that day in the transaction that
# changes them, so the common reads cost the same however varied the work is.


class CaseSummary(CaseMeasures):
    """:class:`CaseDaily` without ``reason``."""

    day = models.DateField()
    team = models.CharField(max_length=50, blank=True, default="")
    queue_id = models.IntegerField()
    severity = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "queue_id", "severity"], name="metrics_casesummary_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} queue {self.queue_id} P{self.severity}"


class ActionSummary(ActionMeasures):
    """:class:`ActionDaily` by team, action type and analyst only."""

    day = models.DateField()
    team = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "action_type", "analyst_id"],
                name="metrics_actionsummary_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.action_type} by {self.analyst_id}"


class AnalystSummary(AnalystMeasures):
    """:class:`AnalystDaily` by team and analyst only."""

    day = models.DateField()
    team = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "analyst_id"], name="metrics_analystsummary_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} analyst {self.analyst_id}"


class BacklogSummary(models.Model):
    """:class:`BacklogDaily` by team, severity and age only."""

    day = models.DateField()
    team = models.CharField(max_length=50, blank=True, default="")
    severity = models.SmallIntegerField()
    age_bucket = models.SmallIntegerField()
    open = models.IntegerField(default=0)
    breached = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team", "severity", "age_bucket"],
                name="metrics_backlogsummary_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} P{self.severity} age {self.age_bucket}"
