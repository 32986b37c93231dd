"""Claiming work with a lease: one mechanism for cases, appeals and QA reviews.

A work item is claimed by one statement, an ``UPDATE`` over a CTE that locks the first
candidate with ``FOR UPDATE SKIP LOCKED``, so two claimers can never get the same item (a
claimer passes over a row another is taking). A claim carries a lease; a lease that runs out
puts the item back to its open status, and that expiry behaves the same for every kind of
work: the claim is cleared, the version is bumped (an editor holding the old version gets a
conflict), a history row names the claimant who lost it, and the caller may add its own
timeline entry (in the statement, or from the returned ``(id, previous claimant)`` pairs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, models
from django.utils import timezone

from tsops import prepared
from tsops.history import history_fields, history_insert_sql


@dataclass(frozen=True)
class LeasedWork:
    """A table of items claimed with a lease. ``open_status`` items wait in their queue;
    ``claimed_status`` items are held by ``claimed_by`` until ``lease_expires_at``."""

    model: type[models.Model]
    lease: timedelta
    open_status: str = "new"
    claimed_status: str = "in_review"
    # Extra ``SET`` assignments of the claim statement, e.g. the first-claim stamp of cases.
    claim_extra_set: str = ""

    def __post_init__(self):
        # The statuses are written into the statements, so that a prepared statement's plan
        # can use the partial indexes on them: the code's constants, never input.
        for status in (self.open_status, self.claimed_status):
            if not re.fullmatch(r"[a-z_]+", status):
                raise ValueError(f"Not a status: {status!r}")

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def expire_sql(
        self,
        *,
        scope: str = "",
        also: Mapping[str, str] | None = None,
        result: str = "SELECT expired.id, expired.previous_claimant FROM expired",
    ) -> str:
        """The lease expiry statement: items whose lease ran out before ``now`` (``scope``: an
        extra SQL condition on ``t``) back to their open status. Rows another transaction
        holds are skipped, to be expired by the next run.

        The expired rows are the CTE ``expired`` (the columns history keeps, as they are after
        the expiry, and ``previous_claimant``). The statement writes their history rows (no
        user, reason "claim lease expired", from the ``expire_``-prefixed parameters of
        :meth:`expire_params`), and ``also`` adds the caller's own writes (name → ``INSERT …
        SELECT … FROM expired``, e.g. timeline entries). ``result`` is what it answers."""
        condition = f" AND ({scope})" if scope else ""
        returning = ", ".join(f't."{f.column}"' for f in history_fields(self.model))
        writes = {
            "expired_history": history_insert_sql(
                self.model, "expired", named=True, prefix="expire_"
            ),
            **(also or {}),
        }
        ctes = "".join(f",\n{name} AS (\n    {sql}\n)" for name, sql in writes.items())
        # Table names, statuses and fragments come from code, never from input.
        return f"""
WITH due AS (
    SELECT t.id, t.claimed_by_id FROM {self.table} t
    WHERE t.status = '{self.claimed_status}' AND t.lease_expires_at < %(now)s{condition}
    FOR UPDATE SKIP LOCKED
),
expired AS (
    UPDATE {self.table} AS t
    SET status = '{self.open_status}', claimed_by_id = NULL, claimed_at = NULL,
        lease_expires_at = NULL, version = t.version + 1, updated_at = %(now)s
    FROM due WHERE t.id = due.id
    RETURNING {returning}, due.claimed_by_id AS previous_claimant
){ctes}
{result}
"""  # noqa: S608

    def expire_params(self, now: datetime) -> dict:
        """The parameters :meth:`expire_sql` needs besides the caller's own."""
        return {
            "now": now,
            # The application's clock as the statement runs, as history_snapshot dates rows.
            "expire_history_date": timezone.now(),
            "expire_history_type": "~",
            "expire_history_user": None,
            "expire_history_reason": "claim lease expired",
        }

    def claim_sql(
        self,
        *,
        joins: str = "",
        where: str = "TRUE",
        order_by: str,
        also: Mapping[str, str] | None = None,
        result: str = "SELECT claimed.id FROM claimed",
    ) -> str:
        """The claim statement for candidates ``t`` (with ``joins``) matching ``where``, taken in
        ``order_by`` order. Its parameters: ``user``, ``now`` and ``lease`` (filled by
        :meth:`claim_row`), plus the caller's own.

        The claimed row is the CTE ``claimed`` (the columns history keeps, as they are after
        the claim). The same statement writes its history row, and ``also`` adds the
        caller's own writes (name → ``INSERT … SELECT … FROM claimed``), so the claim and what
        it records are one round trip that cannot half happen. ``result`` is what the
        statement answers (its first column must be the id)."""
        extra = f", {self.claim_extra_set}" if self.claim_extra_set else ""
        returning = ", ".join(f't."{f.column}"' for f in history_fields(self.model))
        writes = {"history": history_insert_sql(self.model, "claimed", named=True), **(also or {})}
        ctes = "".join(f",\n{name} AS (\n    {sql}\n)" for name, sql in writes.items())
        # Table names, statuses and fragments come from code, never from input.
        return f"""
WITH next_item AS (
    SELECT t.id FROM {self.table} t {joins}
    WHERE t.status = '{self.open_status}' AND ({where})
    ORDER BY {order_by}
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
),
claimed AS (
    UPDATE {self.table} AS t
    SET status = '{self.claimed_status}', claimed_by_id = %(user)s, claimed_at = %(now)s,
        lease_expires_at = %(lease)s, version = t.version + 1, updated_at = %(now)s{extra}
    FROM next_item WHERE t.id = next_item.id
    RETURNING {returning}
){ctes}
{result}
"""  # noqa: S608

    def claim_statements(
        self, name: str, *, expire: str, expire_also: Mapping[str, str] | None = None, **claim
    ) -> tuple[prepared.Prepared, prepared.Prepared]:
        """A hot path's claim as two prepared statements (``name``: their prefix) that
        :meth:`claim_row` sends as one query string: the lease expiry of ``expire`` (an
        :meth:`expire_sql` scope whose best plan does not depend on its parameters' values;
        ``expire_also``: its own writes), then the claim (``claim``: :meth:`claim_sql`'s
        arguments). PostgreSQL runs the two as one transaction (or inside the caller's), so
        a lease that ran out is handed out again by this claim, which needs no transaction
        of its own, and after a connection's first claims no planning."""
        return (
            prepared.Prepared(
                f"{name}_expire", self.expire_sql(scope=expire, also=expire_also, result="SELECT 1")
            ),
            prepared.Prepared(f"{name}_claim", self.claim_sql(**claim)),
        )

    def claim_row(
        self, *, sql: str | Sequence[prepared.Prepared], actor, now: datetime, params: dict
    ) -> tuple | None:
        """Run a statement built by :meth:`claim_sql` (or the statements of
        :meth:`claim_statements`) for ``actor``: its ``result`` row, or None when nothing was
        claimed. The history rows are written by the statements themselves (in the caller's
        transaction, or in the query string's own when there is none)."""
        values = {
            **params,
            **self.expire_params(now),
            "user": actor.pk,
            "lease": now + self.lease,
            # The application's clock as the statement runs, as history_snapshot dates rows
            # (after the lease expiry the caller ran just before).
            "history_date": timezone.now(),
            "history_type": "~",
            "history_user": actor.pk,
            "history_reason": "claimed",
        }
        with connection.cursor() as cursor:
            if isinstance(sql, str):
                cursor.execute(sql, values)
            else:
                prepared.run(cursor, sql, values)
            return cursor.fetchone()

    def claim_next(self, *, sql: str, actor, now: datetime, params: dict) -> int | None:
        """Run a statement built by :meth:`claim_sql` for ``actor``; the claimed id or None."""
        row = self.claim_row(sql=sql, actor=actor, now=now, params=params)
        return None if row is None else row[0]

    def expire_leases(
        self,
        *,
        now: datetime,
        scope: str = "",
        params: dict | None = None,
        also: Mapping[str, str] | None = None,
    ) -> list[tuple[int, int | None]]:
        """Put items whose lease ran out (``scope``: an extra SQL condition on ``t``) back to
        their open status, with their history rows (and ``also``: see :meth:`expire_sql`);
        returns ``(id, previous claimant)`` per item."""
        with connection.cursor() as cursor:
            cursor.execute(
                self.expire_sql(scope=scope, also=also),
                {**(params or {}), **self.expire_params(now)},
            )
            return [(r[0], r[1]) for r in cursor.fetchall()]
