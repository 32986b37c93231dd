"""Rollup slices of 15 minutes instead of an hour: the five-minute run recomputes about a
hundredth of a day instead of a twenty-fourth. Tables, columns and constraints renamed."""

from django.db import migrations, models

FACTS = {
    "Case": ["queue_id", "severity", "reason", "team"],
    "Action": ["queue_id", "severity", "reason", "team", "action_type", "analyst_id"],
    "Analyst": ["analyst_id", "queue_id", "severity", "reason", "team"],
    "Detector": ["detector", "queue_id", "severity", "reason", "team"],
}


def _operations():
    for name, key in FACTS.items():
        old, new = f"{name}Hourly", f"{name}Slice"
        low = name.lower()
        yield migrations.RemoveConstraint(model_name=old.lower(), name=f"metrics_{low}hourly_key")
        yield migrations.RenameModel(old_name=old, new_name=new)
        yield migrations.RenameField(
            model_name=new.lower(), old_name="hour", new_name="slice_start"
        )
        yield migrations.AlterField(
            model_name=new.lower(),
            name="slice_start",
            field=models.DateTimeField(help_text="Start of the 15-minute slice"),
        )
        yield migrations.RenameIndex(
            model_name=new.lower(),
            new_name=f"metrics_{low}slice_day",
            old_name=f"metrics_{low}hourly_day",
        )
        yield migrations.AddConstraint(
            model_name=new.lower(),
            constraint=models.UniqueConstraint(
                fields=["slice_start", *key], name=f"metrics_{low}slice_key"
            ),
        )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_event_index")]

    operations = [
        # The slices of an hour-grained table are not 15-minute slices: start empty (rebuild).
        migrations.RunSQL(
            "DELETE FROM metrics_casehourly; DELETE FROM metrics_actionhourly; "
            "DELETE FROM metrics_analysthourly; DELETE FROM metrics_detectorhourly; "
            "DELETE FROM metrics_casedaily; DELETE FROM metrics_actiondaily; "
            "DELETE FROM metrics_analystdaily; DELETE FROM metrics_detectordaily; "
            "DELETE FROM metrics_rollupday; DELETE FROM metrics_rollupstate;",
            migrations.RunSQL.noop,
        ),
        *_operations(),
        migrations.RenameField(
            model_name="rollupstate", old_name="last_run_hours", new_name="last_run_slices"
        ),
        migrations.AlterField(
            model_name="rollupstate",
            name="last_run_slices",
            field=models.IntegerField(default=0, help_text="Slices recomputed"),
        ),
    ]
