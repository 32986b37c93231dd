"""The appeals queue and its SLA policy, installed by a data migration."""

from __future__ import annotations

APPEAL_HOURS = 72


def install_appeal_queues(apps) -> None:
    sla_model = apps.get_model("cases", "SLAPolicy")
    queue_model = apps.get_model("cases", "Queue")
    minutes = APPEAL_HOURS * 60
    sla, _ = sla_model.objects.get_or_create(
        name="Appeals",
        defaults={
            f"{kind}_p{sev}": minutes for sev in range(4) for kind in ("first_action", "resolve")
        },
    )
    queue_model.objects.get_or_create(
        slug="appeals",
        defaults={
            "name": "Appeals",
            "kind": "appeals",
            "allowed_roles": ["analyst", "senior"],
            "sla_policy": sla,
        },
    )
