"""Appeals against enforcement actions, worked like cases by an independent reviewer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cases.models import Case, Queue, Severity
from enforcement.models import EnforcementAction
from tsops.models import HistoryModel


class Appeal(HistoryModel):
    """A user's complaint about one enforcement action (DSA Art. 20)."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_REVIEW = "in_review", "In review"
        UPHELD = "upheld", "Upheld"
        OVERTURNED = "overturned", "Overturned"
        MODIFIED = "modified", "Modified"

    OPEN = (Status.NEW, Status.IN_REVIEW)
    OUTCOMES = (Status.UPHELD, Status.OVERTURNED, Status.MODIFIED)

    external_id = models.CharField(max_length=200, unique=True, help_text="Idempotency key")
    action = models.ForeignKey(EnforcementAction, on_delete=models.PROTECT, related_name="appeals")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="appeals")
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="appeals")
    statement = models.TextField(help_text="The user's own words")
    appellant_hash = models.CharField(max_length=64, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    restricted = models.BooleanField(default=False)
    team = models.CharField(max_length=50, blank=True)
    needs_senior = models.BooleanField(default=False, help_text="Ban appeals need a senior")
    due_at = models.DateTimeField()

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rationale = models.TextField(blank=True, help_text="Internal")
    response_to_user = models.TextField(blank=True)
    replacement_action = models.ForeignKey(
        EnforcementAction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    filed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["action"],
                condition=Q(status__in=["new", "in_review"]),
                name="appeal_one_open_per_action",
            )
        ]
        indexes = [
            models.Index(
                "queue",
                "severity",
                "due_at",
                "id",
                name="appeal_claim_order",
                condition=Q(status="new"),
            ),
            models.Index(fields=["decided_at"], name="appeal_decided_at"),
        ]

    def __str__(self) -> str:
        return f"Appeal {self.pk} on action {self.action_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN
