"""django-simple-history keeps every change of the models that exist so far."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from tsops.models import ApiKey, HistoryModel
from tsops.services import api_key_create, api_key_revoke, member_create_or_update

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_creating_and_revoking_an_api_key_writes_two_history_rows(analyst):
    key, _ = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    api_key_revoke(key=key)

    history = list(key.history.order_by("history_id"))
    assert [h.history_type for h in history] == ["+", "~"]
    created, revoked = history
    assert created.revoked_at is None
    assert revoked.revoked_at is not None
    assert revoked.revoked_at == ApiKey.objects.get(pk=key.pk).revoked_at
    changes = revoked.diff_against(created).changes
    assert [change.field for change in changes] == ["revoked_at"]
    assert (changes[0].old, changes[0].new) == (None, revoked.revoked_at)


def test_revoking_a_revoked_key_again_writes_no_history(analyst):
    key, _ = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    api_key_revoke(key=key)
    api_key_revoke(key=key)
    assert key.history.count() == 2


def test_saving_a_user_writes_a_historical_user_row(db):
    user = member_create_or_update(username="hal", role=None)
    before = user.history.count()
    assert before >= 1
    assert user.history.earliest().history_type == "+"

    user.email = "hal@example.com"
    user.save()

    latest = user.history.latest()
    assert user.history.count() == before + 1
    assert latest.history_type == "~"
    assert latest.email == "hal@example.com"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tsops_historicaluser WHERE id = %s", [user.pk])
        assert cursor.fetchone()[0] == before + 1


def test_a_console_login_is_attributed_in_the_users_history(client, senior):
    # The history middleware records who made a change made through a request.
    client.post(
        "/accounts/login/", {"username": senior.username, "password": "correct-horse-battery"}
    )
    latest = User.objects.get(pk=senior.pk).history.latest()
    assert latest.last_login is not None
    assert latest.history_user_id == senior.pk


def test_deleting_a_user_keeps_its_history(db):
    user = member_create_or_update(username="gone", role=None)
    pk = user.pk
    user.delete()
    history = User.history.filter(id=pk).order_by("history_id")
    assert [h.history_type for h in history][-1] == "-"
    assert history.first().username == "gone"


def test_every_concrete_history_model_has_its_history_table():
    # The pattern later apps follow: subclass HistoryModel and the history table comes along.
    from django.apps import apps

    tracked = [
        model
        for model in apps.get_models()
        if issubclass(model, HistoryModel) and not model._meta.abstract
    ]
    assert ApiKey in tracked
    tables = set(connection.introspection.table_names())
    for model in tracked:
        assert model.history.model._meta.db_table in tables
    assert "tsops_historicaluser" in tables
