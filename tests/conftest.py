"""Shared fixtures: named actors for every role, API clients with keys, and real services.

Tests talk to real PostgreSQL and Redis: the embedded servers (started here when
DATABASE_URL / REDIS_URL are unset) or the servers those variables name.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tsops import embedded, roles
from tsops.services import api_key_create, member_create_or_update


def pytest_configure(config):
    embedded.ensure_services()


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
