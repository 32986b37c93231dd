"""History rows (django-simple-history) for rows changed by set-based SQL.

The ORM writes a history row on every ``save()``; an ``UPDATE … RETURNING`` does not, so the
writers that stay SQL for speed (claims, lease expiry, intake, the SLA sweep) copy the
changed rows into their history table with one ``INSERT … SELECT``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache

from django.db import connection, models
from django.utils import timezone

# Columns history never copies (derived search data, not part of what changed).
_SKIPPED_COLUMNS = frozenset({"search_document"})


@cache
def history_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The model's fields its history rows copy, in table order."""
    historical_columns = {f.column for f in model.history.model._meta.concrete_fields}
    return tuple(
        f
        for f in model._meta.concrete_fields
        if f.column not in _SKIPPED_COLUMNS and f.column in historical_columns
    )


@cache
def history_insert_sql(
    model: type[models.Model], source: str, *, named: bool = False, prefix: str = ""
) -> str:
    """``INSERT INTO <model's history table> … SELECT … FROM <source>``: one history row per
    row of ``source`` (the model's table, or a CTE of the caller's statement returning the
    :func:`history_fields` columns as they are now, e.g. ``UPDATE … RETURNING``), with four
    parameters: date, type, user id, change reason — positional, or with ``named`` the
    statement's ``history_date``, ``history_type``, ``history_user`` and ``history_reason``
    (each name after ``prefix``, so one statement can write two kinds of history row)."""
    column_list = ", ".join(f'"{f.column}"' for f in history_fields(model))
    values = (
        ", ".join(f"%({prefix}history_{name})s" for name in ("date", "type", "user", "reason"))
        if named
        else "%s, %s, %s, %s"
    )
    # Table and column names come from the models or the caller's code, never from input.
    return (
        f"INSERT INTO {model.history.model._meta.db_table} ({column_list}, "  # noqa: S608
        "history_date, history_type, history_user_id, history_change_reason) "
        f"SELECT {column_list}, {values} FROM {source}"
    )


def _history_sql(model: type[models.Model]) -> str:
    return history_insert_sql(model, model._meta.db_table) + " WHERE id = ANY(%s)"


def history_snapshot(
    model: type[models.Model],
    ids: Iterable[int],
    *,
    history_type: str,
    actor=None,
    reason: str = "",
    at: datetime | None = None,
) -> None:
    """One history row per id of ``model`` as the row is now (``+`` created, ``~`` changed),
    dated ``at`` (default: the application's clock, as the ORM's history rows are)."""
    ids = list(ids)
    if not ids:
        return
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    with connection.cursor() as cursor:
        cursor.execute(
            _history_sql(model),
            [at or timezone.now(), history_type, actor_id, reason or None, ids],
        )
