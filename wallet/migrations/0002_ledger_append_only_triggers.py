"""On PostgreSQL, the database itself refuses UPDATE and DELETE of ledger rows (wallet entries
and stock movements), so not even raw SQL or a future bug can rewrite history. SQLite relies
on the model and queryset guards."""

from django.db import migrations

TABLES = ("wallet_walletentry", "sales_stockmovement")

FUNCTION = """
CREATE OR REPLACE FUNCTION payme_refuse_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION payme_refuse_ledger_change()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS payme_refuse_ledger_change()")


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0001_initial"),
        ("sales", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
