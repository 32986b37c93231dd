from django.db import migrations


def install(apps, schema_editor):
    from qa.setup import install_default_rubric

    install_default_rubric(apps)


class Migration(migrations.Migration):
    dependencies = [("qa", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
