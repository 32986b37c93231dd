from django.db import migrations


def install(apps, schema_editor):
    from tsops.roles import install_roles

    install_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("tsops", "0010_roles_investigations")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
