"""Statements PostgreSQL plans once per connection: ``PREPARE`` once, ``EXECUTE`` after.

The hot paths' hand-written statements (the claim, the API key lookup) are small to run
and dear to plan: planning the claim statement, with its CTEs for the history row, the
timeline entry and the access-log entry, took as long as running it. A :class:`Prepared`
statement is sent as ``PREPARE name AS …`` the first time a database connection runs it
(in the same query string as its first ``EXECUTE``, so still one round trip), and as
``EXECUTE name(…)`` from then on; PostgreSQL reuses its plan (after five runs, a generic
plan when that costs no more than the custom ones, so a statement whose best plan depends
on a parameter's value must not be prepared).

Prepared statements belong to a PostgreSQL session, and ``PREPARE`` is not undone by a
rollback; which names a connection holds is remembered per raw connection (a reconnect
starts again). When a query string holding a ``PREPARE`` fails, whether the ``PREPARE``
ran is unknown, so the connection's remembered names are dropped and read back from
``pg_prepared_statements`` before the next use. Not for a transaction-pooling proxy
(PgBouncer's transaction mode) between the application and PostgreSQL, which this
deployment does not use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from django.db import connection as default_connection

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_STATE = "_tsops_prepared"
_POSITIONAL = re.compile(r"%%|%s")
# At most this many statements a connection prepares by their text (:func:`execute`); past it
# a new text runs as it is, so a statement whose text varied would not grow a session for ever.
TEXT_LIMIT = 100


class Prepared:
    """``sql`` (named ``%(…)s`` parameters, ``%%`` for a literal percent sign) as the
    prepared statement ``name`` (unique in the application)."""

    def __init__(self, name: str, sql: str):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"Not a statement name: {name!r}")
        self.name = name
        self.parameters: tuple[str, ...] = tuple(dict.fromkeys(_PLACEHOLDER.findall(sql)))
        positions = {parameter: i + 1 for i, parameter in enumerate(self.parameters)}
        body = _PLACEHOLDER.sub(lambda m: f"${positions[m.group(1)]}", sql).replace("%%", "%")
        # Literal percent signs go through the driver's interpolation of the PREPARE string.
        self.prepare_sql = f"PREPARE {name} AS {body.strip()}".replace("%", "%%")
        arguments = ", ".join(f"%({parameter})s" for parameter in self.parameters)
        self.execute_sql = f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}"


def run(
    cursor, statements: Sequence[Prepared], params: Mapping[str, object], *, connection=None
) -> None:
    """Run ``statements`` one after another as one query string (PostgreSQL runs a query
    string as one transaction when no transaction is open), preparing those this connection
    has not prepared yet; the cursor holds the last statement's answer."""
    connection = connection or default_connection
    held = _names(cursor, connection)
    missing = [s for s in statements if s.name not in held]
    sql = "; ".join([*(s.prepare_sql for s in missing), *(s.execute_sql for s in statements)])
    try:
        cursor.execute(sql, params)
    except Exception:
        if missing:
            _forget(connection)
        raise
    held.update(s.name for s in missing)


def execute(cursor, statements: Sequence[tuple[str, Sequence]], *, connection=None) -> None:
    """Run ``statements`` (SQL with positional ``%s`` parameters, and their values) as one
    query string, each prepared under a name made from its text the first time a connection
    runs it (the writers whose statements are built per call: the same text, the same
    plan). The cursor holds the last statement's answer."""
    connection = connection or default_connection
    held = _names(cursor, connection)
    prepares, executes, values, missing = [], [], [], []
    for sql, params in statements:
        params = list(params)
        name = "t_" + hashlib.blake2b(sql.encode(), digest_size=12).hexdigest()
        if name not in held and len(held) + len(missing) >= TEXT_LIMIT:
            executes.append(sql)
            values += params
            continue
        if name not in held and name not in missing:
            prepares.append(f"PREPARE {name} AS {_numbered(sql, len(params))}".replace("%", "%%"))
            missing.append(name)
        arguments = ", ".join(["%s"] * len(params))
        executes.append(f"EXECUTE {name}({arguments})" if params else f"EXECUTE {name}")
        values += params
    try:
        cursor.execute("; ".join([*prepares, *executes]), values)
    except Exception:
        if missing:
            _forget(connection)
        raise
    held.update(missing)


def _numbered(sql: str, count: int) -> str:
    """``sql`` with its ``%s`` as ``$1``, ``$2``… and ``%%`` as ``%``."""
    numbers = iter(range(1, count + 1))

    def number(match) -> str:
        if match.group() == "%%":
            return "%"
        try:
            return f"${next(numbers)}"
        except StopIteration:
            raise ValueError("more %s placeholders than parameters") from None

    numbered = _POSITIONAL.sub(number, sql)
    if next(numbers, None) is not None:
        raise ValueError("fewer %s placeholders than parameters")
    return numbered


def _names(cursor, connection) -> set[str]:
    """The names the connection's PostgreSQL session has prepared, kept on Django's
    (per-thread) connection object with the identity of the raw connection they belong to."""
    raw = connection.connection
    identity = (id(raw), raw.get_backend_pid())
    state = getattr(connection, _STATE, None)
    if state is None or state[0] != identity:
        state = (identity, set())
        setattr(connection, _STATE, state)
    elif state[1] is None:  # unknown after a failure: read back what the session holds
        cursor.execute("SELECT name FROM pg_prepared_statements")
        state = (identity, {row[0] for row in cursor.fetchall()})
        setattr(connection, _STATE, state)
    return state[1]


def _forget(connection) -> None:
    state = getattr(connection, _STATE, None)
    if state is not None:
        setattr(connection, _STATE, (state[0], None))
