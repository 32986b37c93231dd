"""Specialist teams, escalations with their frozen packets, and on-call alerts sent once."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cases.models import Case, Severity
from tsops.models import HistoryModel, TimeStampedModel


class Team(HistoryModel):
    """A specialist team. ``slug`` is also the name of the team's Django group (its members).

    ``restricted`` means a case escalated to the team becomes visible to the team only.
    The ``ack_minutes_p*`` fields give the acknowledgement deadline per severity.
    """

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    on_call = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Member alerted for new P0/P1 escalations and overdue acknowledgements",
    )
    restricted = models.BooleanField(default=False)
    ack_minutes_p0 = models.PositiveIntegerField(default=15)
    ack_minutes_p1 = models.PositiveIntegerField(default=60)
    ack_minutes_p2 = models.PositiveIntegerField(default=8 * 60)
    ack_minutes_p3 = models.PositiveIntegerField(default=24 * 60)
    alert_webhook_url = models.URLField(max_length=2000, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug

    def ack_due(self, severity: int, start: datetime) -> datetime:
        """When an escalation of ``severity`` raised at ``start`` must be acknowledged."""
        return start + timedelta(minutes=getattr(self, f"ack_minutes_p{severity}"))


class ReferralKind(models.TextChoices):
    """Where a specialist team referred a case outside the company."""

    LAW_ENFORCEMENT = "law_enforcement", "Law enforcement"
    NCMEC = "ncmec", "NCMEC"
    OTHER = "other", "Other"


class Escalation(TimeStampedModel):
    """A case handed to a specialist team, with the packet the team was given.

    ``packet`` is a frozen snapshot taken at escalation time (subject, reports, evidence
    list with hashes, timeline, prior enforcement, linked accounts): later edits to the case
    never change it. ``case_was_restricted`` / ``previous_team`` remember the case's
    visibility before the escalation so that a return can put it back.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"
        RETURNED = "returned", "Returned"

    ACTIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)

    # Allowed transitions: from-status -> statuses a service may move the escalation to.
    TRANSITIONS: dict[str, set[str]] = {
        Status.OPEN: {Status.ACKNOWLEDGED, Status.RESOLVED, Status.RETURNED},
        Status.ACKNOWLEDGED: {Status.RESOLVED, Status.RETURNED},
        Status.RESOLVED: set(),
        Status.RETURNED: set(),
    }

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="escalations")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalations")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    summary = models.TextField()
    criteria = models.TextField(help_text="Why the case meets the team's criteria")
    next_steps = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)

    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField(default=timezone.now)
    ack_due = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    referral_kind = models.CharField(
        max_length=20, choices=ReferralKind.choices, blank=True, help_text="Blank: no referral"
    )
    referral_agency = models.CharField(
        max_length=200, blank=True, help_text="Who the case was referred to"
    )
    referral_reference = models.CharField(
        max_length=200, blank=True, help_text="The agency's reference number, when given one"
    )
    referral_date = models.DateField(null=True, blank=True)
    referral = models.TextField(
        blank=True,
        help_text="Legacy free-text referral, kept read-only from before referrals were structured",
    )
    decision = models.ForeignKey(
        "enforcement.Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    returned_note = models.TextField(blank=True)

    packet = models.JSONField(default=dict)
    case_was_restricted = models.BooleanField(default=False)
    previous_team = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            # A case is with at most one team at a time.
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="escalation_one_active_per_case",
            ),
            # A referral names its agency and date; no kind, no referral details.
            models.CheckConstraint(
                condition=(
                    Q(referral_kind="", referral_agency="", referral_reference="")
                    & Q(referral_date__isnull=True)
                )
                | (~Q(referral_kind="") & ~Q(referral_agency="") & Q(referral_date__isnull=False)),
                name="escalation_referral_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "status", "-raised_at"], name="escalation_team_status"),
            models.Index(fields=["ack_due"], name="escalation_ack_due", condition=Q(status="open")),
        ]

    def __str__(self) -> str:
        return f"Escalation #{self.pk} of case {self.case_id} to {self.team_id}"

    @property
    def severity_code(self) -> str:
        return f"P{self.severity}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def has_referral(self) -> bool:
        return bool(self.referral_kind)

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.status == self.Status.OPEN and self.ack_due < (now or timezone.now())


class EscalationAlert(models.Model):
    """One on-call alert: the unique constraint makes each kind go out once per escalation."""

    class Kind(models.TextChoices):
        NEW = "new", "New escalation"
        OVERDUE = "overdue", "Acknowledgement overdue"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation", "kind"], name="escalation_alert_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert for escalation {self.escalation_id}"
