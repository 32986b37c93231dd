"""The incremental rollup finds work by event time, not by ``updated_at``: a resolution
recomputes the hour it happened in, not every hour of the case. It needs the timeline
events that change a case's dimensions (queue, severity, reason, restriction) and the
reopens by time; it no longer needs ``updated_at`` indexes on the large tables (which
every claim and decision would have to maintain)."""

from django.db import migrations

DIMENSION_EVENTS = (
    "CASE_REOPENED",
    "CASE_MOVED",
    "CASE_SEVERITY_CHANGED",
    "CASE_SEVERITY_RAISED",
    "CASE_RESTRICTED",
    "CASE_UNRESTRICTED",
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("metrics", "0002_source_indexes")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS metrics_src_event_changes "
            "ON cases_caseevent (at) WHERE kind IN ("
            + ", ".join(f"'{kind}'" for kind in DIMENSION_EVENTS)
            + ")",
            "DROP INDEX CONCURRENTLY IF EXISTS metrics_src_event_changes",
        ),
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS metrics_src_event_reopened",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS metrics_src_event_reopened "
            "ON cases_caseevent (at) WHERE kind = 'CASE_REOPENED'",
        ),
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS metrics_src_case_updated",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS metrics_src_case_updated "
            "ON cases_case (updated_at)",
        ),
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS metrics_src_action_updated",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS metrics_src_action_updated "
            "ON enforcement_enforcementaction (updated_at)",
        ),
    ]
