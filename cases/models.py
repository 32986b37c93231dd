"""Subjects, reports, queues, routing, SLA policies and cases with their timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase

from tsops.models import HistoryModel, TimeStampedModel

# A deadline is "due soon" once this fraction of the time from a case's creation to it passed.
WARNING_FRACTION = 0.8


class WarningPoint(models.Func):
    """SQL for :meth:`Case.warning_point`: ``created + (due - created) * 0.8``, computed on UTC
    timestamps so that the expression is immutable and can be indexed (cases.sla scans it)."""

    output_field = models.DateTimeField()

    def __init__(self, created, due):
        super().__init__(created, due)

    def as_sql(self, compiler, connection, **extra_context):
        (created, created_params), (due, due_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        sql = (
            f"((({created} AT TIME ZONE 'UTC') + (({due} AT TIME ZONE 'UTC') - "
            f"({created} AT TIME ZONE 'UTC')) * {WARNING_FRACTION}) AT TIME ZONE 'UTC')"
        )
        return sql, [*created_params, *due_params, *created_params]


class Severity(models.IntegerChoices):
    """Lower is more urgent: cases sort by severity ascending."""

    P0 = 0, "P0 critical"
    P1 = 1, "P1 high"
    P2 = 2, "P2 standard"
    P3 = 3, "P3 low"


def severity_code(value: int) -> str:
    return f"P{value}"


class SLAPolicy(HistoryModel):
    """Minutes to first action and to resolution, per severity."""

    name = models.CharField(max_length=100, unique=True)
    first_action_p0 = models.PositiveIntegerField(default=15)
    resolve_p0 = models.PositiveIntegerField(default=60)
    first_action_p1 = models.PositiveIntegerField(default=60)
    resolve_p1 = models.PositiveIntegerField(default=8 * 60)
    first_action_p2 = models.PositiveIntegerField(default=8 * 60)
    resolve_p2 = models.PositiveIntegerField(default=24 * 60)
    first_action_p3 = models.PositiveIntegerField(default=24 * 60)
    resolve_p3 = models.PositiveIntegerField(default=72 * 60)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name

    def deadlines(self, severity: int, start: datetime) -> tuple[datetime, datetime]:
        """(first action due, resolution due) for a case of ``severity`` opened at ``start``."""
        first = getattr(self, f"first_action_p{severity}")
        resolve = getattr(self, f"resolve_p{severity}")
        return start + timedelta(minutes=first), start + timedelta(minutes=resolve)


class Queue(HistoryModel):
    """A work queue. ``allowed_roles`` limits who works it; a ``team`` makes it restricted.
    ``kind`` says what it holds: cases, or appeals (worked the same way)."""

    class Kind(models.TextChoices):
        CASES = "cases", "Cases"
        APPEALS = "appeals", "Appeals"

    slug = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CASES)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    sla_policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="queues")
    allowed_roles = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    team = models.CharField(
        max_length=50, blank=True, help_text="Specialist team owning this restricted queue"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def restricted(self) -> bool:
        return bool(self.team)


class ReportReason(HistoryModel):
    """One entry of the report taxonomy, with its defaults and DSA category."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=100)
    default_queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    default_severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    dsa_category = models.CharField(max_length=100)
    restricted = models.BooleanField(
        default=False, help_text="Cases for this reason are visible only to restricted_team"
    )
    restricted_team = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Subject(HistoryModel):
    """What was reported: an account, content item, message, listing or profile.

    ``owner`` is the account subject that owns a non-account subject. The snapshot
    fields hold the content as it was when first reported.
    """

    class Kind(models.TextChoices):
        ACCOUNT = "account"
        CONTENT = "content"
        MESSAGE = "message"
        LISTING = "listing"
        PROFILE = "profile"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    external_id = models.CharField(max_length=200)
    owner = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="owned"
    )
    snapshot_text = models.TextField(blank=True)
    snapshot_url = models.URLField(max_length=2000, blank=True)
    snapshot_media = models.JSONField(default=list, blank=True)
    content_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "external_id"], name="subject_unique_per_kind")
        ]
        indexes = [
            # Prefix search of account ids (``LIKE 'abc%'`` whatever the database's collation).
            models.Index(
                fields=["kind", "external_id"],
                name="subject_external_id_prefix",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.external_id}"

    @property
    def account(self) -> Subject | None:
        """The account behind this subject (itself for an account)."""
        return self if self.kind == self.Kind.ACCOUNT else self.owner


class Identifier(TimeStampedModel):
    """A device, IP, email, phone or payment value seen on an account: keyed hash + masked form."""

    class Kind(models.TextChoices):
        DEVICE = "device"
        IP = "ip"
        EMAIL = "email"
        PHONE = "phone"
        PAYMENT = "payment"

    account = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the normalised value")
    masked = models.CharField(max_length=100)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "value_hash"], name="identifier_unique_per_account"
            )
        ]
        indexes = [models.Index(fields=["kind", "value_hash"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.masked}"


class Case(HistoryModel):
    """The unit of work: one open case per subject, with its reports, deadlines and claim."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_REVIEW = "in_review", "In review"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        ESCALATED = "escalated", "Escalated"
        RESOLVED = "resolved", "Resolved"

    OPEN_STATUSES = (Status.NEW, Status.IN_REVIEW, Status.PENDING_APPROVAL, Status.ESCALATED)

    # Allowed transitions: from-status -> statuses a service may move the case to. Every move
    # goes through cases.lifecycle, which checks this table (SQL writers included).
    TRANSITIONS: dict[str, set[str]] = {
        # A senior may decide an unclaimed case; a severe action then waits for approval.
        Status.NEW: {Status.IN_REVIEW, Status.ESCALATED, Status.PENDING_APPROVAL, Status.RESOLVED},
        Status.IN_REVIEW: {
            Status.NEW,
            # The claim passes to another member: assigned, or taken over an expired lease.
            Status.IN_REVIEW,
            Status.PENDING_APPROVAL,
            Status.ESCALATED,
            Status.RESOLVED,
        },
        Status.PENDING_APPROVAL: {Status.IN_REVIEW, Status.RESOLVED, Status.NEW},
        Status.ESCALATED: {Status.NEW, Status.IN_REVIEW, Status.PENDING_APPROVAL, Status.RESOLVED},
        Status.RESOLVED: {Status.NEW},  # reopened
    }

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="cases")
    reason = models.CharField(max_length=40, help_text="Reason of the most severe report")
    restricted = models.BooleanField(default=False)
    team = models.CharField(
        max_length=50, blank=True, help_text="Team that may see it if restricted"
    )
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)

    report_count = models.PositiveIntegerField(default=0)
    automated_count = models.PositiveIntegerField(default=0)
    human_count = models.PositiveIntegerField(default=0)

    first_action_due = models.DateTimeField()
    resolve_due = models.DateTimeField()
    first_action_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    first_claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    reopen_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    # Raised by one for each breached deadline (cases.sla); within a severity the claim order
    # puts higher priority first, so overdue work is not left behind newer, on-time work.
    priority = models.SmallIntegerField(default=0, db_default=0)
    # Set once per deadline by the SLA sweep (cases.sla): when the "due soon" warning was
    # recorded and when the breach was marked. Re-stamping the deadlines clears them.
    first_action_warned_at = models.DateTimeField(null=True, blank=True)
    first_action_breached_at = models.DateTimeField(null=True, blank=True)
    resolve_warned_at = models.DateTimeField(null=True, blank=True)
    resolve_breached_at = models.DateTimeField(null=True, blank=True)
    search_document = SearchVectorField(null=True, editable=False)

    class Meta:
        constraints = [
            # One open case per subject, enforced by the database under concurrency.
            models.UniqueConstraint(
                fields=["subject"],
                condition=~Q(status="resolved"),
                name="case_one_open_per_subject",
            ),
        ]
        indexes = [
            # Claim order for the next-case statement and the queue page.
            models.Index(
                "queue",
                "severity",
                models.F("priority").desc(),
                "resolve_due",
                models.F("report_count").desc(),
                "id",
                name="case_claim_order",
                condition=Q(status="new"),
            ),
            models.Index(fields=["queue", "status", "resolve_due"], name="case_queue_status_due"),
            models.Index(
                fields=["lease_expires_at"],
                name="case_lease_expiry",
                condition=Q(status="in_review"),
            ),
            models.Index(fields=["-created_at"], name="case_created_desc"),
            # The SLA sweep's scans: open cases past 80% of a deadline not yet marked breached.
            models.Index(
                WarningPoint("created_at", "first_action_due"),
                name="case_first_action_sla",
                condition=~Q(status="resolved")
                & Q(first_action_at__isnull=True, first_action_breached_at__isnull=True),
            ),
            models.Index(
                WarningPoint("created_at", "resolve_due"),
                name="case_resolve_sla",
                condition=~Q(status="resolved") & Q(resolve_breached_at__isnull=True),
            ),
            GinIndex(fields=["search_document"], name="case_search_gin"),
            GinIndex(fields=["tags"], name="case_tags_gin"),
        ]

    def __str__(self) -> str:
        return f"Case #{self.pk} ({self.subject})"

    @property
    def severity_code(self) -> str:
        return severity_code(self.severity)

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED

    @property
    def is_decidable(self) -> bool:
        """A decision may move it on: to resolved, or to pending approval for severe actions."""
        moves = self.TRANSITIONS[self.status]
        return self.Status.RESOLVED in moves and self.Status.PENDING_APPROVAL in moves

    def is_claimable_by(self, user_id: int | None, now: datetime | None = None) -> bool:
        """Unclaimed, held by ``user_id`` already, or held on a lease that ran out."""
        if self.status == self.Status.NEW:
            return True
        if self.status != self.Status.IN_REVIEW:
            return False
        now = now or timezone.now()
        return self.claimed_by_id == user_id or (
            self.lease_expires_at is not None and self.lease_expires_at <= now
        )

    def pending_deadlines(self) -> list[datetime]:
        """The deadlines still to meet: the resolution while the case is open, and the first
        action while none was taken. ``cases.sla.breached_q`` and ``due_within_q`` ask the
        database the same, and a test holds them to these methods."""
        if not self.is_open:
            return []
        if self.first_action_at is None:
            return [self.resolve_due, self.first_action_due]
        return [self.resolve_due]

    def is_breached(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return any(due < now for due in self.pending_deadlines())

    def is_due_within(self, within: timedelta, now: datetime | None = None) -> bool:
        """Not breached, but a pending deadline falls within ``within`` of now (the queue
        list's and live operations' "due within 1 h")."""
        now = now or timezone.now()
        return not self.is_breached(now) and any(
            due < now + within for due in self.pending_deadlines()
        )

    def warning_point(self, due: datetime) -> datetime:
        """When a deadline becomes "due soon": 80% of the way from creation to ``due``."""
        return self.created_at + (due - self.created_at) * WARNING_FRACTION

    def is_due_soon(self, now: datetime | None = None) -> bool:
        """Open, not breached, and past 80% of a pending deadline (first action while none was
        taken, resolution while unresolved): the same rule the SLA sweep warns by."""
        now = now or timezone.now()
        return not self.is_breached(now) and any(
            self.warning_point(due) <= now for due in self.pending_deadlines()
        )


class Report(TimeStampedModel):
    """One report or flag as received. Immutable; idempotent on (source, external_id)."""

    class Source(models.TextChoices):
        USER_REPORT = "user_report", "User report"
        # A notice from a trusted flagger (Art. 22 DSA): the platform knows who they are.
        TRUSTED_FLAGGER = "trusted_flagger", "Trusted flagger"
        AUTOMATED_FLAG = "automated_flag", "Automated flag"
        SUPPORT = "support", "Support"
        INTERNAL = "internal", "Internal"

    source = models.CharField(max_length=20, choices=Source.choices)
    external_id = models.CharField(max_length=200)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="reports")
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="reports")
    reason = models.CharField(max_length=40)
    description = models.TextField(blank=True)
    reporter_hash = models.CharField(max_length=64, blank=True)
    detector = models.CharField(max_length=100, blank=True)
    score = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="report_idempotency_key")
        ]
        indexes = [
            models.Index(fields=["case", "received_at"]),
            # Reports received in a period (the transparency report's notices).
            models.Index(fields=["received_at"], name="report_received_at"),
            # The reports an account made as a reporter (its page), by the reporter's hash.
            models.Index(
                fields=["reporter_hash"],
                name="report_reporter_hash",
                condition=~Q(reporter_hash=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"

    @property
    def automated(self) -> bool:
        return self.source == self.Source.AUTOMATED_FLAG


class Note(TimeStampedModel):
    """An internal note on a case (never shown to users or support)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note on case {self.case_id} by {self.author_id}"


class MediaFile(TimeStampedModel):
    """One stored file of media evidence, content-addressed: one row (and one stored file) per
    SHA-256, however many reports and cases carry it.

    ``content_type`` and ``image_format`` are what :mod:`cases.media` sniffed from the bytes
    (never what the sender claimed). ``renderable``: Pillow decoded it as a raster image within
    the pixel limit, so thumbnails are made of it; anything else (SVG, PDF, an undecodable file)
    is an opaque file, only ever downloaded as an attachment. ``pdq_hash`` is Meta's PDQ
    perceptual hash (256 bits as 64 hex digits) with its quality (0-100), for hash matching.
    """

    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64, unique=True)
    pdq_hash = models.CharField(max_length=64, blank=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100)
    image_format = models.CharField(max_length=20, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    byte_size = models.PositiveBigIntegerField()
    renderable = models.BooleanField(default=False)
    # The first name it arrived under, made safe for a Content-Disposition header.
    original_name = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["pdq_hash"], name="mediafile_pdq_hash")]

    def __str__(self) -> str:
        return f"{self.original_name} {self.sha256[:12]}"


class Evidence(TimeStampedModel):
    """A piece of evidence: a URL, excerpt or media file, its SHA-256 and capture time; maybe
    sensitive. Media evidence (kind ``media``) points at its stored :class:`MediaFile`, and at
    the report it came with when the platform attached it (``excerpt`` is then a caption)."""

    class Kind(models.TextChoices):
        SCREENSHOT = "screenshot"
        URL = "url"
        EXCERPT = "excerpt"
        MEDIA = "media"
        LOG = "log"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = models.URLField(max_length=2000, blank=True)
    excerpt = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    captured_at = models.DateTimeField(default=timezone.now)
    sensitive = models.BooleanField(default=False)
    # Material nobody opens in the console (e.g. suspected CSAM): only kind, hash and capture
    # time are ever shown, never the URL, excerpt or a preview, to anyone.
    do_not_open = models.BooleanField(default=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    media = models.ForeignKey(
        MediaFile, null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.PROTECT, related_name="media_evidence"
    )

    class Meta:
        ordering = ["captured_at"]
        verbose_name_plural = "evidence"
        constraints = [
            models.CheckConstraint(
                condition=Q(media__isnull=True) | Q(kind="media"), name="evidence_media_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]}"


class CaseLink(TimeStampedModel):
    """A directed link between cases."""

    class Kind(models.TextChoices):
        DUPLICATE_OF = "duplicate_of", "Duplicate of"
        RELATED = "related", "Related"
        RECURRENCE_OF = "recurrence_of", "Recurrence of"
        # Written at intake (investigations.evasion): the account of this case shares a strong
        # identifier with the account of the linked case, which is under a suspension or ban.
        EVASION_SUSPECT = "evasion_suspect", "Evasion suspect of"

    from_case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="links_out")
    to_case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["from_case", "to_case", "kind"], name="case_link_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.from_case_id} {self.kind} {self.to_case_id}"


class CaseSkip(TimeStampedModel):
    """An analyst passed on a case; "next" won't hand it back to them for a while."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["user", "case", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} skipped {self.case_id}"


class CaseEvent(models.Model):
    """One entry of a case's timeline (kinds are ``<ENTITY>_<PAST_TENSE>``)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} on case {self.case_id}"


class CaseGroupObjectPermission(GroupObjectPermissionBase):
    """A group's object permission on one case (django-guardian's direct foreign key, so that
    "the cases a team may see" is a join on an indexed integer, not a scan over text ids).

    ``view_case`` held by a specialist team's group is what lets the team see the case: every
    case restricted to the team, and an unrestricted one while it is escalated to the team.
    :mod:`cases.visibility` reads and writes these rows.
    """

    content_object = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="group_object_permissions"
    )

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "case group permission"
