"""What this app plugs into the apps below it: intake's evasion check, the case page's panels,
the job view of waves, the vocabularies of its statuses. Each area adds its own line here."""

from __future__ import annotations


def register() -> None:
    """Called once from the app config."""
    from investigations.presentation import register_vocabularies

    register_vocabularies()

    from investigations.selectors.waves import job_can_view, job_describe
    from tsops.jobs import register_job_view

    register_job_view("investigations.wave", can_view=job_can_view, describe=job_describe)

    # Rules read whether an account is in an open cluster, and the cluster's size.
    from detection.inputs import register_account_facts
    from investigations.selectors.clusters import cluster_facts_for_rules

    register_account_facts(cluster_facts_for_rules)

    from cases.intake import register_intake_hook
    from investigations.services.evasion import evasion_check

    register_intake_hook(evasion_check)
