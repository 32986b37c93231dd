"""Shared models: base classes, the audit AccessLog, API keys and the worker heartbeat."""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from django.utils import timezone
from simple_history import register
from simple_history.models import HistoricalRecords


def instance_from_row(model: type[models.Model], fields, values, *, using: str = "default"):
    """A ``model`` instance from the raw columns of ``fields`` (a hand-written statement's
    answer), converted as the ORM converts what it reads; fields not given are deferred."""
    converted = [
        field.from_db_value(value, None, None) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(using, [f.attname for f in fields], converted)


@functools.cache
def _related_row_sql(model: type[models.Model], where: str, related: tuple[str, ...]):
    """The statement :func:`row_with_related` runs, and per relation how to read its part."""
    columns = [f't."{f.column}"' for f in model._meta.concrete_fields]
    joins, parts = [], []
    for index, name in enumerate(related):
        field = model._meta.get_field(name)
        other = field.related_model
        alias = f"r{index}"
        if field.many_to_one or (field.one_to_one and field.concrete):
            on = f'{alias}."{other._meta.pk.column}" = t."{field.column}"'
            cache = field
        elif field.one_to_one:  # the reverse side of another model's one-to-one
            on = f'{alias}."{field.field.column}" = t."{model._meta.pk.column}"'
            cache = field
        else:
            raise ValueError(f"{model.__name__}.{name} is not a to-one relation")
        joins.append(f'LEFT JOIN "{other._meta.db_table}" {alias} ON {on}')
        fields = tuple(other._meta.concrete_fields)
        parts.append((other, fields, cache))
        columns += [f'{alias}."{f.column}"' for f in fields]
    sql = (
        f'SELECT {", ".join(columns)} FROM "{model._meta.db_table}" t '  # noqa: S608
        f"{' '.join(joins)} WHERE {where} LIMIT 1"
    )
    return sql, tuple(model._meta.concrete_fields), parts


def row_with_related(
    model: type[models.Model], *, where: str, params, related: tuple[str, ...] = ()
) -> models.Model | None:
    """The first row of ``model`` matching ``where`` (SQL on the alias ``t``, from code),
    with the to-one relations named in ``related`` (foreign keys, one-to-ones of either side)
    loaded as ``select_related`` loads them — a missing one reads as absent — by a statement
    built once per shape instead of a query built on every call (hot paths: the claim's
    queue)."""
    sql, fields, parts = _related_row_sql(model, where, tuple(related))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instance = instance_from_row(model, fields, row[: len(fields)])
    offset = len(fields)
    for other, other_fields, cache in parts:
        values = row[offset : offset + len(other_fields)]
        offset += len(other_fields)
        loaded = None if values[0] is None else instance_from_row(other, other_fields, values)
        cache.set_cached_value(instance, loaded)
    return instance


class TimeStampedModel(models.Model):
    """Adds when a row was created and last changed."""

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class HistoryModel(TimeStampedModel):
    """A domain model whose every change is kept by django-simple-history.

    Subclasses get their own ``history`` table; ``inherit=True`` makes the
    tracking follow the class down the hierarchy.
    """

    history = HistoricalRecords(inherit=True)

    class Meta:
        abstract = True


class Capability(models.Model):
    """Anchor for the capability permissions defined in :mod:`tsops.roles` (no table)."""

    class Meta:
        managed = False
        default_permissions = ()

    def __str__(self) -> str:
        return "capability"


class AccessLog(models.Model):
    """One sensitive access: who looked at, revealed or exported what, when, from where, why.

    Append-only: a database trigger (migration 0003) rejects UPDATE and DELETE.
    """

    class Action(models.TextChoices):
        VIEWED = "viewed", "Viewed"
        REVEALED_PII = "revealed_pii", "Revealed PII"
        REVEALED_MEDIA = "revealed_media", "Revealed sensitive media"
        EXPORTED = "exported", "Exported"
        SEARCHED = "searched", "Searched"
        LOOKED_UP = "looked_up", "Looked up enforcement"
        # Asked for an object that exists but is not theirs to see (answered 404).
        DENIED = "denied", "Denied"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_username = models.CharField(max_length=150, help_text="Kept even if the user is renamed")
    action = models.CharField(max_length=32, choices=Action.choices)
    object_type = models.CharField(max_length=64, help_text="app_label.model of the object")
    object_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.object_type}#{self.object_id}"


class ApiKey(HistoryModel):
    """A bearer key for the REST API: acts as ``user``, limited to ``scopes``.

    Only a SHA-256 of the secret is stored; ``prefix`` (shown in the key itself)
    finds the row without scanning.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=32), default=list)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) for {self.user}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker ran the heartbeat task."""

    worker = models.CharField(max_length=200, unique=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


# Users' role and team changes are audited like any domain model.
register(get_user_model(), app="tsops", table_name="tsops_historicaluser")


class Notification(models.Model):
    """An in-app message for one member (shown on their home page until read)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.title}"


class UserPreference(models.Model):
    """One member's workspace settings: what happens after a decision and how media is shown.

    Read with :func:`tsops.selectors.preferences_for`, which answers the defaults for a member
    who never saved any (no row is written on read).
    """

    class BlurStrength(models.IntegerChoices):
        LIGHT = 8, "Light"
        STRONG = 24, "Strong"
        FULL = 48, "Full (shapes only)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference"
    )
    decide_and_next = models.BooleanField(
        default=True, help_text="After a decision, open the next case of the same queue."
    )
    media_blur = models.PositiveSmallIntegerField(
        choices=BlurStrength.choices,
        default=BlurStrength.STRONG,
        help_text="How strongly sensitive images are blurred before a reveal.",
    )
    media_grayscale = models.BooleanField(
        default=True, help_text="Show sensitive images in grayscale, even once revealed."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class Job(models.Model):
    """A long-running piece of work (a wave, a cluster scan, a backtest, an export) with its
    progress, as ``GET /api/v1/jobs/{id}`` answers it.

    ``kind`` names what the job does (``investigations.wave``); ``subject_id`` the row it works
    on (the wave's id). ``done``/``total`` is its progress; ``result`` what it produced, written
    as it goes so a killed worker's successor resumes from it. ``heartbeat_at`` tells a stalled
    job (a worker killed mid-way) from a running one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=60)
    subject_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "subject_id"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else (1.0 if self.finished else 0.0)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)
