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

from tsops.history import history_fields, history_insert_sql, history_snapshot


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
        ``order_by`` order. Its parameters: ``user``, ``now``, ``lease`` and ``open_status`` /
        ``claimed_status`` (filled by :meth:`claim_next`), plus the caller's own.

        The claimed row is the CTE ``claimed`` (the columns history keeps, as they are after
        the claim). The same statement writes its history row, and ``also`` adds the
        caller's own writes (name → ``INSERT … SELECT … FROM claimed``), so the claim and what
        it records are one round trip that cannot half happen. ``result`` is what the
        statement answers (its first column must be the id)."""
        extra = f", {self.claim_extra_set}" if self.claim_extra_set else ""
        returning = ", ".join(f't."{f.column}"' for f in history_fields(self.model))
        writes = {"history": history_insert_sql(self.model, "claimed", named=True), **(also or {})}
        ctes = "".join(f",\n{name} AS (\n    {sql}\n)" for name, sql in writes.items())
        # Table names and fragments come from code, never from input.
        return f"""
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
        (in the caller's transaction)."""
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                {
                    **params,
                    "user": actor.pk,
                    "now": now,
                    "lease": now + self.lease,
                    "open_status": self.open_status,
                    "claimed_status": self.claimed_status,
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
        self, *, now: datetime, scope: str = "", params: dict | None = None
    ) -> list[tuple[int, int | None]]:
        """Put items whose lease ran out (``scope``: an extra SQL condition on ``t``) back to
        their open status; returns ``(id, previous claimant)`` per item. Rows another
        transaction holds are skipped, to be expired by the next run."""
        condition = f" AND ({scope})" if scope else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH expired AS (SELECT t.id, t.claimed_by_id FROM {self.table} t "  # noqa: S608
                f"WHERE t.status = %(claimed_status)s AND t.lease_expires_at < %(now)s"
                f"{condition} FOR UPDATE SKIP LOCKED) "
                f"UPDATE {self.table} t SET status = %(open_status)s, claimed_by_id = NULL, "
                "claimed_at = NULL, lease_expires_at = NULL, version = t.version + 1, "
                "updated_at = %(now)s FROM expired WHERE t.id = expired.id "
                "RETURNING t.id, expired.claimed_by_id",
                {
                    **(params or {}),
                    "now": now,
                    "open_status": self.open_status,
                    "claimed_status": self.claimed_status,
                },
            )
            rows = cursor.fetchall()
        history_snapshot(
            self.model, [r[0] for r in rows], history_type="~", reason="claim lease expired"
        )
        return [(r[0], r[1]) for r in rows]
