"""Policies, decisions, enforcement actions, strikes, and the outbox of events to the platform."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from cases.models import Case, Severity, Subject
from enforcement.catalogue import ACTIONS
from tsops.models import HistoryModel, TimeStampedModel


class Policy(HistoryModel):
    """A written policy (e.g. Spam and platform manipulation) with versioned sections."""

    code = models.SlugField(
        max_length=20, unique=True, help_text="Prefix of its sections, e.g. SPAM"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PolicySection(HistoryModel):
    """One version of a policy section. Decisions keep the version they were made under.

    Revising a section creates a new version and marks the previous one superseded;
    ``reasons`` lists the report reasons the section is relevant to.
    """

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="sections")
    code = models.CharField(max_length=20, help_text="e.g. SPAM-1.2")
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    public_summary = models.TextField(help_text="Shown to users and support")
    internal_guidance = models.TextField(help_text="For analysts only")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    reasons = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    legal_ground = models.CharField(
        max_length=500, blank=True, help_text="Set when the section covers illegal content"
    )
    effective_from = models.DateTimeField(default=timezone.now)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="section_version_unique"),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(superseded_at__isnull=True),
                name="section_one_current_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version} {self.title}"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None


class Decision(models.Model):
    """What was decided on a case, by whom, under which section. Immutable (a DB trigger
    rejects UPDATE and DELETE); a reopened case gets a new decision."""

    class Outcome(models.TextChoices):
        VIOLATION = "violation", "Violation"
        NO_VIOLATION = "no_violation", "No violation"
        INSUFFICIENT_EVIDENCE = "insufficient_evidence", "Insufficient evidence"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=30, choices=Outcome.choices)
    policy_section = models.ForeignKey(
        PolicySection, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    rationale = models.TextField(help_text="Internal: never shown to users or support")
    statement_of_reasons = models.TextField(blank=True, help_text="Shown to the user")
    recommended_action = models.CharField(max_length=100, blank=True)
    followed_recommendation = models.BooleanField(null=True)
    strikes_before = models.PositiveIntegerField(default=0)
    automated = models.BooleanField(default=False, help_text="Decided without a human")
    response_template = models.ForeignKey(
        "ResponseTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The user-message template version the statement was drafted from",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Decision {self.pk} on case {self.case_id}: {self.outcome}"


class ResponseTemplate(TimeStampedModel):
    """One version of a senior's response template for a policy section: a rationale snippet
    (internal text an analyst inserts into a rationale) or a user message (the statement of
    reasons, with variables such as ``{action}``).

    Versioned like :class:`PolicySection`: ``key`` names the template across its versions;
    revising creates a new version and marks the previous one superseded, and a version's
    text never changes afterwards (decisions keep the version they were drafted from).
    ``retired_at`` on the current version takes the template out of use.
    """

    class Kind(models.TextChoices):
        RATIONALE = "rationale", "Rationale snippet"
        MESSAGE = "message", "User message"

    key = models.UUIDField(default=uuid.uuid4, editable=False)
    section_code = models.CharField(max_length=20, help_text="The policy section, e.g. SPAM-1.2")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField()
    version = models.PositiveIntegerField(default=1)
    superseded_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["section_code", "kind", "title", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="response_template_version"),
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(superseded_at__isnull=True),
                name="response_template_one_current",
            ),
        ]
        indexes = [
            models.Index(
                fields=["section_code", "kind"],
                name="response_template_in_use",
                condition=Q(superseded_at__isnull=True, retired_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.section_code} {self.get_kind_display()} “{self.title}” v{self.version}"

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    @property
    def is_active(self) -> bool:
        return self.superseded_at is None and self.retired_at is None


class EnforcementAction(HistoryModel):
    """An action applied (or proposed) against a subject as part of a decision."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVERSED = "reversed", "Reversed"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS: dict[str, set[str]] = {
        Status.PENDING_APPROVAL: {Status.ACTIVE, Status.REJECTED},
        Status.ACTIVE: {Status.EXPIRED, Status.REVERSED},
        Status.EXPIRED: {Status.REVERSED},
        Status.REVERSED: set(),
        Status.REJECTED: set(),
    }

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="actions")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="actions")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="actions")
    action_type = models.CharField(
        max_length=30, choices=[(c, a.label) for c, a in ACTIONS.items()]
    )
    feature = models.CharField(max_length=30, blank=True)
    duration_hours = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Approved or rejected at")
    rejection_reason = models.TextField(blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversal_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["subject", "-created_at"]),
            models.Index(fields=["starts_at"], name="action_starts_at"),
            models.Index(fields=["expires_at"], name="action_expiry", condition=Q(status="active")),
            models.Index(
                fields=["created_at"], name="action_pending", condition=Q(status="pending_approval")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_type} on {self.subject} ({self.status})"

    @property
    def spec(self):
        return ACTIONS[self.action_type]

    def effective_status(self, now=None) -> str:
        """The status as of ``now``: past ``expires_at`` an active action counts as expired,
        whether or not the expiry task has run yet."""
        now = now or timezone.now()
        if self.status == self.Status.ACTIVE and self.expires_at and self.expires_at <= now:
            return self.Status.EXPIRED
        return self.status


class StrikePolicy(HistoryModel):
    """How strikes accumulate, expire and turn into a recommended action (one row is used)."""

    name = models.CharField(max_length=100, unique=True, default="Default")
    expiry_days = models.PositiveIntegerField(default=90)
    points_by_severity = models.JSONField(
        default=dict,
        help_text='Strikes per section severity, e.g. {"0": 4, "1": 3, "2": 2, "3": 1}',
    )
    ladder = models.JSONField(
        default=list,
        help_text='[[strikes, action, hours or null], ...], e.g. [[2, "suspend", 24]]',
    )

    class Meta:
        verbose_name_plural = "strike policies"

    def __str__(self) -> str:
        return self.name


class Strike(TimeStampedModel):
    """Points against an account from one violation; they stop counting at ``expires_at``."""

    account = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="strikes")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="strikes")
    points = models.PositiveSmallIntegerField()
    expires_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True, help_text="Set when overturned")

    class Meta:
        indexes = [models.Index(fields=["account", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.points} strike(s) on {self.account}"


class OutboxEvent(models.Model):
    """An event for the platform, written in the transaction of the change it describes."""

    ACTION_APPLIED = "action.applied"
    ACTION_EXPIRED = "action.expired"
    ACTION_REVERSED = "action.reversed"
    ACTION_PROPOSED = "action.proposed"
    ACTION_REJECTED = "action.rejected"
    DECISION_MADE = "decision.made"
    REPORT_OUTCOME = "report.outcome"
    TYPES = (
        ACTION_APPLIED,
        ACTION_EXPIRED,
        ACTION_REVERSED,
        ACTION_PROPOSED,
        ACTION_REJECTED,
        DECISION_MADE,
        REPORT_OUTCOME,
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_pending",
                condition=Q(fanned_out_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class WebhookEndpoint(TimeStampedModel):
    """A platform URL that receives signed events of the chosen types. Its history never
    keeps the shared secret."""

    history = HistoricalRecords(excluded_fields=["secret"])

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Shared secret for X-TSOps-Signature")
    event_types = ArrayField(models.CharField(max_length=40), default=list)
    active = models.BooleanField(default=True)
    team = models.CharField(
        max_length=50,
        blank=True,
        default="",
        help_text='Only events for this team (the "team" of their payload); blank: every team',
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"


class WebhookDelivery(models.Model):
    """One event to one endpoint: attempts, the last answer, and when to try again."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once_per_endpoint")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status__in=["pending", "sending"]),
            )
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}: {self.status}"


class DeliveryAttempt(models.Model):
    """The delivery log: every attempt with its status code or error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.at}: {self.status_code or self.error}"


def strike_expiry(days: int, now=None):
    return (now or timezone.now()) + timedelta(days=days)
