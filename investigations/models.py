"""The layer above the single case: clusters of coordinated accounts, waves that enforce on a
cluster at once, and investigation files.

Accounts themselves are ``cases.Subject`` rows of kind ``account``; the identifiers that link
them are ``cases.Identifier``. This app adds what groups them and what acts on the groups.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from cases.models import Case, Subject
from tsops.models import HistoryModel, Job, TimeStampedModel


class Cluster(HistoryModel):
    """A coordinated group of accounts (and their content) found by the cluster job or built
    by hand.

    ``signature`` identifies a found cluster across runs (the linking identifier hash, or the
    content fingerprint band), so the incremental job grows the same cluster instead of making
    a new one; hand-made clusters have none. ``team`` is set when a member's evidence comes
    from restricted cases: then only that team (and who may see its cases) sees the cluster.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Actioned"
        DISMISSED = "dismissed", "Dismissed"

    class Origin(models.TextChoices):
        IDENTIFIERS = "identifiers", "Shared identifiers"
        CONTENT = "content", "Near-identical content"
        MANUAL = "manual", "Built by hand"

    TRANSITIONS = {
        Status.OPEN: {Status.ACTIONED, Status.DISMISSED},
        Status.ACTIONED: {Status.OPEN},
        Status.DISMISSED: {Status.OPEN},
    }

    name = models.CharField(max_length=200)
    origin = models.CharField(max_length=20, choices=Origin.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    signature = models.CharField(max_length=128, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    size = models.PositiveIntegerField(default=0, help_text="Number of member accounts")
    content_count = models.PositiveIntegerField(default=0, help_text="Number of content members")
    dominant_reasons = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="What links the members: shared identifiers (kind, masked, hash prefix, "
        "accounts), content fingerprints and a sample text",
    )
    team = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["signature"],
                condition=~models.Q(signature=""),
                name="cluster_signature_unique",
            )
        ]
        indexes = [models.Index(fields=["status", "-last_seen"])]

    def __str__(self) -> str:
        return self.name


class ClusterMember(models.Model):
    """An account or content subject in a cluster, with why it is there."""

    class Role(models.TextChoices):
        ACCOUNT = "account", "Account"
        CONTENT = "content", "Content"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="members")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="cluster_members")
    role = models.CharField(max_length=20, choices=Role.choices)
    reasons = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "subject"], name="cluster_member_unique")
        ]
        indexes = [models.Index(fields=["subject"])]

    def __str__(self) -> str:
        return f"{self.cluster_id}: {self.subject_id}"


class ClusterScan(models.Model):
    """Where the incremental cluster job stopped: the highest report and identifier ids it
    has looked at, per detector (``identifiers``, ``content``)."""

    name = models.CharField(max_length=40, unique=True)
    last_report_id = models.BigIntegerField(default=0)
    last_identifier_id = models.BigIntegerField(default=0)
    ran_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name


class Wave(HistoryModel):
    """One decision applied to every member of a cluster (or a hand-made selection).

    Every member gets its own decision, actions, statement, strike and outbox events through
    ``enforcement`` services; ``WaveMember`` rows record each member's result so a resumed job
    never acts twice.
    """

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Awaiting approval"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS = {
        Status.PENDING_APPROVAL: {Status.RUNNING, Status.REJECTED},
        Status.RUNNING: {Status.DONE},
    }

    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="waves"
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    policy_section = models.CharField(max_length=40, help_text="Policy section code")
    rationale = models.TextField()
    statement_of_reasons = models.TextField(blank=True)
    account_action = models.CharField(max_length=40, blank=True)
    account_duration_hours = models.PositiveIntegerField(null=True, blank=True)
    content_action = models.CharField(max_length=40, blank=True)
    severe = models.BooleanField(default=False, help_text="Needs a senior's approval")
    member_count = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_reason = models.TextField(blank=True)
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="wave"
    )
    submission_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="Idempotency key: the same submission twice makes one wave",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submission_key"],
                condition=~models.Q(submission_key=""),
                name="wave_submission_unique",
            )
        ]

    def __str__(self) -> str:
        return f"wave {self.pk} ({self.status})"


class WaveMember(models.Model):
    """One member of a wave and what the wave did to it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Actioned"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="members")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    decision_id = models.BigIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)
    recommendation = models.CharField(max_length=100, blank=True)
    stronger_recommended = models.BooleanField(default=False)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wave", "subject"], name="wave_member_unique")
        ]
        indexes = [models.Index(fields=["wave", "state"])]

    def __str__(self) -> str:
        return f"{self.wave_id}: {self.subject_id} {self.state}"


class Investigation(HistoryModel):
    """A senior's file above cases: a hypothesis, what it links, notes and findings.

    ``team`` is set when it touches restricted cases: then only its members who may see that
    team's cases (and the team) see it.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    findings = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    accounts = models.ManyToManyField(Subject, blank=True, related_name="+")
    clusters = models.ManyToManyField(Cluster, blank=True, related_name="investigations")
    cases = models.ManyToManyField(Case, blank=True, related_name="+")
    restricted = models.BooleanField(default=False)
    team = models.CharField(max_length=50, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return self.title


class InvestigationNote(TimeStampedModel):
    """A note in an investigation file (its running log)."""

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk}"
