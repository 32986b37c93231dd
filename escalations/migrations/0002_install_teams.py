from django.db import migrations


def install(apps, schema_editor):
    from escalations.setup import install_teams

    # child-safety and threats are restricted; fraud-security and legal are not.
    install_teams(apps)


class Migration(migrations.Migration):
    dependencies = [("escalations", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
