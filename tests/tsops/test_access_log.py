import pytest
from django.db import DatabaseError, connection, transaction

from tsops.models import AccessLog
from tsops.services import access_log_record


@pytest.fixture
def entry(analyst):
    return access_log_record(
        actor=analyst, action=AccessLog.Action.VIEWED, object_type="cases.case", object_id=7
    )


def test_access_log_record_writes_who_what_and_why(analyst, entry):
    assert entry.actor == analyst
    assert entry.actor_username == analyst.username
    assert (entry.object_type, entry.object_id) == ("cases.case", "7")


def test_a_raw_update_of_the_access_log_is_rejected_by_the_database(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tsops_accesslog SET reason = 'tampered' WHERE id = %s", [entry.id]
            )
    entry.refresh_from_db()
    assert entry.reason == ""


def test_a_raw_delete_of_the_access_log_is_rejected_by_the_database(entry):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM tsops_accesslog WHERE id = %s", [entry.id])
    assert AccessLog.objects.filter(pk=entry.pk).exists()


def test_orm_delete_of_the_access_log_is_rejected_too(entry):
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLog.objects.filter(pk=entry.pk).delete()
    assert AccessLog.objects.filter(pk=entry.pk).exists()
