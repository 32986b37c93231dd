from django.db import migrations

# 0002 refuses UPDATE and DELETE of a decision row by row; a TRUNCATE (of the table, or of a
# table it depends on with CASCADE) fires no row trigger and would still wipe every decision.
# The same function refuses it, statement by statement.
FORWARD = """
CREATE TRIGGER enforcement_decision_no_truncate
    BEFORE TRUNCATE ON enforcement_decision
    FOR EACH STATEMENT EXECUTE FUNCTION enforcement_decision_immutable();
"""

BACKWARD = "DROP TRIGGER IF EXISTS enforcement_decision_no_truncate ON enforcement_decision;"


class Migration(migrations.Migration):
    dependencies = [("enforcement", "0005_endpoint_team")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
