"""API keys: printed once, stored as a hash, limited by role and scope, revocable."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from tsops import roles
from tsops.models import AccessLog, ApiKey
from tsops.services import access_log_record, api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
ACCESS_LOG = "/api/v1/access-log"


def create_key_by_command(username: str, scopes: str, name: str = "intake") -> tuple[str, str]:
    """Run create_api_key; return (what it printed on stdout, what it printed on stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key", "--user", username, "--name", name, "--scopes", scopes,
        stdout=out, stderr=err,
    )  # fmt: skip
    return out.getvalue().strip(), err.getvalue()


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_create_api_key_prints_the_key_once_and_stores_only_its_sha256(platform_account):
    secret, note = create_key_by_command(platform_account.username, "reports:write,cases:read")

    key = ApiKey.objects.get(user=platform_account)
    assert secret.startswith(f"tsk_{key.prefix}_")
    assert key.name == "intake"
    assert key.scopes == ["cases:read", "reports:write"]
    random_part = secret.split("_", 2)[2]
    assert key.key_hash == hashlib.sha256(random_part.encode()).hexdigest()
    # The secret is nowhere in the row (nor in its history), and the note on stderr
    # names the key by its prefix only.
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM tsops_apikey k WHERE id = %s", [key.id])
        (row,) = cursor.fetchone()
        cursor.execute(
            "SELECT string_agg(row_to_json(h)::text, '') FROM tsops_historicalapikey h"
            " WHERE id = %s",
            [key.id],
        )
        (history,) = cursor.fetchone()
    assert random_part not in row and random_part not in history
    assert key.prefix in note and random_part not in note


def test_two_keys_never_share_a_prefix_or_a_secret(platform_account):
    first, _ = create_key_by_command(platform_account.username, "reports:write")
    second, _ = create_key_by_command(platform_account.username, "reports:write")
    assert first != second
    assert first.split("_")[1] != second.split("_")[1]


def test_a_bearer_key_acts_as_its_user_with_role_and_scopes(analyst):
    secret, _ = create_key_by_command(analyst.username, "cases:read,metrics:read")
    assert ApiKey.objects.get(user=analyst).last_used_at is None

    response = bearer(secret).get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "username": analyst.username,
        "role": roles.ANALYST,
        "teams": [],
        "scopes": ["cases:read", "metrics:read"],
    }
    key = ApiKey.objects.get(user=analyst)
    assert key.last_used_at is not None
    assert abs((timezone.now() - key.last_used_at).total_seconds()) < 60


def test_last_used_at_is_refreshed_only_once_a_minute(analyst):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    client = bearer(secret)
    assert client.get(ME).status_code == 200
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert client.get(ME).status_code == 200
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first

    earlier = first - timezone.timedelta(minutes=5)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=earlier)
    assert client.get(ME).status_code == 200
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_a_session_caller_has_no_key_scopes(session_client_for, specialist):
    response = session_client_for(specialist).get(ME)
    assert response.status_code == 200
    assert response.json()["teams"] == ["child-safety"]
    assert response.json()["role"] is None
    assert response.json()["scopes"] is None


def test_a_key_revoked_by_the_command_is_refused_with_401(analyst):
    secret, _ = create_key_by_command(analyst.username, "cases:read")
    client = bearer(secret)
    assert client.get(ME).status_code == 200

    out = io.StringIO()
    call_command("revoke_api_key", secret, stdout=out)

    key = ApiKey.objects.get(user=analyst)
    assert key.revoked_at is not None
    assert f"revoked {key}" in out.getvalue()
    error = assert_error(client.get(ME), 401, "not_authenticated")
    assert "revoked" in error["message"]


def test_the_revoke_command_takes_the_bare_prefix_and_refuses_an_unknown_one(analyst):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    call_command("revoke_api_key", key.prefix, stdout=io.StringIO())
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    with pytest.raises(CommandError, match="no API key"):
        call_command("revoke_api_key", "ffffffffffff")


def test_a_key_revoked_by_the_service_is_refused_and_revoking_again_keeps_the_time(analyst):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    revoked = api_key_revoke(key=key)
    first = revoked.revoked_at
    assert first is not None
    assert api_key_revoke(key=key).revoked_at == first

    assert_error(bearer(secret).get(ME), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer garbage",
        "Bearer tsk_000000000000_not-the-secret",
        "Bearer tsk_a_b c",
        "Bearer",
    ],
)
def test_a_garbage_or_malformed_key_is_refused_with_401(analyst, header):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_real_prefix_with_a_wrong_secret_is_refused(analyst):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    assert_error(bearer(f"tsk_{key.prefix}_wrong").get(ME), 401, "not_authenticated")
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None


def test_no_credentials_at_all_is_refused_with_401(db):
    assert_error(APIClient().get(ME), 401, "not_authenticated")


def test_a_key_of_a_deactivated_user_is_refused(analyst):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    analyst.is_active = False
    analyst.save()
    assert_error(bearer(secret).get(ME), 401, "not_authenticated")


# --- Scope and role together -----------------------------------------------------------------


@pytest.fixture
def logged_access(senior):
    return access_log_record(
        actor=senior,
        action=AccessLog.Action.EXPORTED,
        object_type="cases.case",
        object_id=42,
        reason="regulator request",
    )


def test_a_key_without_the_scope_is_refused_naming_the_scope(senior, logged_access):
    secret, _ = create_key_by_command(senior.username, "cases:read")
    error = assert_error(bearer(secret).get(ACCESS_LOG), 403, "forbidden")
    assert "metrics:read" in error["message"]


def test_a_seniors_key_with_the_scope_reads_the_access_log(senior, logged_access):
    secret, _ = create_key_by_command(senior.username, "metrics:read")
    response = bearer(secret).get(ACCESS_LOG)
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["id"] == logged_access.id
    assert entry["actor_username"] == senior.username
    assert (entry["action"], entry["object_type"], entry["object_id"]) == (
        "exported",
        "cases.case",
        "42",
    )
    assert entry["reason"] == "regulator request"


def test_an_analysts_key_with_the_scope_is_refused_by_the_role(analyst, logged_access):
    secret, _ = create_key_by_command(analyst.username, "metrics:read")
    error = assert_error(bearer(secret).get(ACCESS_LOG), 403, "forbidden")
    assert "senior" in error["message"]


def test_an_outsiders_key_is_refused_everywhere(outsider, api_client_for):
    client = api_client_for(outsider)
    error = assert_error(client.get(ME), 403, "forbidden")
    assert "role" in error["message"]
    assert_error(client.get(ACCESS_LOG), 403, "forbidden")


def test_a_senior_in_the_browser_reads_the_access_log_without_key_scopes(
    senior, logged_access, session_client_for
):
    response = session_client_for(senior).get(ACCESS_LOG)
    assert response.status_code == 200
    assert [entry["id"] for entry in response.json()] == [logged_access.id]


def test_an_unknown_api_path_answers_with_the_json_error_shape(analyst, api_client_for):
    assert_error(api_client_for(analyst).get("/api/v1/nothing-here"), 404, "not_found")


def test_a_write_to_a_read_only_endpoint_answers_with_the_json_error_shape(analyst, api_client_for):
    assert_error(api_client_for(analyst).post(ME, {}, format="json"), 405, "method_not_allowed")


# --- The command refuses what it cannot do ---------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("cases:read,cases:delete", "cases:delete"),
        ("everything", "everything"),
        (",", "missing"),
    ],
)
def test_create_api_key_refuses_an_unknown_scope(analyst, scopes, message):
    with pytest.raises(CommandError, match=message):
        create_key_by_command(analyst.username, scopes)
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        create_key_by_command("ghost", "cases:read")


def test_create_api_key_refuses_a_blank_name(analyst):
    with pytest.raises(CommandError, match="name"):
        create_key_by_command(analyst.username, "cases:read", name="   ")
    assert not ApiKey.objects.exists()


def test_a_key_revoked_in_the_admin_is_refused_and_its_history_names_who(
    admin_client, admin_user, analyst
):
    key, secret = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    response = admin_client.post(
        "/admin/tsops/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.history.latest().history_user == admin_user
    assert_error(bearer(secret).get(ME), 401, "not_authenticated")


def test_the_admin_never_offers_to_add_a_key_or_edit_its_hash(admin_client, analyst):
    key, _ = api_key_create(user=analyst, name="ci", scopes=["cases:read"])
    assert admin_client.get("/admin/tsops/apikey/add/").status_code == 403
    page = admin_client.get(f"/admin/tsops/apikey/{key.pk}/change/").content.decode()
    assert 'name="key_hash"' not in page
    assert 'name="revoked_at"' not in page
