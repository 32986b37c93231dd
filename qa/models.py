"""QA: sampling plans, drawn samples, blind reviews against a rubric, feedback and disputes;
calibration sessions with gold answers."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cases.models import Case, Queue, Severity
from enforcement.models import Decision, PolicySection
from tsops.models import HistoryModel, TimeStampedModel


class Rubric(HistoryModel):
    """The criteria a QA reviewer scores a decision on. Seniors edit it in the admin; each
    review keeps a copy of the criteria it was scored with, so later edits never rescore."""

    name = models.CharField(max_length=100, unique=True)
    pass_threshold = models.PositiveSmallIntegerField(
        default=80, help_text="Weighted score (percent) a decision needs to pass"
    )
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class RubricCriterion(HistoryModel):
    """One pass/fail criterion with its weight. A failed critical criterion fails the
    review whatever the weighted score."""

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=200)
    help_text = models.TextField(blank=True)
    weight = models.PositiveSmallIntegerField(default=1)
    critical = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rubric", "key"], name="criterion_key_per_rubric")
        ]

    def __str__(self) -> str:
        return f"{self.label} (×{self.weight})"


class ErrorType(models.TextChoices):
    FALSE_POSITIVE = "false_positive", "False positive (actioned, should not have been)"
    FALSE_NEGATIVE = "false_negative", "False negative (missed a violation)"
    WRONG_POLICY = "wrong_policy", "Wrong policy section"
    WRONG_ACTION = "wrong_action", "Wrong or disproportionate action"
    DOCUMENTATION = "documentation", "Documentation (evidence or rationale)"


class SamplingPlan(HistoryModel):
    """What to sample, how much and how: scope, size (fixed or from a margin of error),
    stratification and always-include rules. Drawn once per period by beat."""

    class Period(models.TextChoices):
        DAY = "day", "Daily"
        WEEK = "week", "Weekly"

    class SizeMode(models.TextChoices):
        FIXED = "fixed", "A fixed number per period"
        MARGIN = "margin", "A margin of error at a confidence level"

    class Stratify(models.TextChoices):
        NONE = "", "No stratification"
        QUEUE = "queue", "By queue"
        ANALYST = "analyst", "By analyst"
        POLICY_SECTION = "policy_section", "By policy section"

    class DecisionKind(models.TextChoices):
        ANY = "any", "Human and automated"
        HUMAN = "human", "Human decisions only"
        AUTOMATED = "automated", "Automated decisions only"

    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="plans")
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.DAY)
    # Scope: an empty list means "any".
    queues = models.ManyToManyField(Queue, blank=True, related_name="+")
    reasons = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    action_types = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    analysts = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    roles = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    decision_kind = models.CharField(
        max_length=10, choices=DecisionKind.choices, default=DecisionKind.ANY
    )
    team = models.CharField(
        max_length=50,
        blank=True,
        help_text="Blank: the non-restricted decisions. A team: that team's restricted ones.",
    )
    # Size.
    size_mode = models.CharField(max_length=10, choices=SizeMode.choices, default=SizeMode.FIXED)
    fixed_size = models.PositiveIntegerField(default=50)
    confidence = models.DecimalField(max_digits=4, decimal_places=3, default=0.95)
    margin = models.DecimalField(max_digits=4, decimal_places=3, default=0.05)
    expected_rate = models.DecimalField(
        max_digits=4, decimal_places=3, default=0.5, help_text="p; 0.5 is the safe choice"
    )
    stratify_by = models.CharField(
        max_length=20, choices=Stratify.choices, default=Stratify.NONE, blank=True
    )
    # Always-include rules (added on top of the random draw).
    always_action_types = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    always_new_analyst_days = models.PositiveSmallIntegerField(
        default=0, help_text="Every decision by an analyst in their first N days (0: off)"
    )

    def __str__(self) -> str:
        return self.name


class Sample(TimeStampedModel):
    """One plan's draw for one period. The seed and the population size are kept so the
    draw can be reproduced; one sample per plan and period."""

    plan = models.ForeignKey(SamplingPlan, on_delete=models.PROTECT, related_name="samples")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    seed = models.BigIntegerField()
    population_size = models.PositiveIntegerField()
    target_size = models.PositiveIntegerField(help_text="n computed for the population")
    drawn_size = models.PositiveIntegerField(help_text="Random draw (≤ target)")
    always_included = models.PositiveIntegerField(default=0)
    strata = models.JSONField(default=dict, blank=True, help_text="stratum → (population, n)")
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "period_start"], name="sample_once_per_period")
        ]
        ordering = ["-period_start", "-id"]

    def __str__(self) -> str:
        return f"{self.plan} {self.period_start:%Y-%m-%d}"


class QAReview(HistoryModel):
    """A blind re-review of one decision. The reviewer answers first without seeing the
    decision, then it is revealed and scored on the rubric; the analyst then acknowledges
    or disputes, and a different senior adjudicates a dispute."""

    class Status(models.TextChoices):
        NEW = "new", "Waiting for a reviewer"
        IN_REVIEW = "in_review", "Claimed"
        ANSWERED = "answered", "Answered blind, to score"
        SCORED = "scored", "Scored"

    class Feedback(models.TextChoices):
        NONE = "", "Not yet scored"
        PENDING = "pending", "Waiting for the analyst"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        DISPUTED = "disputed", "Disputed"
        UPHELD = "upheld", "Dispute rejected: review stands"
        OVERTURNED = "overturned", "Dispute accepted: review overturned"

    class Inclusion(models.TextChoices):
        RANDOM = "random", "Random sample"
        ALWAYS_ACTION = "always_action", "Always included: action type"
        ALWAYS_NEW_ANALYST = "always_new_analyst", "Always included: analyst's first days"

    OPEN = (Status.NEW, Status.IN_REVIEW, Status.ANSWERED)

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="reviews")
    decision = models.OneToOneField(Decision, on_delete=models.PROTECT, related_name="qa_review")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="qa_reviews")
    analyst = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="qa_reviews_received"
    )
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    policy_section = models.ForeignKey(
        PolicySection, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    restricted = models.BooleanField(default=False)
    team = models.CharField(max_length=50, blank=True)
    inclusion = models.CharField(max_length=30, choices=Inclusion.choices)
    stratum = models.CharField(max_length=100, blank=True)
    decided_at = models.DateTimeField()

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    # The reviewer's own blind answer.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    blind_outcome = models.CharField(max_length=30, blank=True)
    blind_policy_section = models.CharField(max_length=20, blank=True)
    blind_action = models.CharField(max_length=40, blank=True)
    blind_notes = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    # The scoring, after the reveal.
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="+")
    scores = models.JSONField(
        default=list, blank=True, help_text="[{key, label, weight, critical, passed}]"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Weighted, %")
    passed = models.BooleanField(null=True)
    error_types = ArrayField(
        models.CharField(max_length=30, choices=ErrorType.choices), default=list, blank=True
    )
    reviewer_notes = models.TextField(blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    # Feedback, dispute and adjudication.
    feedback = models.CharField(
        max_length=20, choices=Feedback.choices, default=Feedback.NONE, blank=True
    )
    feedback_at = models.DateTimeField(null=True, blank=True)
    dispute_reason = models.TextField(blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    adjudication_notes = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(
                "severity",
                "decided_at",
                "id",
                name="qa_review_claim_order",
                condition=Q(status="new"),
            ),
            models.Index(fields=["analyst", "scored_at"], name="qa_review_analyst"),
            models.Index(fields=["scored_at"], name="qa_review_scored_at"),
        ]

    def __str__(self) -> str:
        return f"QA review {self.pk} of decision {self.decision_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def revealed(self) -> bool:
        """The original decision may be shown once the reviewer has answered blind."""
        return self.status in (self.Status.ANSWERED, self.Status.SCORED)


class CalibrationSession(HistoryModel):
    """A set of cases every participant answers blind, compared with gold answers and
    with each other once the session closes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (setting gold answers)"
        OPEN = "open", "Open for answers"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="CalibrationParticipant", related_name="+"
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    low_agreement_threshold = models.PositiveSmallIntegerField(
        default=60, help_text="Cases below this % agreement are policy-ambiguity candidates"
    )
    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return self.name


class CalibrationCase(TimeStampedModel):
    """One case of a session with its gold answer and, after the session, the
    clarification its low agreement called for."""

    session = models.ForeignKey(CalibrationSession, on_delete=models.CASCADE, related_name="items")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    gold_outcome = models.CharField(max_length=30, blank=True)
    gold_policy_section = models.CharField(max_length=20, blank=True)
    gold_action = models.CharField(max_length=40, blank=True)
    gold_severity = models.PositiveSmallIntegerField(
        choices=Severity.choices, null=True, blank=True
    )
    clarification = models.TextField(blank=True, help_text="Policy clarification after review")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "case"], name="calibration_case_once")
        ]

    def __str__(self) -> str:
        return f"{self.session} · case {self.case_id}"


class CalibrationParticipant(models.Model):
    """A member invited to a session; ``submitted_at`` is set when they hand in."""

    session = models.ForeignKey(CalibrationSession, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    invited_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="calibration_participant_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.session}"


class CalibrationAnswer(TimeStampedModel):
    """A participant's blind answer on one case of a session."""

    item = models.ForeignKey(CalibrationCase, on_delete=models.CASCADE, related_name="answers")
    participant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=30)
    policy_section = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=40, blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "participant"], name="calibration_answer_once")
        ]
