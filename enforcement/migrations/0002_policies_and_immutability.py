from django.db import migrations

# A decision is evidence: once made it never changes (a reopened case gets a new one).
FORWARD = """
CREATE OR REPLACE FUNCTION enforcement_decision_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'enforcement_decision is immutable: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER enforcement_decision_no_update_delete
    BEFORE UPDATE OR DELETE ON enforcement_decision
    FOR EACH ROW EXECUTE FUNCTION enforcement_decision_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS enforcement_decision_no_update_delete ON enforcement_decision;
DROP FUNCTION IF EXISTS enforcement_decision_immutable();
"""


def install(apps, schema_editor):
    from enforcement.policy_data import install_policies

    install_policies(apps)


class Migration(migrations.Migration):
    dependencies = [("enforcement", "0001_initial")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
