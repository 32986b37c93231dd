"""The SLA sweep: "due soon" warnings and breaches of case deadlines, each exactly once.

Every minute (``cases.tasks.case_sla_sweep``) open cases are checked against their two
stamped deadlines: the first action (while none was taken) and the resolution (while
unresolved). A deadline is *due soon* once 80% of the time from the case's creation to it
has passed (:meth:`cases.models.Case.is_due_soon`, the rule the pages use too) and
*breached* once it has passed (:meth:`cases.models.Case.is_breached`). The sweep adds what
needs a clock; the pages never depend on it.

- Warning: ``<deadline>_warned_at`` stamped and a ``CASE_SLA_WARNED`` timeline event.
- Breach: ``<deadline>_breached_at`` stamped, ``priority`` raised by one (the claim order
  puts it ahead of on-time work of the same severity), a ``CASE_SLA_BREACHED`` timeline
  event, a history row, and one in-app notification to each senior who may see the case
  (for a restricted case only the seniors of its team, or its members if it has no senior).
- Both touch ``updated_at`` (incremental rollups find changed cases by it) but not
  ``version``: an analyst's open edit form stays valid.

Exactly once, even when two sweeps run at the same moment: each effect is one conditional
``UPDATE … WHERE <stamp> IS NULL … RETURNING`` over rows locked with ``SKIP LOCKED``, and
only the transaction whose UPDATE returned a row writes its events and notifications. A
transaction-level advisory lock makes a second sweep skip instead of competing. Each batch
is its own short transaction with a local statement timeout, so the sweep never holds locks
that claiming or deciding would wait for. Re-stamping the deadlines (``case_update``)
clears the stamps, so new deadlines get their own warning and breach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from cases.models import WARNING_FRACTION, Case, CaseEvent, Queue, severity_code
from cases.routing import deadlines_for
from cases.timeline import EventKind
from cases.visibility import can_work_queue
from tsops import roles
from tsops.history import history_snapshot
from tsops.models import Notification
from tsops.permissions import teams_of

BATCH = 1000
STATEMENT_TIMEOUT = "5s"
# Two sweeps never run their batches at the same time: the second one skips.
LOCK_NAME = "cases.case_sla_sweep"
NOTIFICATION_KIND = "case_sla_breached"


@dataclass(frozen=True)
class Deadline:
    """One of a case's two deadlines and the columns the sweep stamps for it."""

    name: str
    label: str
    due: str
    warned: str
    breached: str
    # Extra condition for the deadline to be pending (beyond the case being open).
    pending: str


FIRST_ACTION = Deadline(
    name="first_action",
    label="first action",
    due="first_action_due",
    warned="first_action_warned_at",
    breached="first_action_breached_at",
    pending="first_action_at IS NULL",
)
RESOLVE = Deadline(
    name="resolve",
    label="resolution",
    due="resolve_due",
    warned="resolve_warned_at",
    breached="resolve_breached_at",
    pending="TRUE",
)
DEADLINES = (FIRST_ACTION, RESOLVE)


def deadlines_restamp(case: Case, now: datetime) -> None:
    """Stamp a case's deadlines again from ``now`` at its severity (re-prioritised or reopened):
    the new deadlines get their own warning and breach, from normal priority. The caller
    saves the case."""
    case.first_action_due, case.resolve_due = deadlines_for(case.queue, case.severity, now)
    case.first_action_warned_at = case.first_action_breached_at = None
    case.resolve_warned_at = case.resolve_breached_at = None
    case.priority = 0


def _warning_point(due: str) -> str:
    # The same expression as cases.models.WarningPoint, so the partial indexes
    # case_first_action_sla / case_resolve_sla serve these scans.
    return (
        f"(((created_at AT TIME ZONE 'UTC') + (({due} AT TIME ZONE 'UTC') - "
        f"(created_at AT TIME ZONE 'UTC')) * {WARNING_FRACTION}) AT TIME ZONE 'UTC')"
    )


def _scan(deadline: Deadline, extra: str) -> str:
    """Lock up to a batch of open cases with ``deadline`` pending, not yet marked breached,
    past its warning point, and matching ``extra``; rows another transaction holds are left
    for the next run."""
    point = _warning_point(deadline.due)
    # Column names and conditions come from the Deadline constants above, never from input.
    return (
        "SELECT id FROM cases_case "  # noqa: S608
        f"WHERE NOT (status = 'resolved') AND {deadline.pending} "
        f"AND {deadline.breached} IS NULL AND {point} <= %(now)s AND {extra} "
        f"ORDER BY {point} LIMIT %(batch)s FOR UPDATE SKIP LOCKED"
    )


def _warn_sql(deadline: Deadline) -> str:
    scan = _scan(deadline, f"{deadline.warned} IS NULL AND {deadline.due} >= %(now)s")
    return (
        f"WITH due AS ({scan}) "  # noqa: S608 - identifiers from the Deadline constants
        f"UPDATE cases_case c SET {deadline.warned} = %(now)s, updated_at = %(now)s FROM due "
        f"WHERE c.id = due.id AND c.{deadline.warned} IS NULL RETURNING c.id, c.{deadline.due}"
    )


def _breach_sql(deadline: Deadline) -> str:
    return (
        f"WITH due AS ({_scan(deadline, f'{deadline.due} < %(now)s')}) "  # noqa: S608
        f"UPDATE cases_case c SET {deadline.breached} = %(now)s, priority = c.priority + 1, "
        f"updated_at = %(now)s FROM due WHERE c.id = due.id AND c.{deadline.breached} IS NULL "
        f"RETURNING c.id, c.{deadline.due}, c.priority, c.queue_id, c.severity, "
        "c.restricted, c.team"
    )


@dataclass
class SweepResult:
    """What one sweep did; ``skipped`` when another sweep held the lock."""

    warned: dict[str, int] = field(default_factory=lambda: {d.name: 0 for d in DEADLINES})
    breached: dict[str, int] = field(default_factory=lambda: {d.name: 0 for d in DEADLINES})
    notifications: int = 0
    skipped: bool = False

    def as_dict(self) -> dict:
        return {
            "warned": dict(self.warned),
            "breached": dict(self.breached),
            "notifications": self.notifications,
            "skipped": self.skipped,
        }


def _begin_batch(cursor) -> bool:
    """Inside a new transaction: take the sweep's lock (False if another sweep holds it) and
    bound every statement of the batch."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [LOCK_NAME])
    if not cursor.fetchone()[0]:
        return False
    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [STATEMENT_TIMEOUT])
    return True


def case_sla_sweep(*, now: datetime | None = None, batch: int = BATCH) -> SweepResult:
    """Record due-soon warnings and mark breaches (see the module docstring); safe to run
    concurrently and repeatedly: each warning, breach and notification happens once."""
    now = now or timezone.now()
    result = SweepResult()
    for deadline in DEADLINES:
        for mark in (_mark_warnings, _mark_breaches):
            while True:
                with transaction.atomic(), connection.cursor() as cursor:
                    if not _begin_batch(cursor):
                        result.skipped = True
                        return result
                    done = mark(cursor, deadline, now, batch, result)
                if done < batch:
                    break
    return result


def _mark_warnings(cursor, deadline: Deadline, now: datetime, batch: int, result) -> int:
    """One batch of warnings, inside the caller's transaction; returns how many."""
    cursor.execute(_warn_sql(deadline), {"now": now, "batch": batch})
    rows = cursor.fetchall()
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case_id=case_id,
            kind=EventKind.CASE_SLA_WARNED,
            at=now,
            data={"deadline": deadline.name, "due": due.isoformat()},
        )
        for case_id, due in rows
    )
    result.warned[deadline.name] += len(rows)
    return len(rows)


def _mark_breaches(cursor, deadline: Deadline, now: datetime, batch: int, result) -> int:
    """One batch of breaches, inside the caller's transaction; returns how many."""
    cursor.execute(_breach_sql(deadline), {"now": now, "batch": batch})
    rows = cursor.fetchall()
    if not rows:
        return 0
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case_id=row[0],
            kind=EventKind.CASE_SLA_BREACHED,
            at=now,
            data={"deadline": deadline.name, "due": row[1].isoformat(), "priority": row[2]},
        )
        for row in rows
    )
    history_snapshot(
        Case, [row[0] for row in rows], history_type="~", reason=f"SLA breached: {deadline.label}"
    )
    result.notifications += _notify_seniors(rows, deadline)
    result.breached[deadline.name] += len(rows)
    return len(rows)


def seniors_to_notify(seniors, *, queue: Queue, restricted: bool, team: str) -> list:
    """The seniors told about a breach: for a restricted case (or a team's queue) only the
    seniors of that team; otherwise the seniors who may work the case's queue."""
    if restricted or queue.team:
        owner = team if restricted else queue.team
        return [user for user in seniors if owner and owner in teams_of(user)]
    return [user for user in seniors if can_work_queue(user, queue)]


def _notify_seniors(rows, deadline: Deadline) -> int:
    """One notification per breached case and senior (the caller's UPDATE returned each case
    to this transaction only, so no other sweep notifies it)."""
    users = get_user_model().objects.filter(is_active=True)
    seniors = list(users.filter(groups__name=roles.SENIOR).distinct())
    members: dict[str, list] = {}
    queues = Queue.objects.in_bulk({row[3] for row in rows})
    notes = []
    for case_id, due, _priority, queue_id, severity, restricted, team in rows:
        queue = queues[queue_id]
        recipients = seniors_to_notify(seniors, queue=queue, restricted=restricted, team=team)
        owner = team if restricted else queue.team
        if not recipients and owner:
            # A specialist team without a senior of its own: its members are told instead,
            # rather than nobody (nobody outside the team may see the case).
            if owner not in members:
                members[owner] = list(users.filter(groups__name=owner).distinct())
            recipients = members[owner]
        title = (
            f"Case #{case_id} ({severity_code(severity)}) breached its {deadline.label} deadline"
        )
        body = f"{queue.name}: {deadline.label} was due {timezone.localtime(due):%Y-%m-%d %H:%M}."
        link = reverse("cases:case-detail", args=[case_id])
        notes.extend(
            Notification(user=user, kind=NOTIFICATION_KIND, title=title, body=body, link=link)
            for user in recipients
        )
    Notification.objects.bulk_create(notes)
    return len(notes)


# --- Breached and due within: the one rule the pages count by -------------------------------

# What the queue list and live operations call "due within 1 h".
DUE_WITHIN = timedelta(hours=1)


def _pending_deadline_before(moment: datetime) -> Q:
    """A pending deadline of an open case falls before ``moment`` (see
    :meth:`cases.models.Case.pending_deadlines`)."""
    return ~Q(status=Case.Status.RESOLVED) & (
        Q(resolve_due__lt=moment) | Q(first_action_at__isnull=True, first_action_due__lt=moment)
    )


def breached_q(now: datetime | None = None) -> Q:
    """Open cases past a pending deadline, from the stamped deadlines (right whether or not
    the sweep has run): :meth:`cases.models.Case.is_breached` in SQL."""
    return _pending_deadline_before(now or timezone.now())


def due_within_q(now: datetime, within: timedelta = DUE_WITHIN) -> Q:
    """Open cases not yet breached with a pending deadline — the first action's included —
    before ``now + within``: :meth:`cases.models.Case.is_due_within` in SQL."""
    return ~_pending_deadline_before(now) & _pending_deadline_before(now + within)
