"""The default specialist teams, installed by a data migration (and again after test flushes)."""

from __future__ import annotations

# Child safety and threats handle material nobody else may see: their cases are restricted.
# Fraud & security and legal work cases that stay visible to the queues they came from.
DEFAULT_TEAMS: tuple[tuple[str, str, bool], ...] = (
    ("child-safety", "Child safety", True),
    ("threats", "Threats", True),
    ("fraud-security", "Fraud & security", False),
    ("legal", "Legal", False),
)


def install_teams(apps=None) -> None:
    """Create the default teams when missing; never overwrite what seniors configured."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    team_model = apps.get_model("escalations", "Team")
    for slug, name, restricted in DEFAULT_TEAMS:
        team_model.objects.get_or_create(
            slug=slug, defaults={"name": name, "restricted": restricted}
        )
