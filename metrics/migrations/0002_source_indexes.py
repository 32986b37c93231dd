"""Indexes on the source tables that let a rollup run find what changed, and recompute one
hour, without scanning whole tables. Built CONCURRENTLY: no write is blocked meanwhile.

They live here, with the rollups that need them, rather than in the source apps' models.
"""

from django.db import migrations

INDEXES = [
    ("metrics_src_case_updated", "cases_case", "(updated_at)", ""),
    ("metrics_src_case_first_action", "cases_case", "(first_action_at)", ""),
    ("metrics_src_case_resolved", "cases_case", "(resolved_at)", ""),
    ("metrics_src_event_reopened", "cases_caseevent", "(at)", "WHERE kind = 'CASE_REOPENED'"),
    ("metrics_src_action_updated", "enforcement_enforcementaction", "(updated_at)", ""),
    (
        "metrics_src_action_reversed",
        "enforcement_enforcementaction",
        "(ended_at)",
        "WHERE status = 'reversed'",
    ),
    ("metrics_src_appeal_updated", "appeals_appeal", "(updated_at)", ""),
    ("metrics_src_appeal_filed", "appeals_appeal", "(filed_at)", ""),
    ("metrics_src_escalation_updated", "escalations_escalation", "(updated_at)", ""),
    ("metrics_src_escalation_raised", "escalations_escalation", "(raised_at)", ""),
    ("metrics_src_escalation_acked", "escalations_escalation", "(acknowledged_at)", ""),
    ("metrics_src_qareview_updated", "qa_qareview", "(updated_at)", ""),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0001_initial"),
        ("cases", "0005_routingrule_escalate_team"),
        ("enforcement", "0005_endpoint_team"),
        ("appeals", "0002_appeals_queue"),
        ("escalations", "0002_install_teams"),
        ("qa", "0002_default_rubric"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {columns} {where}",
            f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        )
        for name, table, columns, where in INDEXES
    ]
