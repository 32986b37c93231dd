from django.db import migrations

# The access log is evidence: the database itself refuses to change or remove an entry,
# whoever asks (the admin, a shell, a raw SQL statement).
FORWARD = """
CREATE OR REPLACE FUNCTION tsops_accesslog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'tsops_accesslog is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tsops_accesslog_no_update_delete
    BEFORE UPDATE OR DELETE ON tsops_accesslog
    FOR EACH ROW EXECUTE FUNCTION tsops_accesslog_append_only();

CREATE TRIGGER tsops_accesslog_no_truncate
    BEFORE TRUNCATE ON tsops_accesslog
    FOR EACH STATEMENT EXECUTE FUNCTION tsops_accesslog_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS tsops_accesslog_no_truncate ON tsops_accesslog;
DROP TRIGGER IF EXISTS tsops_accesslog_no_update_delete ON tsops_accesslog;
DROP FUNCTION IF EXISTS tsops_accesslog_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("tsops", "0002_install_roles")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
