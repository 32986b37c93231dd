from django.db import migrations


def install(apps, schema_editor):
    from appeals.setup import install_appeal_queues

    install_appeal_queues(apps)


class Migration(migrations.Migration):
    dependencies = [("appeals", "0001_initial"), ("cases", "0003_queue_kind")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
