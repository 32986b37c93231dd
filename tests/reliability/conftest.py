"""The reliability tests (issue 9): the harness's scenarios (``bench/reliability``) at small
sizes, with real processes (gunicorn, Celery worker and beat, load clients) over a private
PostgreSQL and Redis started for the session in a temporary folder.

The private servers are the tests' own whatever the suite runs against (embedded servers or
``DATABASE_URL`` / ``REDIS_URL``): they are stopped, frozen, crashed and restarted, which
the shared servers must never be. Each test copies a migrated template database.
"""

from __future__ import annotations

import pytest

from bench.reliability.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("reliability"))
    stack.start()
    try:
        stack.template()
        yield stack
    finally:
        stack.stop()


def assert_passed(outcome) -> None:
    assert outcome.rows, "the scenario checked nothing"
    assert outcome.ok, "\n".join(outcome.failures())
