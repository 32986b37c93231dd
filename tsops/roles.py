"""Roles, teams, capabilities and API scopes: the single source of truth.

Roles and specialist teams are Django groups. Each capability is a Django
permission (``tsops.<codename>``) held by the groups listed here; the migration
``tsops.0002_install_roles`` (and any later one that calls :func:`install_roles`)
writes exactly this table to the database. Services check capabilities through
the predicates in the apps' ``permissions.py``, never by group name.
"""

from __future__ import annotations

ASSOCIATE = "associate"
ANALYST = "analyst"
SENIOR = "senior"
SUPPORT = "support"
PLATFORM = "platform"

ROLES: tuple[str, ...] = (ASSOCIATE, ANALYST, SENIOR, SUPPORT, PLATFORM)
# When a user holds several roles, the first in this order names them.
ROLE_PRECEDENCE: tuple[str, ...] = (SENIOR, ANALYST, ASSOCIATE, SUPPORT, PLATFORM)
ROLE_LABELS = {
    ASSOCIATE: "Associate",
    ANALYST: "Analyst",
    SENIOR: "Senior lead",
    SUPPORT: "Support agent",
    PLATFORM: "Platform service account",
}

TEAMS: dict[str, str] = {
    "child-safety": "Child safety",
    "threats": "Threats",
    "fraud-security": "Fraud & security",
    "legal": "Legal",
}

CAPABILITIES: dict[str, str] = {
    "use_console": "Sign in to the console",
    "work_standard_queues": "Work the standard queues",
    "work_all_queues": "Work every non-restricted queue",
    "take_low_impact_action": "Remove content, warn, restrict a feature, suspend up to 7 days",
    "take_standard_action": "Take every action up to a 30-day suspension",
    "propose_action": "Propose a higher-impact action for approval",
    "view_pii": "See identifiers unmasked without recording a reason",
    "reveal_pii": "Reveal a masked identifier, recording a reason",
    "decide_appeals": "Decide appeals on others' decisions",
    "raise_escalations": "Escalate a case to a specialist team",
    "approve_actions": "Approve four-eyes actions",
    "run_qa": "Run QA sampling and calibration",
    "review_qa": "Review sampled decisions blind for QA",
    "adjudicate_qa": "Adjudicate QA disputes",
    "configure_operations": "Configure queues, routing, SLA and policies",
    "view_team_metrics": "See team metrics",
    "view_access_log": "Read the access log",
    "export_data": "Export case data and reports",
    "lookup_enforcement": "Look up the enforcement on an account or item",
    "file_appeal": "File an appeal on a user's behalf",
    "push_reports": "Push reports and flags",
    "receive_events": "Receive enforcement events",
    "work_team_cases": "Work the restricted cases escalated to one's team",
    "investigate_accounts": "Open account pages, networks and clusters",
    "run_waves": "Enforce on a cluster's members at once (a wave), within a size limit",
    "run_large_waves": "Run waves over the analysts' size limit and on any queue",
    "open_investigations": "Open and own investigation files above cases",
    "manage_rules": "Write, backtest, shadow and activate detection rules",
}

_ASSOCIATE_CAPS = {
    "use_console",
    "work_standard_queues",
    "take_low_impact_action",
    "propose_action",
    "reveal_pii",
    "investigate_accounts",
}
_ANALYST_CAPS = _ASSOCIATE_CAPS | {
    "run_waves",
    "work_all_queues",
    "take_standard_action",
    "view_pii",
    "decide_appeals",
    "raise_escalations",
    "review_qa",
}
_SENIOR_CAPS = _ANALYST_CAPS | {
    "approve_actions",
    "run_qa",
    "adjudicate_qa",
    "configure_operations",
    "view_team_metrics",
    "view_access_log",
    "export_data",
    "lookup_enforcement",
    "run_large_waves",
    "open_investigations",
    "manage_rules",
}

# Every specialist team, built in or added by a senior, gives its members these.
TEAM_CAPABILITIES = frozenset(
    {
        "use_console",
        "work_team_cases",
        "raise_escalations",
        "decide_appeals",
        "investigate_accounts",
    }
)

GROUP_CAPABILITIES: dict[str, set[str]] = {
    ASSOCIATE: _ASSOCIATE_CAPS,
    ANALYST: _ANALYST_CAPS,
    SENIOR: _SENIOR_CAPS,
    SUPPORT: {"use_console", "lookup_enforcement", "file_appeal"},
    PLATFORM: {"push_reports", "receive_events", "file_appeal"},
    # Specialist teams decide their own restricted cases and the appeals on them.
    **{team: set(TEAM_CAPABILITIES) for team in TEAMS},
}

SCOPES: dict[str, str] = {
    "reports:write": "Push reports and automated flags",
    "cases:read": "Read cases, queues and search",
    "cases:write": "Claim, edit, annotate and decide cases",
    "enforcement:read": "Look up enforcement and statements of reasons",
    "appeals:write": "File appeals",
    "metrics:read": "Read metrics, exports and the access log",
    "qa:read": "Read QA reviews, pass rates and calibration results",
    "qa:write": "Answer and score QA reviews",
    "rules:read": "Read detection rules, their versions, hits and backtests",
    "rules:write": "Write, backtest and change the state of detection rules",
}


_team_cache: tuple[float, dict[str, str]] = (0.0, {})


def team_labels() -> dict[str, str]:
    """Every specialist team's slug and name: the built-in ones and those seniors added
    (read from the escalations Team table, refreshed every 30 seconds)."""
    import time

    global _team_cache
    loaded_at, labels = _team_cache
    if time.monotonic() - loaded_at < 30:
        return labels
    labels = dict(TEAMS)
    from django.apps import apps as global_apps
    from django.db import DatabaseError

    try:
        team_model = global_apps.get_model("escalations", "Team")
        labels.update(dict(team_model.objects.values_list("slug", "name")))
    except (LookupError, DatabaseError):
        # Before the escalations migrations have run there are only the built-in teams.
        return labels
    _team_cache = (time.monotonic(), labels)
    return labels


def forget_teams() -> None:
    """Drop the cached team list (after a senior adds or renames a team)."""
    global _team_cache
    _team_cache = (0.0, {})


def install_roles(apps=None) -> None:
    """Make the groups and their permissions in the database match this module exactly."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    content_type_model = apps.get_model("contenttypes", "ContentType")
    content_type, _ = content_type_model.objects.get_or_create(
        app_label="tsops", model="capability"
    )
    permissions = {}
    for codename, name in CAPABILITIES.items():
        permission, _ = permission_model.objects.update_or_create(
            content_type=content_type, codename=codename, defaults={"name": name[:255]}
        )
        permissions[codename] = permission
    permission_model.objects.filter(content_type=content_type).exclude(
        codename__in=CAPABILITIES
    ).delete()
    for group_name, capabilities in GROUP_CAPABILITIES.items():
        group, _ = group_model.objects.get_or_create(name=group_name)
        group.permissions.set([permissions[c] for c in sorted(capabilities)])
