"""The role production runs web, worker and beat as (``manage.py db_grant_app_role``): it can
do everything the application does, and nothing that would switch off the audit protections.
The role is created inside the test's transaction, so it never outlives the test."""

from __future__ import annotations

import os
from contextlib import contextmanager
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from appeals.services import appeal_file
from cases.services import case_claim, note_add
from enforcement.services import decision_make
from tests.factories import make_case
from tsops.dbroles import app_role_grant
from tsops.models import AccessLog
from tsops.services import access_log_record

pytestmark = pytest.mark.django_db

ROLE = "tsops_t_app_role"


def raw(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


@contextmanager
def as_role(role: str = ROLE):
    raw(f"SET LOCAL ROLE {role}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (role,)
    try:
        yield
    finally:
        raw("RESET ROLE")


def test_the_application_works_as_the_role(platform_account, analyst, support_agent):
    app_role_grant(role=ROLE, password=None)
    with as_role():
        case = case_claim(actor=analyst, case_id=make_case(platform_account).pk)
        note_add(actor=analyst, case_id=case.pk, body="Checked the account's other posts.")
        case.refresh_from_db()
        decision = decision_make(
            actor=analyst,
            case_id=case.pk,
            version=case.version,
            outcome="violation",
            policy_section="SPAM-1.1",
            rationale="Same link posted 40 times in an hour.",
            actions=[{"type": "remove_content"}],
        )
        action = decision.actions.get()
        appeal, created = appeal_file(
            actor=support_agent,
            action_id=action.pk,
            statement="It was a news article.",
            external_id="role-check-1",
        )
        access_log_record(
            actor=analyst, action=AccessLog.Action.VIEWED, object_type="cases.case", object_id="1"
        )
    assert created and appeal.pk and decision.pk


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE tsops_accesslog DISABLE TRIGGER USER",
        "ALTER TABLE enforcement_decision DISABLE TRIGGER ALL",
        "DROP TRIGGER enforcement_decision_no_update_delete ON enforcement_decision",
        "UPDATE tsops_accesslog SET reason = 'tampered'",
        "TRUNCATE cases_case CASCADE",
        "DROP TABLE cases_report CASCADE",
        "CREATE TABLE tsops_probe (id int)",
        "SET session_replication_role = replica",
        "CREATE ROLE tsops_t_escalated SUPERUSER",
    ],
)
def test_the_role_cannot_switch_off_the_protections(platform_account, analyst, statement):
    make_case(platform_account)
    access_log_record(
        actor=analyst, action=AccessLog.Action.VIEWED, object_type="cases.case", object_id="1"
    )
    app_role_grant(role=ROLE, password=None)
    with as_role(), pytest.raises(DatabaseError), transaction.atomic():
        raw(statement)


def test_granting_twice_changes_nothing_and_the_owner_is_refused():
    first = app_role_grant(role=ROLE, password=None)
    again = app_role_grant(role=ROLE, password=None)
    assert first[0].startswith("CREATE ROLE") and again[0].startswith("ALTER ROLE")
    assert first[1:] == again[1:]
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = %s", [ROLE])
        assert cursor.fetchone() == (False, False)
        cursor.execute("SELECT current_user")
        (owner,) = cursor.fetchone()
    with pytest.raises(ValueError, match="owns the tables"):
        app_role_grant(role=owner, password=None)
    with pytest.raises(ValueError, match="plain role name"):
        app_role_grant(role="x; DROP TABLE cases_case", password=None)


def test_the_command_takes_the_password_from_the_environment_and_never_prints_it(capsys):
    secret = "pw-from-env-0123456789"
    with mock.patch.dict(os.environ, {"TSOPS_APP_DB_PASSWORD": secret}):
        call_command("db_grant_app_role", "--role", ROLE)
    out = capsys.readouterr().out
    assert f"role {ROLE} can read and write rows" in out and secret not in out
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [ROLE])
        assert cursor.fetchone() == (True,)
    with mock.patch.dict(os.environ, {"TSOPS_APP_DB_PASSWORD": "short"}):
        with pytest.raises(CommandError, match="TSOPS_APP_DB_PASSWORD"):
            call_command("db_grant_app_role", "--role", ROLE)
