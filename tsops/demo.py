"""The demo data set: members for every role, and each app's demo content.

Apps add steps with :func:`step`; ``manage.py seed_demo`` runs them in order.
Demo logins exist only outside production (the command refuses to run there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from tsops import roles


@dataclass(frozen=True)
class DemoMember:
    username: str
    role: str | None
    teams: tuple[str, ...] = ()
    superuser: bool = False
    first_name: str = ""


DEMO_MEMBERS: tuple[DemoMember, ...] = (
    DemoMember("associate", roles.ASSOCIATE, first_name="Ada"),
    DemoMember("associate2", roles.ASSOCIATE, first_name="Ari"),
    DemoMember("analyst", roles.ANALYST, first_name="Noor"),
    DemoMember("analyst2", roles.ANALYST, first_name="Mateo"),
    DemoMember("analyst3", roles.ANALYST, first_name="Yuki"),
    DemoMember("senior", roles.SENIOR, first_name="Grace", superuser=True),
    # A second lead: QA disputes are adjudicated by a senior other than the reviewer.
    DemoMember("senior2", roles.SENIOR, first_name="Priya"),
    DemoMember("support", roles.SUPPORT, first_name="Sam"),
    DemoMember("platform", roles.PLATFORM, first_name="Platform"),
    DemoMember("childsafety", None, ("child-safety",), first_name="Chen"),
    DemoMember("threats", None, ("threats",), first_name="Tomas"),
    DemoMember("fraud", None, ("fraud-security",), first_name="Fatima"),
    DemoMember("legal", None, ("legal",), first_name="Lena"),
)

SeedStep = Callable[..., None]
SEED_STEPS: list[tuple[str, SeedStep]] = []
# Steps that read what every other step wrote (the metrics rollups): they stay at the end
# whatever order the apps' demo modules are imported in.
_LAST_STEPS: set[str] = set()


def step(name: str, *, before: str | None = None, last: bool = False):
    """Register a seeding step: ``fn(stdout=..., scale=...)``; ``before`` names a step
    registered earlier that it must run ahead of; ``last`` keeps the step after every step
    registered without it, even those registered later (e.g. the metrics rollups, which read
    what every other step wrote)."""

    def decorator(fn: SeedStep) -> SeedStep:
        names = [registered for registered, _ in SEED_STEPS]
        if last:
            _LAST_STEPS.add(name)
            position = len(SEED_STEPS)
        else:
            firsts_last = [i for i, registered in enumerate(names) if registered in _LAST_STEPS]
            position = firsts_last[0] if firsts_last else len(SEED_STEPS)
        if before in names:
            position = min(position, names.index(before))
        SEED_STEPS.insert(position, (name, fn))
        return fn

    return decorator


JUNIOR = "analyst3"
DAYS_JUNIOR = 18


@step("members")
def seed_members(*, stdout, scale: float) -> None:
    from tsops.services import member_create_or_update

    for member in DEMO_MEMBERS:
        user = member_create_or_update(
            username=member.username,
            role=member.role,
            teams=member.teams,
            password=settings.DEMO_PASSWORD,
            first_name=member.first_name,
            email=f"{member.username}@tsops.example",
            validate=False,
        )
        if member.superuser and not user.is_superuser:
            user.is_superuser = user.is_staff = True
            user.save(update_fields=["is_superuser", "is_staff"])
    # A team that has worked together for a while, and one analyst in their third week (whose
    # decisions QA's "first 30 days" rule always samples).
    now = timezone.now()
    users = get_user_model().objects.filter(username__in=[m.username for m in DEMO_MEMBERS])
    users.exclude(username=JUNIOR).update(date_joined=now - timedelta(days=400))
    users.filter(username=JUNIOR).update(date_joined=now - timedelta(days=DAYS_JUNIOR))
    stdout.write(f"  {len(DEMO_MEMBERS)} demo members, password {settings.DEMO_PASSWORD!r}\n")
