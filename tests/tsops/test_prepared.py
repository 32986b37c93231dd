"""Prepared statements (tsops.prepared): prepared once per database session, executed after,
re-prepared on a new connection, and read back from the session after a failed first use."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tsops import prepared

pytestmark = pytest.mark.django_db(transaction=True)

ADD = prepared.Prepared("test_add", "SELECT %(a)s::int + %(b)s::int, %(a)s::int, '100%%'")


def _run(statements, params, *, fetch=True):
    with connection.cursor() as cursor:
        prepared.run(cursor, statements, params)
        return cursor.fetchone() if fetch else None


def test_prepared_once_then_executed():
    connection.close()
    with CaptureQueriesContext(connection) as queries:
        assert _run([ADD], {"a": 2, "b": 3}) == (5, 2, "100%")
        assert _run([ADD], {"a": 4, "b": 3}) == (7, 4, "100%")
    first, second = (q["sql"] for q in queries)
    assert first.startswith("PREPARE test_add AS SELECT $1::int + $2::int, $1::int")
    assert second == "EXECUTE test_add(4, 3)"
    # A new connection (a new session) prepares again.
    connection.close()
    with CaptureQueriesContext(connection) as queries:
        assert _run([ADD], {"a": 1, "b": 1}) == (2, 1, "100%")
    assert queries[0]["sql"].startswith("PREPARE test_add AS")


def test_a_query_string_runs_as_one_transaction(django_user_model):
    """Two statements in one string: the second failing undoes the first."""
    write = prepared.Prepared(
        "test_write", "UPDATE auth_user SET first_name = %(name)s WHERE id = %(id)s"
    )
    fail = prepared.Prepared("test_fail", "SELECT 1 / %(zero)s::int")
    user = django_user_model.objects.create(username="prepared_user", first_name="before")
    with pytest.raises(DatabaseError):
        _run([write, fail], {"name": "after", "id": user.pk, "zero": 0})
    user.refresh_from_db()
    assert user.first_name == "before"
    # Whether the PREPAREs ran is unknown after the failure: read back, never prepared twice.
    _run([write], {"name": "after", "id": user.pk}, fetch=False)
    user.refresh_from_db()
    assert user.first_name == "after"
    with transaction.atomic():
        assert _run([ADD], {"a": 1, "b": 2})[0] == 3
    assert _run([ADD], {"a": 1, "b": 2})[0] == 3


def test_statement_names_are_checked():
    with pytest.raises(ValueError):
        prepared.Prepared("drop table x", "SELECT 1")


def test_statements_built_per_call_are_prepared_by_their_text():
    """prepared.execute: positional parameters, one name per text, the same text executed."""
    connection.close()
    text = "SELECT %s::int * 2, '5%%'"
    with CaptureQueriesContext(connection) as queries:
        with connection.cursor() as cursor:
            prepared.execute(cursor, [(text, [21])])
            assert cursor.fetchone() == (42, "5%")
            prepared.execute(cursor, [(text, [4]), ("SELECT %s::text || %s::text", ["a", "b"])])
            assert cursor.fetchone() == ("ab",)
    first, second = (q["sql"] for q in queries)
    assert "PREPARE t_" in first and "$1::int * 2" in first
    assert second.startswith("PREPARE t_")  # only the new text is prepared
    assert second.count("PREPARE") == 1 and second.count("EXECUTE") == 2
    with pytest.raises(ValueError):
        prepared.execute(connection.cursor(), [("SELECT %s, %s", [1])])


def test_a_session_prepares_a_bounded_number_of_texts(monkeypatch):
    monkeypatch.setattr(prepared, "TEXT_LIMIT", 2)
    connection.close()
    with connection.cursor() as cursor:
        for n in range(4):
            prepared.execute(cursor, [(f"SELECT %s::int + {n}", [1])])
            assert cursor.fetchone() == (1 + n,)
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 't\\_%%'")
        assert cursor.fetchone() == (2,)
