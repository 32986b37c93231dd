"""Writes owned by the project package: members, API keys, the access log, heartbeats."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from tsops import prepared, roles
from tsops.errors import HiddenObject
from tsops.models import (
    AccessLog,
    ApiKey,
    Notification,
    UserPreference,
    WorkerHeartbeat,
    instance_from_row,
)
from tsops.permissions import groups_remember

security_log = logging.getLogger("tsops.security")

KEY_PREFIX = "tsk"
# last_used_at is refreshed at most this often, so busy keys don't write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def client_ip(request: HttpRequest | None) -> str | None:
    """The caller's address as seen by Django (the proxy sets REMOTE_ADDR in production)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def access_log_record(
    *,
    actor: AbstractBaseUser,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str | int = "",
    reason: str = "",
    request: HttpRequest | None = None,
    detail: dict | None = None,
) -> AccessLog:
    """Append one entry to the access log (inside the caller's transaction, if any)."""
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = obj.pk
    if action not in AccessLog.Action.values:
        raise ValueError(f"unknown access-log action {action!r}")
    return AccessLog.objects.create(
        actor=actor if actor.is_authenticated else None,
        actor_username=getattr(actor, "username", "") or "anonymous",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason,
        ip_address=client_ip(request),
        detail=detail or {},
    )


def access_log_insert_sql(*, source: str, object_type: str, when: str = "TRUE") -> str:
    """:func:`access_log_record` of a "viewed" entry inside a caller's statement: an
    ``INSERT … SELECT`` of one entry per ``id`` of ``source`` (a CTE of that statement) when
    the SQL condition ``when`` holds, with the parameters :func:`access_log_insert_params`
    gives and the statement's ``now``."""
    if "." not in object_type:
        raise ValueError(f"object_type is app_label.model, not {object_type!r}")
    # The object type comes from code (a model's label), never from input.
    return (
        "INSERT INTO tsops_accesslog (actor_id, actor_username, action, object_type, "  # noqa: S608
        "object_id, reason, ip_address, at, detail) "
        "SELECT %(log_actor)s, %(log_username)s, %(log_action)s, "
        f"'{object_type}', {source}.id::text, '', %(log_ip)s, %(now)s, '{{}}'::jsonb "
        f"FROM {source} WHERE {when}"
    )


def access_log_insert_params(*, actor, request: HttpRequest | None, when: bool = True) -> dict:
    """The parameters of :func:`access_log_insert_sql` for ``actor`` seen through ``request``
    (``when``: whether the entry is written, for a ``when`` condition given as a parameter)."""
    return {
        "log_actor": actor.pk if actor.is_authenticated else None,
        "log_username": getattr(actor, "username", "") or "anonymous",
        "log_action": AccessLog.Action.VIEWED.value,
        "log_ip": client_ip(request),
        "log_when": when,
    }


def access_denied_record(*, request: HttpRequest, exc: HiddenObject) -> AccessLog | None:
    """Record that the request's user was refused an object that exists (it was answered 404
    like a missing one), in the access log and the ``tsops.security`` log. Called by the 404
    handlers, after the view's transaction has rolled back, so the entry always stays."""
    actor = exc.actor
    security_log.warning(
        "denied %s#%s to %s (%s %s)",
        exc.object_type,
        exc.object_id,
        getattr(actor, "username", "") or "anonymous",
        request.method,
        request.path,
    )
    if actor is None or not actor.is_authenticated:
        return None
    return access_log_record(
        actor=actor,
        action=AccessLog.Action.DENIED,
        object_type=exc.object_type,
        object_id=exc.object_id,
        request=request,
        detail={"method": request.method, "path": request.path[:300]},
    )


def member_create_or_update(
    *,
    username: str,
    role: str | None,
    teams: Iterable[str] = (),
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    validate: bool = True,
) -> AbstractBaseUser:
    """Create or update a member with exactly this role and these team memberships."""
    if role is not None and role not in roles.ROLES:
        raise ValidationError({"role": f"unknown role {role!r}; one of {', '.join(roles.ROLES)}"})
    teams = list(dict.fromkeys(teams))
    known = roles.team_labels()
    unknown = [team for team in teams if team not in known]
    if unknown:
        raise ValidationError(
            {"team": f"unknown team(s) {', '.join(unknown)}; one of {', '.join(known)}"}
        )
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if email:
            user.email = email
        if first_name:
            user.first_name = first_name
        if last_name:
            user.last_name = last_name
        if password is not None:
            if validate:
                validate_password(password, user)
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.is_active = True
        # Seniors configure queues, routing and policies in the admin.
        user.is_staff = user.is_superuser or role == roles.SENIOR
        user.save()
        managed = set(roles.ROLES) | set(known)
        keep = [g for g in user.groups.all() if g.name not in managed]
        wanted = ([role] if role else []) + teams
        for team in teams:
            # A team a senior added may not have its group yet.
            Group.objects.get_or_create(name=team)
        groups = list(Group.objects.filter(name__in=wanted))
        user.groups.set(keep + groups)
    return user


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, user: AbstractBaseUser, name: str, scopes: Iterable[str]
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored or shown again."""
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in roles.SCOPES]
    if unknown or not scopes:
        raise ValidationError(
            {
                "scopes": f"unknown or missing scope(s) {', '.join(unknown) or '(none)'}; "
                f"valid: {', '.join(roles.SCOPES)}"
            }
        )
    if not name.strip():
        raise ValidationError({"name": "a key needs a name"})
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user, name=name.strip(), prefix=prefix, key_hash=_hash_secret(secret), scopes=scopes
    )
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Revoke a key (idempotent: an already revoked key keeps its revocation time)."""
    with transaction.atomic():
        # A model save (not a queryset update) so that the revocation lands in the key's history.
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at", "updated_at"])
    key.refresh_from_db()
    return key


@cache
def _key_lookup() -> tuple[prepared.Prepared, tuple, tuple]:
    """The statement that finds an active key by prefix with its user and the user's groups
    (names, ids), and the key's and user's fields in the order it answers them. Every API
    request runs it: it is planned once per connection."""
    user_model = get_user_model()
    key_fields = tuple(ApiKey._meta.concrete_fields)
    user_fields = tuple(user_model._meta.concrete_fields)
    memberships = user_model.groups.through._meta.db_table
    groups = (
        f"FROM {Group._meta.db_table} g JOIN {memberships} m ON m.group_id = g.id "
        "WHERE m.user_id = u.id ORDER BY g.id"
    )
    columns = ", ".join(
        [f'k."{f.column}"' for f in key_fields] + [f'u."{f.column}"' for f in user_fields]
    )
    # Table and column names come from the models, never from input.
    sql = (
        f"SELECT {columns}, ARRAY(SELECT g.name {groups}), ARRAY(SELECT g.id {groups}) "  # noqa: S608
        f"FROM {ApiKey._meta.db_table} k JOIN {user_model._meta.db_table} u "
        "ON u.id = k.user_id WHERE k.prefix = %(prefix)s AND k.revoked_at IS NULL"
    )
    return prepared.Prepared("api_key_lookup", sql), key_fields, user_fields


def api_key_authenticate(*, token: str) -> ApiKey | None:
    """The active key matching ``token`` (and mark it used), or None.

    One statement reads the key, its user and the user's groups: the role, team and scope
    checks that follow read the groups from the user object, which lives for this request
    only (a change of role or team applies from the next request)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    lookup, key_fields, user_fields = _key_lookup()
    with connection.cursor() as cursor:
        prepared.run(cursor, [lookup], {"prefix": parts[1]})
        row = cursor.fetchone()
    if row is None:
        return None
    key = instance_from_row(ApiKey, key_fields, row[: len(key_fields)])
    if not secrets.compare_digest(key.key_hash, _hash_secret(parts[2])):
        return None
    key.user = instance_from_row(
        get_user_model(), user_fields, row[len(key_fields) : len(key_fields) + len(user_fields)]
    )
    group_names, group_ids = row[-2:]
    groups_remember(key.user, dict(zip(group_names, group_ids, strict=True)))
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def heartbeat_record(*, worker: str) -> WorkerHeartbeat:
    """Record that ``worker`` is alive now."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        worker=worker[:200], defaults={"last_seen": timezone.now()}
    )
    return heartbeat


def preferences_update(*, actor, **values) -> UserPreference:
    """Save the member's own workspace preferences (only the fields given)."""
    fields = {f.name for f in UserPreference._meta.fields} - {"id", "user", "updated_at"}
    unknown = set(values) - fields
    if unknown:
        raise ValueError(f"Unknown preference: {', '.join(sorted(unknown))}")
    preference, _ = UserPreference.objects.get_or_create(user=actor)
    for name, value in values.items():
        setattr(preference, name, value)
    preference.full_clean(exclude=["user"])
    preference.save()
    actor._tsops_preferences = preference
    return preference


def notification_send(
    *, actor, recipients: Iterable, kind: str, title: str, body: str = "", link: str = ""
) -> list[Notification]:
    """Tell each recipient (a member or a member's id) once, except ``actor``: nobody is
    notified of their own action. ``actor`` is None for the system's own work (sweeps)."""
    actor_id = getattr(actor, "pk", None)
    seen: set[int] = {actor_id} if actor_id is not None else set()
    notes = []
    for recipient in recipients:
        user_id = getattr(recipient, "pk", recipient)
        if user_id is None or user_id in seen:
            continue
        seen.add(user_id)
        notes.append(
            Notification(user_id=user_id, kind=kind, title=title[:200], body=body, link=link)
        )
    return Notification.objects.bulk_create(notes)


def notifications_mark_all_read(*, actor) -> int:
    """Mark every unread notification of the actor's read; how many were."""
    return Notification.objects.filter(user=actor, read_at__isnull=True).update(
        read_at=timezone.now()
    )
