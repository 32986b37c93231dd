"""The report-reason taxonomy and the default queues, shipped as data.

A data migration loads these into ``ReportReason``, ``Queue`` and ``SLAPolicy``
rows; from then on seniors edit them in the admin. Severity is 0 (P0, critical)
to 3 (P3, low). ``dsa_category`` is the statement-of-reasons category of the
EU DSA transparency database.
"""

from __future__ import annotations

# Minutes until first action / resolution per severity (DESIGN.md defaults).
DEFAULT_SLA = {
    0: (15, 60),
    1: (60, 8 * 60),
    2: (8 * 60, 24 * 60),
    3: (24 * 60, 72 * 60),
}

STANDARD_ROLES = ["associate", "analyst", "senior"]
ANALYST_ROLES = ["analyst", "senior"]

# slug: (name, allowed roles, restricted team or "")
QUEUES: dict[str, tuple[str, list[str], str]] = {
    "spam": ("Spam & platform abuse", STANDARD_ROLES, ""),
    "fraud": ("Scams, fraud & account takeover", ANALYST_ROLES, ""),
    "harassment": ("Harassment & hate", STANDARD_ROLES, ""),
    "threats-triage": ("Violence & threats triage", ANALYST_ROLES, ""),
    "self-harm": ("Self-harm", ANALYST_ROLES, ""),
    "impersonation": ("Impersonation", STANDARD_ROLES, ""),
    "privacy": ("Doxxing & privacy", ANALYST_ROLES, ""),
    "ip-legal": ("Intellectual property", STANDARD_ROLES, ""),
    "illegal-goods": ("Illegal goods", ANALYST_ROLES, ""),
    "misinformation": ("Misinformation", STANDARD_ROLES, ""),
    "general": ("General", STANDARD_ROLES, ""),
    "child-safety": ("Child safety (restricted)", [], "child-safety"),
}

# code: (label, default queue, default severity, DSA category, restricted)
REASONS: dict[str, tuple[str, str, int, str, bool]] = {
    "spam": ("Spam", "spam", 3, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", False),
    "scam_fraud": ("Scam or fraud", "fraud", 1, "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", False),
    "harassment": (
        "Harassment or bullying",
        "harassment",
        2,
        "STATEMENT_CATEGORY_CYBER_VIOLENCE",
        False,
    ),
    "hate": (
        "Hateful conduct",
        "harassment",
        2,
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        False,
    ),
    "violent_threat": ("Violent threat", "threats-triage", 0, "STATEMENT_CATEGORY_VIOLENCE", False),
    "child_safety": (
        "Child safety",
        "child-safety",
        0,
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        True,
    ),
    "self_harm": ("Self-harm or suicide", "self-harm", 1, "STATEMENT_CATEGORY_SELF_HARM", False),
    "impersonation": (
        "Impersonation",
        "impersonation",
        2,
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        False,
    ),
    "account_takeover": (
        "Account takeover",
        "fraud",
        1,
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        False,
    ),
    "doxxing": (
        "Doxxing (private information)",
        "privacy",
        1,
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        False,
    ),
    "ip_infringement": (
        "Intellectual property infringement",
        "ip-legal",
        3,
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        False,
    ),
    "illegal_goods": (
        "Illegal or unsafe goods",
        "illegal-goods",
        1,
        "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
        False,
    ),
    "misinformation": (
        "Misinformation",
        "misinformation",
        2,
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        False,
    ),
    "other": ("Other", "general", 3, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", False),
}


def install_taxonomy(apps) -> None:
    """Create the default SLA policy, queues and reasons (existing rows are left as edited)."""
    sla_model = apps.get_model("cases", "SLAPolicy")
    queue_model = apps.get_model("cases", "Queue")
    reason_model = apps.get_model("cases", "ReportReason")
    sla, _ = sla_model.objects.get_or_create(
        name="Default",
        defaults={
            f"{kind}_p{sev}": minutes
            for sev, pair in DEFAULT_SLA.items()
            for kind, minutes in zip(("first_action", "resolve"), pair, strict=True)
        },
    )
    queues = {}
    for slug, (name, allowed, team) in QUEUES.items():
        queues[slug], _ = queue_model.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "allowed_roles": allowed, "team": team, "sla_policy": sla},
        )
    for code, (label, queue, severity, category, restricted) in REASONS.items():
        reason_model.objects.get_or_create(
            code=code,
            defaults={
                "label": label,
                "default_queue": queues[queue],
                "default_severity": severity,
                "dsa_category": category,
                "restricted": restricted,
                "restricted_team": QUEUES[queue][2] if restricted else "",
            },
        )
