"""On PostgreSQL the database itself refuses UPDATE and DELETE of audit rows, as on the ledger
(wallet 0002): not even raw SQL or a future bug can rewrite who changed what. SQLite relies on
the model and queryset guards."""

from django.db import migrations

TABLE = "audit_auditevent"

FUNCTION = """
CREATE OR REPLACE FUNCTION payme_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION payme_refuse_audit_change()"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
    schema_editor.execute("DROP FUNCTION IF EXISTS payme_refuse_audit_change()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_audit_event")]

    operations = [migrations.RunPython(forwards, backwards)]
