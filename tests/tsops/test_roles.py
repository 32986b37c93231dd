"""Roles and teams are groups whose permissions are installed, from tsops.roles, by a migration."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.management import CommandError, call_command

from tsops import roles
from tsops.permissions import (
    can_use_console,
    can_view_access_log,
    has_capability,
    role_of,
    teams_of,
)
from tsops.services import member_create_or_update

ROOT = Path(__file__).resolve().parents[2]
User = get_user_model()

pytestmark = pytest.mark.django_db


def installed_capabilities() -> dict[str, set[str]]:
    return {
        group.name: {p.codename for p in group.permissions.all()}
        for group in Group.objects.prefetch_related("permissions")
    }


def test_migrations_install_exactly_the_groups_and_capabilities_of_tsops_roles():
    assert installed_capabilities() == roles.GROUP_CAPABILITIES
    assert set(roles.GROUP_CAPABILITIES) == set(roles.ROLES) | set(roles.TEAMS)


def test_every_capability_is_a_tsops_permission_with_its_description():
    capabilities = Permission.objects.filter(
        content_type__app_label="tsops", content_type__model="capability"
    )
    assert {p.codename: p.name for p in capabilities} == roles.CAPABILITIES


def test_install_roles_puts_back_a_capability_removed_by_hand_and_drops_an_extra_one():
    senior = Group.objects.get(name=roles.SENIOR)
    senior.permissions.remove(Permission.objects.get(codename="view_access_log"))
    associate = Group.objects.get(name=roles.ASSOCIATE)
    associate.permissions.add(Permission.objects.get(codename="approve_actions"))
    assert installed_capabilities() != roles.GROUP_CAPABILITIES

    roles.install_roles()

    assert installed_capabilities() == roles.GROUP_CAPABILITIES


def test_the_role_ladder_only_grows_from_associate_to_senior():
    caps = roles.GROUP_CAPABILITIES
    assert caps[roles.ASSOCIATE] < caps[roles.ANALYST] < caps[roles.SENIOR]
    assert "approve_actions" not in caps[roles.ANALYST]
    assert "take_standard_action" not in caps[roles.ASSOCIATE]
    # Support and the platform never work cases or see PII.
    for role in (roles.SUPPORT, roles.PLATFORM):
        assert not caps[role] & {"work_standard_queues", "view_pii", "reveal_pii"}
    assert "use_console" not in caps[roles.PLATFORM]


# --- create_member ---------------------------------------------------------------------------


def test_create_member_creates_a_user_with_a_role_and_teams():
    out = io.StringIO()
    call_command(
        "create_member", "rita", "--role", "analyst", "--team", "threats", "--team", "legal",
        stdout=out,
    )  # fmt: skip
    user = User.objects.get(username="rita")
    assert set(user.groups.values_list("name", flat=True)) == {"analyst", "threats", "legal"}
    assert not user.has_usable_password()
    assert user.is_active
    assert "rita: analyst, legal, threats" in out.getvalue()


def test_create_member_updates_an_existing_user_to_exactly_the_given_role_and_teams():
    call_command(
        "create_member", "rita", "--role", "associate", "--team", "threats", stdout=io.StringIO()
    )
    other = Group.objects.create(name="newsletter")
    user = User.objects.get(username="rita")
    user.groups.add(other)

    call_command("create_member", "rita", "--role", "senior", stdout=io.StringIO())

    user = User.objects.get(username="rita")
    assert User.objects.filter(username="rita").count() == 1
    # Role and teams are replaced; a group TSOps doesn't manage is left alone.
    assert set(user.groups.values_list("name", flat=True)) == {"senior", "newsletter"}
    assert role_of(user) == roles.SENIOR


def test_create_member_reads_the_password_from_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-enough-passphrase\n"))
    call_command(
        "create_member", "rita", "--role", "support", "--password-stdin", stdout=io.StringIO()
    )
    user = User.objects.get(username="rita")
    assert user.check_password("a-long-enough-passphrase")


def test_create_member_refuses_a_weak_password(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="too short|too common"):
        call_command("create_member", "rita", "--role", "support", "--password-stdin")
    assert not User.objects.filter(username="rita").exists()


def test_create_member_refuses_an_empty_password_on_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="no password"):
        call_command("create_member", "rita", "--role", "support", "--password-stdin")
    assert not User.objects.filter(username="rita").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "admin"], "invalid choice: 'admin'"),
        (["--role", "analyst", "--team", "marketing"], r"unknown team\(s\) marketing"),
        ([], "give --role and/or --team"),
    ],
)
def test_create_member_refuses_an_unknown_role_or_team(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_member", "rita", *args)
    assert not User.objects.filter(username="rita").exists()


def test_member_service_refuses_an_unknown_role_or_team():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="unknown role"):
        member_create_or_update(username="rita", role="admin")
    with pytest.raises(ValidationError, match="unknown team"):
        member_create_or_update(username="rita", role="analyst", teams=["marketing"])
    assert not User.objects.filter(username="rita").exists()


@pytest.mark.django_db(transaction=True)
def test_create_member_from_the_command_line_with_a_piped_password(test_database_url):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tsops.test_settings",
        "DATABASE_URL": test_database_url,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "create_member", "piper", "--role", "associate",
         "--team", "fraud-security", "--password-stdin"],
        input="piped-passphrase-2024\n", cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user = User.objects.get(username="piper")
    assert user.check_password("piped-passphrase-2024")
    assert set(user.groups.values_list("name", flat=True)) == {"associate", "fraud-security"}


# --- Predicates ------------------------------------------------------------------------------


def test_role_of_names_the_highest_role_and_teams_of_the_specialist_teams(
    associate, analyst, senior, support_agent, platform_account, specialist, outsider
):
    assert role_of(associate) == roles.ASSOCIATE
    assert role_of(analyst) == roles.ANALYST
    assert role_of(senior) == roles.SENIOR
    assert role_of(support_agent) == roles.SUPPORT
    assert role_of(platform_account) == roles.PLATFORM
    assert role_of(specialist) is None
    assert teams_of(specialist) == ["child-safety"]
    assert role_of(outsider) is None and teams_of(outsider) == []
    assert role_of(AnonymousUser()) is None and teams_of(AnonymousUser()) == []

    both = member_create_or_update(username="both", role=roles.ANALYST, teams=["threats"])
    both.groups.add(Group.objects.get(name=roles.SENIOR))
    both = User.objects.get(pk=both.pk)
    assert role_of(both) == roles.SENIOR
    assert teams_of(both) == ["threats"]


def test_capability_predicates_follow_the_groups(
    associate, analyst, senior, support_agent, platform_account, specialist, outsider
):
    assert all(can_use_console(u) for u in (associate, analyst, senior, support_agent, specialist))
    assert not any(can_use_console(u) for u in (platform_account, outsider, AnonymousUser()))
    assert can_view_access_log(senior)
    assert not any(can_view_access_log(u) for u in (associate, analyst, support_agent, outsider))
    assert has_capability(analyst, "take_standard_action")
    assert not has_capability(associate, "take_standard_action")
    assert has_capability(specialist, "work_team_cases")
    assert not has_capability(analyst, "work_team_cases")


def test_a_deactivated_member_loses_every_capability(senior):
    senior.is_active = False
    senior.save()
    senior = User.objects.get(pk=senior.pk)
    assert not can_use_console(senior)
    assert not has_capability(senior, "view_access_log")


def test_only_a_senior_member_may_enter_the_admin_and_loses_it_when_demoted(client):
    call_command("create_member", "sally", "--role", "senior", stdout=io.StringIO())
    assert User.objects.get(username="sally").is_staff
    client.force_login(User.objects.get(username="sally"))
    assert client.get("/admin/").status_code == 200

    call_command("create_member", "sally", "--role", "analyst", stdout=io.StringIO())
    assert not User.objects.get(username="sally").is_staff
    client.force_login(User.objects.get(username="sally"))
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("group", [*roles.ROLES, *roles.TEAMS])
def test_capabilities_from_code_agree_with_the_installed_permissions(group):
    from django.contrib.auth import get_user_model

    from tsops.permissions import capabilities_of

    user = get_user_model().objects.create(username=f"cap-{group}")
    user.groups.add(Group.objects.get(name=group))
    user = get_user_model().objects.get(pk=user.pk)
    from_db = {cap for cap in roles.CAPABILITIES if user.has_perm(f"tsops.{cap}")}
    assert capabilities_of(user) == from_db == roles.GROUP_CAPABILITIES[group]
