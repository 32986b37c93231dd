"""Detection: rules and their versions, backtests, detector operating points, alerts,
reporter reputation and labelled-data exports.

Human decisions are the ground truth of everything here.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
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


# --- Rules ------------------------------------------------------------------------------------


class Rule(HistoryModel):
    """A named detection rule: versions of an expression over a report, with effects.

    ``active_version`` applies its effects to live intake while the rule is active;
    ``shadow_version`` is evaluated on live intake beside it with outcomes recorded and no
    effect (a candidate for the next activation, or the whole rule while it is in shadow).
    ``state`` is the rule's lifecycle: draft (nothing runs), shadow (only a shadow version
    runs), active, paused (it ran away: nothing runs until a senior resumes it), retired.
    ``position`` orders rules where the first match decides (routing). ``pending_*`` holds a
    senior's request to activate a version with automated actions until a second senior
    confirms it (four-eyes).
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SHADOW = "shadow", "Shadow"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        RETIRED = "retired", "Retired"

    TRANSITIONS: dict[str, set[str]] = {
        State.DRAFT: {State.SHADOW, State.ACTIVE, State.RETIRED},
        State.SHADOW: {State.DRAFT, State.ACTIVE, State.RETIRED},
        State.ACTIVE: {State.SHADOW, State.PAUSED, State.RETIRED},
        State.PAUSED: {State.ACTIVE, State.RETIRED},
        State.RETIRED: {State.DRAFT},
    }

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first")
    active_version = models.ForeignKey(
        "RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shadow_version = models.ForeignKey(
        "RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    state_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paused_reason = models.TextField(blank=True)
    pending_version = models.ForeignKey(
        "RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pending_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pending_at = models.DateTimeField(null=True, blank=True)
    legacy_routing_rule = models.PositiveIntegerField(
        null=True, blank=True, help_text="The routing rule this rule was migrated from"
    )

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["state", "position"])]

    def __str__(self) -> str:
        return self.name

    @property
    def condition_text(self) -> str:
        """The live condition in words (what an escalation it raises quotes)."""
        version = self.active_version or self.shadow_version
        return version.expression if version else ""


class RuleVersion(models.Model):
    """One immutable version of a rule: its expression, effects, and who wrote it and why."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    expression = models.TextField()
    effects = models.JSONField(default=list)
    cost = models.PositiveIntegerField(default=0, help_text="The expression's estimated cost")
    note = models.TextField(help_text="Why this version")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("A rule version is immutable: write a new version.")
        super().save(*args, **kwargs)

    @property
    def has_actions(self) -> bool:
        return any(effect.get("type") == "action" for effect in self.effects)


class RuleHit(models.Model):
    """A version matched a report at intake: live (its effects applied) or shadow (recorded
    only). ``effects`` are what it applied or would have applied."""

    class Mode(models.TextChoices):
        LIVE = "live", "Live"
        SHADOW = "shadow", "Shadow"

    # An append-only log the engine writes in the transaction that stores the report and case
    # it names, for versions it has just loaded (rules and versions are retired, never
    # deleted). Database-level foreign keys would cost a lookup per key per hit when the
    # intake commits (about 45 ms of a 500-report batch at three hits a report), so the keys
    # are kept by the application; Django's ``on_delete`` still cascades. The rule leads an
    # index below and the version is always asked with its rule: neither needs its own.
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="hits", db_index=False, db_constraint=False
    )
    version = models.ForeignKey(
        RuleVersion,
        on_delete=models.CASCADE,
        related_name="hits",
        db_index=False,
        db_constraint=False,
    )
    report = models.ForeignKey(
        "cases.Report",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    mode = models.CharField(max_length=10, choices=Mode.choices)
    effects = models.JSONField(default=list)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Every query of hits by version also names its rule (a version is its rule's).
            models.Index(fields=["rule", "mode", "at"]),
            # The watch and the rules list count the last hour's or day's hits of every rule;
            # rows arrive in time order, so a block-range index serves that for almost no
            # upkeep at insert. (Nothing looks hits up by report.)
            BrinIndex(fields=["at"], name="rulehit_at_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.mode} hit of rule {self.rule_id} on report {self.report_id}"


class RuleSnooze(models.Model):
    """A rule silenced for one subject (an account or an item) until a date, with who and why."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="snoozes")
    subject = models.ForeignKey("cases.Subject", on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField()
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["subject", "until"])]

    def __str__(self) -> str:
        return f"rule {self.rule_id} snoozed for subject {self.subject_id} until {self.until}"


class RuleAction(HistoryModel):
    """An enforcement action a rule asked for on a case.

    Low-impact action types listed in ``TSOPS_RULE_AUTO_ACTIONS`` are *scheduled*: applied as
    an automated decision at ``due_at`` unless a human intervened first (claimed or decided
    the case, or cancelled it). Anything else is *proposed*: shown on the case for a human to
    take or dismiss.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PROPOSED = "proposed", "Proposed for approval"
        APPLIED = "applied", "Applied"
        CANCELLED = "cancelled", "Cancelled"
        DISMISSED = "dismissed", "Dismissed"
        TAKEN = "taken", "Taken by a human"

    TRANSITIONS: dict[str, set[str]] = {
        Status.SCHEDULED: {Status.APPLIED, Status.CANCELLED},
        Status.PROPOSED: {Status.DISMISSED, Status.TAKEN},
        Status.APPLIED: set(),
        Status.CANCELLED: set(),
        Status.DISMISSED: set(),
        Status.TAKEN: set(),
    }

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="actions")
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="actions")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    report = models.ForeignKey(
        "cases.Report", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action_type = models.CharField(max_length=40)
    policy_section = models.CharField(max_length=20)
    duration_hours = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    due_at = models.DateTimeField(null=True, blank=True)
    decision = models.ForeignKey(
        "enforcement.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A rule asks once per case and action type while the request is pending.
            models.UniqueConstraint(
                fields=["version", "case", "action_type"],
                condition=models.Q(status__in=["scheduled", "proposed"]),
                name="rule_action_one_pending",
            )
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["case", "status"]),
        ]


class AutomatedDecision(models.Model):
    """Which rule version made an automated decision (the decision itself is immutable)."""

    decision = models.OneToOneField(
        "enforcement.Decision", on_delete=models.PROTECT, related_name="automation"
    )
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    action = models.OneToOneField(RuleAction, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"decision {self.decision_id} by rule {self.rule_id}"


class Backtest(models.Model):
    """A rule version replayed over stored reports as they were at report time, scored
    against human decisions; ``compare_version`` is run beside it (the policy-change
    simulation). ``results`` is written by the job; ``requested_by`` sees only what they may
    see (the job runs with their visibility)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="backtests")
    version = models.ForeignKey(RuleVersion, on_delete=models.CASCADE, related_name="+")
    compare_version = models.ForeignKey(
        RuleVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    period_from = models.DateTimeField()
    period_to = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("tsops.Job", null=True, blank=True, on_delete=models.SET_NULL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"backtest {self.pk} of rule {self.rule_id}"


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
