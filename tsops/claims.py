"""Claiming work with a lease: one mechanism for cases, appeals and QA reviews.

A work item is claimed by one statement, an ``UPDATE`` over a CTE that locks the first
candidate with ``FOR UPDATE SKIP LOCKED``, so two claimers can never get the same item (a
claimer passes over a row another is taking). A claim carries a lease; a lease that runs out
puts the item back to its open status, and that expiry behaves the same for every kind of
work: the claim is cleared, the version is bumped (an editor holding the old version gets a
conflict), a history row names the claimant who lost it, and the caller may add its own
timeline entry from the returned ``(id, previous claimant)`` pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, models
from django.utils import timezone

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
        # Table names and fragments come from code, never from input.
        return f"""
WITH due AS (
    SELECT t.id, t.claimed_by_id FROM {self.table} t
    WHERE t.status = %(claimed_status)s AND t.lease_expires_at < %(now)s{condition}
    FOR UPDATE SKIP LOCKED
),
expired AS (
    UPDATE {self.table} AS t
    SET status = %(open_status)s, claimed_by_id = NULL, claimed_at = NULL,
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
            "open_status": self.open_status,
            "claimed_status": self.claimed_status,
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
        expire: str | None = None,
        expire_also: Mapping[str, str] | None = None,
    ) -> str:
        """The claim statement for candidates ``t`` (with ``joins``) matching ``where``, taken in
        ``order_by`` order. Its parameters: ``user``, ``now``, ``lease`` and ``open_status`` /
        ``claimed_status`` (filled by :meth:`claim_next`), plus the caller's own.

        The claimed row is the CTE ``claimed`` (the columns history keeps, as they are after
        the claim). The same statement writes its history row, and ``also`` adds the
        caller's own writes (name → ``INSERT … SELECT … FROM claimed``), so the claim and what
        it records are one round trip that cannot half happen. ``result`` is what the
        statement answers (its first column must be the id).

        With ``expire`` (a :meth:`expire_sql` scope, "" for every item; ``expire_also`` its
        own writes) the lease expiry of that scope runs first, in the same round trip: the two
        statements are sent as one query string, which PostgreSQL runs as one transaction
        (or inside the caller's), so a lease that ran out is handed out again by this claim
        and the claim needs no transaction of its own."""
        extra = f", {self.claim_extra_set}" if self.claim_extra_set else ""
        returning = ", ".join(f't."{f.column}"' for f in history_fields(self.model))
        writes = {"history": history_insert_sql(self.model, "claimed", named=True), **(also or {})}
        ctes = "".join(f",\n{name} AS (\n    {sql}\n)" for name, sql in writes.items())
        expiry = (
            ""
            if expire is None
            else self.expire_sql(scope=expire, also=expire_also, result="SELECT 1") + ";"
        )
        # Table names and fragments come from code, never from input.
        return f"""{expiry}
WITH next_item AS (
    SELECT t.id FROM {self.table} t {joins}
    WHERE t.status = %(open_status)s AND ({where})
    ORDER BY {order_by}
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
),
claimed AS (
    UPDATE {self.table} AS t
    SET status = %(claimed_status)s, claimed_by_id = %(user)s, claimed_at = %(now)s,
        lease_expires_at = %(lease)s, version = t.version + 1, updated_at = %(now)s{extra}
    FROM next_item WHERE t.id = next_item.id
    RETURNING {returning}
){ctes}
{result}
"""  # noqa: S608

    def claim_row(self, *, sql: str, actor, now: datetime, params: dict) -> tuple | None:
        """Run a statement built by :meth:`claim_sql` for ``actor``: its ``result`` row, or
        None when nothing was claimed. The history row is written by the statement itself
        (in the caller's transaction, or in the statement's own when there is none)."""
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                {
                    **params,
                    **self.expire_params(now),
                    "user": actor.pk,
                    "lease": now + self.lease,
                    # The application's clock as the statement runs, as history_snapshot
                    # dates rows (after the lease expiry the caller ran just before).
                    "history_date": timezone.now(),
                    "history_type": "~",
                    "history_user": actor.pk,
                    "history_reason": "claimed",
                },
            )
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
