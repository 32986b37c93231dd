"""Audit integrity: the access log and the decisions cannot be altered once written, whoever
asks (the ORM, raw SQL, a cascading TRUNCATE, the admin), and the admin's history pages are
for reading only.

The database refuses the changes with triggers (tsops migration 0003 for the access log,
enforcement 0002 for decisions, enforcement 0006 for TRUNCATE of decisions). A trigger binds every
role except one that may switch it off: the table's owner or a superuser. The last tests show
that an application role without ownership (what production should run as, see
``test_a_non_owner_application_role_can_neither_change_rows_nor_disable_the_triggers``) is
refused both.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.contrib import admin
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.forms.models import model_to_dict
from django.test import Client
from simple_history.admin import SimpleHistoryAdmin

from cases.models import Case
from cases.services import case_claim
from enforcement.models import Decision, EnforcementAction
from enforcement.services import action_reverse, decision_make
from escalations.services import escalation_raise
from tests.factories import make_case
from tsops.admin_mixins import HistoryAdmin
from tsops.models import AccessLog
from tsops.services import access_log_record

pytestmark = pytest.mark.django_db

REFUSED = (DatabaseError, ProtectedError)


@contextmanager
def refused():
    """The block must fail in the database (its savepoint is rolled back)."""
    with pytest.raises(REFUSED), transaction.atomic():
        yield


def raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def decision(platform_account, analyst):
    """A violation decision with its action (the action's history is inspected below)."""
    case = case_claim(actor=analyst, case_id=make_case(platform_account).pk)
    return decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Forty identical links in an hour.",
        actions=[{"type": "remove_content"}],
    )


@pytest.fixture
def entry(analyst):
    return access_log_record(
        actor=analyst, action=AccessLog.Action.VIEWED, object_type="cases.case", object_id=7
    )


# --- The database refuses every change ------------------------------------------------------

# (name, how to try it) for a row ``obj`` of ``model`` whose text field is ``field``.
ORM_TAMPERING = {
    "instance save": lambda model, obj, field: (setattr(obj, field, "tampered"), obj.save()),
    "queryset update": lambda model, obj, field: model.objects.filter(pk=obj.pk).update(
        **{field: "tampered"}
    ),
    "bulk_update": lambda model, obj, field: (
        setattr(obj, field, "tampered"),
        model.objects.bulk_update([obj], [field]),
    ),
    "instance delete": lambda model, obj, field: obj.delete(),
    "queryset delete": lambda model, obj, field: model.objects.filter(pk=obj.pk).delete(),
    # The delete Django itself would never send (no collector, no cascade): only the trigger.
    "raw queryset delete": lambda model, obj, field: model.objects.filter(pk=obj.pk)._raw_delete(
        connection.alias
    ),
}

SQL_TAMPERING = {
    "UPDATE": "UPDATE {table} SET {field} = 'tampered' WHERE id = %s",
    "DELETE": "DELETE FROM {table} WHERE id = %s",
    "TRUNCATE": "TRUNCATE {table}",
    "TRUNCATE CASCADE": "TRUNCATE {table} CASCADE",
    # Truncating a table the row depends on takes the row with it.
    "TRUNCATE parent CASCADE": "TRUNCATE {parent} CASCADE",
}

AUDIT_TABLES = {
    # model, text field, the table its rows hang from
    "access log": (AccessLog, "reason", "auth_user"),
    "decision": (Decision, "rationale", "cases_case"),
}


@pytest.fixture
def audit_row(request):
    name = request.param
    model, field, parent = AUDIT_TABLES[name]
    obj = request.getfixturevalue("entry" if model is AccessLog else "decision")
    return model, obj, field, parent


def assert_unchanged(model, obj, field) -> None:
    stored = model.objects.get(pk=obj.pk)
    assert getattr(stored, field) != "tampered"
    assert model.objects.count() >= 1


@pytest.mark.parametrize("audit_row", list(AUDIT_TABLES), indirect=True)
@pytest.mark.parametrize("how", list(ORM_TAMPERING))
def test_the_orm_cannot_change_or_remove_an_audit_row(audit_row, how):
    model, obj, field, _ = audit_row
    with refused():
        ORM_TAMPERING[how](model, model.objects.get(pk=obj.pk), field)
    assert_unchanged(model, obj, field)


@pytest.mark.parametrize("audit_row", list(AUDIT_TABLES), indirect=True)
@pytest.mark.parametrize("how", list(SQL_TAMPERING))
def test_raw_sql_cannot_change_or_remove_an_audit_row(audit_row, how):
    model, obj, field, parent = audit_row
    sql = SQL_TAMPERING[how].format(table=model._meta.db_table, field=field, parent=parent)
    with refused():
        raw(sql, [obj.pk] if "%s" in sql else [])
    assert_unchanged(model, obj, field)


def test_appending_still_works_after_a_refused_change(entry, analyst):
    # The control: the triggers refuse changes, not writes; the log keeps growing.
    with refused():
        raw("UPDATE tsops_accesslog SET reason = 'x' WHERE id = %s", [entry.pk])
    access_log_record(actor=analyst, action=AccessLog.Action.VIEWED, object_type="cases.case")
    assert AccessLog.objects.count() == 2


EXPECTED_TRIGGERS = {
    ("tsops_accesslog", "tsops_accesslog_no_update_delete"),
    ("tsops_accesslog", "tsops_accesslog_no_truncate"),
    ("enforcement_decision", "enforcement_decision_no_update_delete"),
    ("enforcement_decision", "enforcement_decision_no_truncate"),
}


def test_the_triggers_are_installed_and_enabled():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal "
            "AND c.relname IN ('tsops_accesslog', 'enforcement_decision')"
        )
        rows = cursor.fetchall()
    enabled = {(table, name) for table, name, state in rows if state in ("O", "A")}
    assert enabled >= EXPECTED_TRIGGERS, rows


APP_ROLE = "tsops_g_app_probe"


@pytest.fixture
def as_application_role(decision, entry):
    """Runs the block as a role with every data privilege on the two tables but without
    owning them: what the application should connect as in production. The role exists
    only inside the test's transaction."""

    raw(f"CREATE ROLE {APP_ROLE} NOLOGIN")
    for table in ("tsops_accesslog", "enforcement_decision"):
        raw(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {table} TO {APP_ROLE}")
    raw(f"GRANT USAGE ON SEQUENCE tsops_accesslog_id_seq TO {APP_ROLE}")

    @contextmanager
    def switch():
        raw(f"SET LOCAL ROLE {APP_ROLE}")
        try:
            yield
        finally:
            raw("RESET ROLE")

    return switch


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE {table} DISABLE TRIGGER USER",
        "ALTER TABLE {table} DISABLE TRIGGER ALL",
        "DROP TRIGGER {trigger} ON {table}",
        "UPDATE {table} SET {field} = 'tampered'",
        "DELETE FROM {table}",
        "TRUNCATE {table}",
        "SET session_replication_role = replica",
    ],
)
def test_a_non_owner_application_role_can_neither_change_rows_nor_disable_the_triggers(
    as_application_role, statement
):
    for table, field, trigger in (
        ("tsops_accesslog", "reason", "tsops_accesslog_no_update_delete"),
        ("enforcement_decision", "rationale", "enforcement_decision_no_update_delete"),
    ):
        with as_application_role(), refused():
            raw(statement.format(table=table, field=field, trigger=trigger))
    assert not AccessLog.objects.filter(reason="tampered").exists()
    assert not Decision.objects.filter(rationale="tampered").exists()


def test_the_probe_role_may_still_read_and_append(as_application_role, analyst):
    # The control for the test above: the refusals come from the protections, not from a
    # role that can do nothing at all.
    with as_application_role():
        raw("SELECT count(*) FROM tsops_accesslog")
        raw(
            "INSERT INTO tsops_accesslog (actor_username, action, object_type, object_id, "
            "reason, at, detail) VALUES ('probe', 'viewed', 'cases.case', '1', '', now(), '{}')"
        )
    assert AccessLog.objects.filter(actor_username="probe").exists()


# --- The admin: history is for reading -------------------------------------------------------


@pytest.fixture
def senior_client(senior):
    client = Client()
    client.force_login(senior)
    return client


def _form_data(instance) -> dict:
    """What the admin's form for ``instance`` would post back (split date-times included)."""
    data = {}
    for name, value in model_to_dict(instance).items():
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "on" if value else ""
        elif hasattr(value, "tzinfo"):
            data[f"{name}_0"] = value.date().isoformat()
            data[f"{name}_1"] = value.time().strftime("%H:%M:%S")
            continue
        data[name] = value
    return data


def test_a_cases_history_is_shown_without_a_revert_button(senior_client, decision):
    case = decision.case
    response = senior_client.get(f"/admin/cases/case/{case.pk}/history/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "View history" in html
    versions = list(case.history.order_by("history_id"))
    assert len(versions) >= 2
    # Every version is listed, and opens as a page to read.
    for version in versions:
        assert f"/admin/cases/case/{case.pk}/history/{version.history_id}/" in html
    page = senior_client.get(f"/admin/cases/case/{case.pk}/history/{versions[0].history_id}/")
    assert page.status_code == 200
    assert "Revert" not in page.content.decode()
    assert not re.search(r'<input[^>]+type="submit"', page.content.decode())


@pytest.mark.parametrize("model_name", ["case", "action"])
def test_posting_a_past_version_back_through_the_history_page_is_refused(
    senior_client, senior, decision, model_name
):
    # simple-history's history page saves whatever form is posted to it for anyone who may
    # view the model: a senior with read-only inspection could resolve a claimed case, drop
    # its restriction or reinstate a reversed action without any service, timeline entry or
    # check. Posting the first version back must change nothing.
    if model_name == "case":
        obj, url = decision.case, "/admin/cases/case/{pk}/history/{version}/"
    else:
        obj = EnforcementAction.objects.get(decision=decision)
        # Reversed now: its first version (active) posted back would reinstate it.
        action_reverse(actor=senior, action_id=obj.pk, reason="Wrong account.")
        url = "/admin/enforcement/enforcementaction/{pk}/history/{version}/"
    before = model_to_dict(type(obj).objects.get(pk=obj.pk))
    first = obj.history.order_by("history_id").first()
    assert first.status != before["status"]
    data = _form_data(first.instance)

    response = senior_client.post(url.format(pk=obj.pk, version=first.history_id), data)

    assert response.status_code == 403
    assert model_to_dict(type(obj).objects.get(pk=obj.pk)) == before


def test_the_change_form_refuses_a_post_to_an_inspected_case(senior_client, decision):
    case = decision.case
    before = model_to_dict(Case.objects.get(pk=case.pk))
    data = {**_form_data(case), "status": "new"}
    response = senior_client.post(f"/admin/cases/case/{case.pk}/change/", data)
    assert response.status_code == 403
    assert model_to_dict(Case.objects.get(pk=case.pk)) == before


@pytest.mark.parametrize("what", ["decision", "entry"])
@pytest.mark.parametrize("page", ["change", "delete", "add"])
def test_the_admin_never_changes_adds_or_deletes_a_decision_or_a_log_entry(
    admin_client, decision, entry, what, page
):
    # A superuser holds every model permission: only the admin classes can refuse.
    obj = decision if what == "decision" else entry
    model = type(obj)
    before = model.objects.count()
    base = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/"
    url = f"{base}add/" if page == "add" else f"{base}{obj.pk}/{page}/"
    data = {**_form_data(obj), "post": "yes"}
    response = admin_client.post(url, data)
    assert response.status_code == 403, url
    assert model_to_dict(model.objects.get(pk=obj.pk)) == model_to_dict(obj)
    assert model.objects.count() == before
    if what == "entry":
        # Reading is allowed: the admin is the inspection tool (a superuser without a role
        # sees no case, so no decision: seniors read those, below).
        assert admin_client.get(f"{base}{obj.pk}/change/").status_code == 200
        assert admin_client.get(f"{base}{obj.pk}/history/").status_code == 200


def test_a_senior_reads_decisions_in_the_admin_but_cannot_post_a_change(senior_client, decision):
    url = f"/admin/enforcement/decision/{decision.pk}/change/"
    assert senior_client.get(url).status_code == 200
    response = senior_client.post(url, {**_form_data(decision), "rationale": "tampered"})
    assert response.status_code == 403
    assert Decision.objects.get(pk=decision.pk).rationale != "tampered"


def test_a_restricted_cases_history_is_hidden_from_a_senior_outside_the_team(
    senior_client, specialist, decision, analyst, platform_account
):
    case = case_claim(actor=analyst, case_id=make_case(platform_account, reason="harassment").pk)
    escalation_raise(
        actor=analyst,
        case_id=case.pk,
        team="threats",
        severity="P1",
        summary="RESTRICTED-SUMMARY",
        criteria="Indicators present.",
    )
    case.refresh_from_db()
    assert case.restricted
    version = case.history.order_by("history_id").first()

    for url in (
        f"/admin/cases/case/{case.pk}/change/",
        f"/admin/cases/case/{case.pk}/history/",
        f"/admin/cases/case/{case.pk}/history/{version.history_id}/",
    ):
        response = senior_client.get(url)
        # Django's admin answers a hidden object on its change page with a redirect to the
        # index and a message; the history pages must not show it either.
        assert response.status_code in (302, 404), url
        assert str(case.subject.external_id) not in response.content.decode(), url


def test_every_admin_with_history_uses_the_read_only_history_admin():
    # A model admin added later with simple-history's own admin class would bring the
    # saving history page back: all of them must go through tsops.admin_mixins.HistoryAdmin.
    with_history = [
        model_admin
        for model_admin in admin.site._registry.values()
        if isinstance(model_admin, SimpleHistoryAdmin)
    ]
    assert with_history
    offenders = [type(a).__name__ for a in with_history if not isinstance(a, HistoryAdmin)]
    assert offenders == []
