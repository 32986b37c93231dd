"""An index on when reports were received (the transparency report counts a period's
notices). Built CONCURRENTLY: intake is not blocked while it builds on a large table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("cases", "0007_report_source_trusted_flagger"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="report",
            index=models.Index(fields=["received_at"], name="report_received_at"),
        ),
    ]
