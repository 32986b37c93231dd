"""The database role the application runs as in production.

Migrations run as the owner of the tables; web, worker and beat should connect as a role
that only reads and writes rows. Only then do the append-only triggers on the access log and
the decisions bind the application itself: an owner (or a superuser) could disable them.
"""

from __future__ import annotations

import re

from django.db import connection

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

GRANTS = (
    "GRANT CONNECT ON DATABASE {database} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",
    # Tables a later migration creates get the same rights without another run.
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
)


def app_role_grant(*, role: str, password: str | None) -> list[str]:
    """Create (or update) ``role`` with row rights on every table and nothing more: it owns
    nothing, cannot truncate, alter or drop, and is not a superuser. ``password=None`` makes
    a role that cannot log in (for checks). Idempotent; returns what it ran, passwords
    masked."""
    if not ROLE_NAME.match(role):
        raise ValueError(f"not a plain role name: {role!r}")
    done = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        if role == owner:
            raise ValueError(f"{role!r} is the role that owns the tables; pick another name")
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        login = "LOGIN PASSWORD %s" if password is not None else "NOLOGIN"
        statement = f"{verb} ROLE {role} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
        cursor.execute(statement, [password] if password is not None else None)
        done.append(statement.replace("%s", "'…'"))
        quoted = connection.ops.quote_name(database)
        for grant in GRANTS:
            statement = grant.format(database=quoted, role=role)
            cursor.execute(statement)
            done.append(statement)
    return done
