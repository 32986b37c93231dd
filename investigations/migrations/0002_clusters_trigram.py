"""pg_trgm and a trigram index on the content snapshots, for the cluster job's near-identical
content detector (``snapshot_text % other`` uses the GIN index)."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0001_initial"),
        ("cases", "0011_alter_caselink_kind"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunSQL(
            sql=(
                "CREATE INDEX IF NOT EXISTS cases_subject_snapshot_trgm ON cases_subject "
                "USING gin (snapshot_text gin_trgm_ops) WHERE snapshot_text <> ''"
            ),
            reverse_sql="DROP INDEX IF EXISTS cases_subject_snapshot_trgm",
        ),
    ]
