from django.db import migrations


def install(apps, schema_editor):
    from tsops.roles import install_roles

    install_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("tsops", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
