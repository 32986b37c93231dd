"""Set-based loading of accounts and their identifier links for ``python -m bench.above``.

Account ``g`` (``bench-acct-<g>``) gets a case in the general queue (so an analyst may see it)
and about five identifier links, laid out so that any prefix [0, n) of the accounts has the
same local shape:

- a personal device and a personal e-mail (linked to nobody, except one account in twenty
  that reuses its neighbour's e-mail);
- a device-model hash shared by the 300 consecutive accounts of its block (a hub);
- an IP shared by pairs (a household), and one account in fifty also on one of five office
  IPs (hubs shared by thousands at 1M accounts, by forty at 10k);
- a phone, shared by pairs for one account in ten;
- one block of 32 accounts in ten holds a ring: its first 3–30 accounts share a ring device
  and a payment instrument (rings over the hub limit become hubs themselves).

Each chunk is a few ``INSERT … SELECT FROM generate_series`` statements; nothing is looped in
Python per row.
"""

from __future__ import annotations

import sys
import time

from django.db import connection

CHUNK = 100_000
RING_BLOCK = 32

# The identifier values of account g (NULL = none), as SQL over the series column ``g``.
_IN_RING = (
    f"((g / {RING_BLOCK}) % 10 = 0 AND g % {RING_BLOCK} < 3 + ((g / {RING_BLOCK}) * 7919) % 28)"
)
_VALUES = f"""
    ('device', 'dev-' || g),
    ('device', 'model-' || (g / 300)),
    ('email', 'mail-' || CASE WHEN g % 20 = 1 THEN g - 1 ELSE g END),
    ('ip', 'ip-' || (g / 2)),
    ('ip', CASE WHEN g % 50 = 3 THEN 'office-ip-' || ((g / 50) % 5) END),
    ('phone', 'ph-' || CASE WHEN g % 10 < 2 THEN g / 2 * 2 ELSE g END),
    ('device', CASE WHEN {_IN_RING} THEN 'ring-dev-' || (g / {RING_BLOCK}) END),
    ('payment', CASE WHEN {_IN_RING} THEN 'ring-pay-' || (g / {RING_BLOCK}) END)
"""


def ring_member(g: int) -> bool:
    """Whether account g is in a ring (the same rule as the SQL above)."""
    block = g // RING_BLOCK
    return block % 10 == 0 and g % RING_BLOCK < 3 + (block * 7919) % 28


def load_accounts(start: int, stop: int) -> None:
    """Add accounts numbered [start, stop) with one case each and their identifier links."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM cases_queue WHERE slug = 'general'")
        queue = cursor.fetchone()[0]
    total, began = stop - start, time.monotonic()
    for low in range(start, stop, CHUNK):
        high = min(low + CHUNK, stop)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO cases_subject (kind, external_id, snapshot_text, snapshot_url, "
                "snapshot_media, created_at, updated_at) "
                "SELECT 'account', 'bench-acct-' || g, '', '', '[]'::jsonb, now(), now() "
                "FROM generate_series(%s::bigint, %s::bigint - 1) g",
                [low, high],
            )
            cursor.execute(
                "INSERT INTO cases_case (subject_id, status, severity, queue_id, reason, "
                "restricted, team, tags, report_count, automated_count, human_count, "
                "first_action_due, resolve_due, reopen_count, version, created_at, updated_at, "
                "resolved_at) "
                "SELECT s.id, CASE WHEN g %% 10 < 3 THEN 'new' ELSE 'resolved' END, 3, %s, "
                "'spam', false, '', '{}', 1, 0, 1, now() + interval '8 hours', "
                "now() + interval '24 hours', 0, 1, now() - (g %% 400) * interval '1 day', now(), "
                "CASE WHEN g %% 10 < 3 THEN NULL ELSE now() END "
                "FROM generate_series(%s::bigint, %s::bigint - 1) g "
                "JOIN cases_subject s ON s.kind = 'account' AND s.external_id = 'bench-acct-' || g",
                [queue, low, high],
            )
            cursor.execute(
                "INSERT INTO cases_identifier (account_id, kind, value_hash, masked, last_seen, "  # noqa: S608 - the fixed value list above
                "created_at, updated_at) "
                "SELECT s.id, v.kind, md5(v.kind || ':' || v.value), left(v.value, 3) || '…', "
                "now() - (g %% 30) * interval '1 day', "
                "now() - (30 + g %% 400) * interval '1 day', now() "
                "FROM generate_series(%s::bigint, %s::bigint - 1) g "
                "JOIN cases_subject s ON s.kind = 'account' AND s.external_id = 'bench-acct-' || g "
                f"CROSS JOIN LATERAL (VALUES {_VALUES.replace('%', '%%')}) AS v(kind, value) "
                "WHERE v.value IS NOT NULL",
                [low, high],
            )
        done = high - start
        rate = done / max(time.monotonic() - began, 1e-6)
        sys.stderr.write(
            f"\r  loading accounts {done:>9,}/{total:,} ({done / total:4.0%}, {rate:,.0f}/s)"
        )
        sys.stderr.flush()
    sys.stderr.write("\n")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_subject")
        cursor.execute("ANALYZE cases_case")
        cursor.execute("ANALYZE cases_identifier")


def counts() -> dict:
    """How many accounts and identifier links the scratch database holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM cases_subject WHERE kind = 'account'")
        accounts = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM cases_identifier")
        links = cursor.fetchone()[0]
    return {"accounts": accounts, "identifier_links": links}
