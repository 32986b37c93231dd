from django.db import migrations


def install(apps, schema_editor):
    from cases.taxonomy import install_taxonomy

    install_taxonomy(apps)


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
