"""Shared fixtures: named actors for every role, API clients with keys, and real services.

Tests talk to real PostgreSQL and Redis: the embedded servers (started here when
DATABASE_URL / REDIS_URL are unset) or the servers those variables name.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tsops import embedded, roles
from tsops.services import api_key_create, member_create_or_update

# --- Parallel runs (pytest-xdist: `make test` runs the suite in TEST_WORKERS processes) -------
#
# Each worker has a test database of its own (pytest-django suffixes TSOPS_TEST_DATABASE with
# the worker's id, _gw0, _gw1, ...) and a pair of Redis databases (tsops/settings.py). Tests
# that must not be spread over workers are grouped here by where they live; each group runs
# in one worker, the largest group first (``--dist loadgroup``, set in pyproject.toml).
# pytest-xdist's ``xdist_group`` mark can't be relied on instead: it works by renaming node
# ids, which has no effect on pytest 9.
WORKER_GROUPS = {
    # One private PostgreSQL + Redis stack per worker would double its start-up and let two
    # stacks' load tests compete; in one worker it starts once.
    "tests/reliability/": "reliability-stack",
    # The embedded-server tests share module fixtures (servers in a temporary folder): kept
    # together they start them once, in the order the module gives.
    "tests/tsops/test_embedded.py::": "embedded-servers",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class GroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in WORKER_GROUPS.items():
                if nodeid.startswith(prefix):
                    return group
            return super()._split_scope(nodeid)

    return GroupScheduling(config, log)


def pytest_configure(config):
    # In a parallel run (pytest-xdist) the controller starts the embedded servers once, before
    # any worker exists, so that two workers never race to start them.
    if not hasattr(config, "workerinput"):
        embedded.ensure_services()


@pytest.fixture(autouse=True)
def _installed_data(request):
    """Transactional tests flush the database afterwards, data migrations included: put the
    roles and the default taxonomy back (idempotent) before each such test."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from appeals.setup import install_appeal_queues
    from cases.taxonomy import install_taxonomy
    from enforcement.policy_data import install_policies
    from qa.setup import install_default_rubric

    roles.install_roles()
    install_taxonomy(apps)
    install_policies(apps)
    install_appeal_queues(apps)
    install_default_rubric(apps)


def make_member(username: str, role: str | None = None, teams: tuple[str, ...] = ()):
    return member_create_or_update(
        username=username, role=role, teams=teams, password="correct-horse-battery", validate=False
    )


@pytest.fixture
def associate(db):
    return make_member("ada_associate", roles.ASSOCIATE)


@pytest.fixture
def analyst(db):
    return make_member("noor_analyst", roles.ANALYST)


@pytest.fixture
def analyst2(db):
    return make_member("mateo_analyst", roles.ANALYST)


@pytest.fixture
def senior(db):
    return make_member("grace_senior", roles.SENIOR)


@pytest.fixture
def support_agent(db):
    return make_member("sam_support", roles.SUPPORT)


@pytest.fixture
def platform_account(db):
    return make_member("platform_svc", roles.PLATFORM)


@pytest.fixture
def specialist(db):
    """A member of the child-safety team (and of no role)."""
    return make_member("chen_childsafety", None, ("child-safety",))


@pytest.fixture
def threats_specialist(db):
    return make_member("tomas_threats", None, ("threats",))


@pytest.fixture
def outsider(db):
    """A signed-in account with no TSOps role or team: must see nothing."""
    return make_member("olly_outsider", None)


@pytest.fixture
def api_client_for(db):
    """``api_client_for(user, scopes)`` -> an APIClient sending that user's new API key."""

    def build(user, scopes=tuple(roles.SCOPES)):
        _, secret = api_key_create(user=user, name="test", scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return build


@pytest.fixture
def session_client_for(db):
    """``session_client_for(user)`` -> an APIClient logged in with a session (like the browser)."""

    def build(user):
        client = APIClient(enforce_csrf_checks=False)
        client.force_login(user)
        return client

    return build


# --- Transactional tests (live_server, real workers) ---------------------------------------
#
# A transactional test ends with Django's flush, a TRUNCATE of every table. Two things in the
# schema don't survive that on their own: the access log's and the decisions' triggers reject
# TRUNCATE (so the flush would fail), and the role groups and their permissions, installed by
# a migration, would be gone for the next test. The test database only, and only while
# flushing, lets the TRUNCATE through and puts the roles back afterwards.

_TRUNCATE_TRIGGERS = {
    "tsops_accesslog": "tsops_accesslog_no_truncate",
    "enforcement_decision": "enforcement_decision_no_truncate",
}


def _reinstall_roles(sender, **kwargs):
    if sender.name == "tsops":
        roles.install_roles()


@pytest.fixture(autouse=True, scope="session")
def _flush_keeps_the_migrated_schema():
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.db.models.signals import post_migrate

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        guarded = [t for t in _TRUNCATE_TRIGGERS if any(t in sql for sql in sql_list)]
        if guarded:
            sql_list = [
                *(
                    f"ALTER TABLE {self.quote_name(t)} DISABLE TRIGGER {_TRUNCATE_TRIGGERS[t]}"
                    for t in guarded
                ),
                *sql_list,
                *(
                    f"ALTER TABLE {self.quote_name(t)} ENABLE TRIGGER {_TRUNCATE_TRIGGERS[t]}"
                    for t in guarded
                ),
            ]
        return original(self, sql_list)

    post_migrate.connect(_reinstall_roles, dispatch_uid="tests-reinstall-roles-after-flush")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield
    post_migrate.disconnect(dispatch_uid="tests-reinstall-roles-after-flush")


# --- Skips in CI -----------------------------------------------------------------------------
#
# With TSOPS_FAIL_ON_SKIP=1 (set by .ci/run) a skipped test fails the session, so that a
# missing browser or service can't pass CI by quietly not testing. A test that may skip by
# design (say, one that only applies to the embedded servers) is marked
# ``@pytest.mark.expected_skip`` and must still give its reason, which -ra prints.

_unexpected_skips: list[tuple[str, str]] = []


def _fail_on_skip() -> bool:
    import os

    return os.environ.get("TSOPS_FAIL_ON_SKIP", "").lower() in {"1", "true", "yes"}


@pytest.hookimpl(specname="pytest_configure")
def pytest_configure_expected_skip_marker(config):
    config.addinivalue_line(
        "markers", "expected_skip: may be skipped by design; TSOPS_FAIL_ON_SKIP lets it pass"
    )


def pytest_runtest_logreport(report):
    if not (report.skipped and _fail_on_skip()) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr or "")
    reason = reason.removeprefix("Skipped: ").strip()
    if reason in {"", "unconditional skip", "Skipped"} or "expected_skip" not in report.keywords:
        _unexpected_skips.append((report.nodeid, reason or "(no reason given)"))


def pytest_sessionfinish(session, exitstatus):
    if _unexpected_skips and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _unexpected_skips:
        return
    terminalreporter.section("skipped tests fail this run (TSOPS_FAIL_ON_SKIP=1)", red=True)
    for nodeid, reason in _unexpected_skips:
        terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)
    terminalreporter.line(
        "Fix what made them skip, or mark a by-design skip @pytest.mark.expected_skip."
    )


@pytest.fixture(autouse=True)
def _installed_teams(request, _installed_data):
    """The specialist teams come from a data migration too: put them back after a flush."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        from escalations.setup import install_teams

        install_teams()
