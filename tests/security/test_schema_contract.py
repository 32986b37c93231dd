"""The API contract: what ``schemathesis run`` finds against the schema as served, per role.

An integrator runs ``schemathesis run <host>/api/schema/ --header "Authorization: Bearer <key>"``
with Schemathesis's default checks: all of them, among others that a schema-valid request is not
answered 400 (``positive_data_acceptance``), that a schema-violating one is not accepted
(``negative_data_rejection``), and that every status, content type and body is one the schema
documents. This test does the same in-process: the schema is loaded from ``GET /api/schema/``
through the WSGI app (so its enums of stored codes are those served), and every operation is
called with the key of each role of ``tests/security/test_api_fuzz.py``'s world (associate,
analyst, senior, support, platform, a specialist team member), positive and negative examples,
every default check. A failure names the role and the operation (the test id) and the check
(in its message).

Bounded for CI: ``MAX_EXAMPLES`` examples per operation and role, deterministic, where the
integrator's run (and the figures of issue 14) use 25.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup

from tests.security.test_api_fuzz import (  # noqa: F401 (world: fixture)
    ACTORS,
    CALLERS,
    fuzz_operation,
    world,
    wsgi_app,
)

MAX_EXAMPLES = 2

# A rule's condition is a CEL expression: whether one is type-correct against the rule inputs
# (its fields, operators, cost) is beyond what JSON Schema can state, so a schema-valid string
# may rightly be answered 400 naming the problem. These operations alone accept that 400.
SEMANTIC_400 = ("rules_create", "rules_versions_create")

pytestmark = pytest.mark.django_db


# Module-scoped: loaded once, from the served document, after the world exists (the enums of
# stored codes are read when the schema is served).
@pytest.fixture(scope="module")
def served_schema(world, django_db_blocker):  # noqa: F811
    with django_db_blocker.unblock():
        return schemathesis.openapi.from_wsgi(
            "/api/schema/?format=json",
            wsgi_app,
            config=schemathesis.Config.from_dict(
                {
                    "generation": {
                        "mode": "all",
                        "max-examples": MAX_EXAMPLES,
                        "deterministic": True,
                        "database": "none",
                        "with-security-parameters": False,
                    },
                    "operations": [
                        {
                            "include-operation-id": operation_id,
                            "checks": {
                                "positive_data_acceptance": {
                                    "expected-statuses": [
                                        "2xx",
                                        "3xx",
                                        "400",
                                        "401",
                                        "403",
                                        "404",
                                        "409",
                                        "429",
                                        "5xx",
                                    ]
                                }
                            },
                        }
                        for operation_id in SEMANTIC_400
                    ],
                }
            ),
        )


@pytest.mark.parametrize("operation", sorted(CALLERS))
@pytest.mark.parametrize("role", sorted(ACTORS))
def test_default_checks_find_nothing(role, operation, served_schema, world, db):  # noqa: F811
    """Every default check, for one role's key on one operation; a failure names the check."""
    headers = {"Authorization": f"Bearer {world.keys[role]}"}

    def call(case):
        try:
            case.call_and_validate(headers=headers)
        except FailureGroup as group:
            checks = ", ".join(f"{type(f).__name__} ({f.title})" for f in group.exceptions)
            raise AssertionError(f"{role} key, {operation}: {checks}\n{group}") from group

    fuzz_operation(served_schema, operation, call, max_examples=MAX_EXAMPLES)
