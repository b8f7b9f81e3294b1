"""Indexes of the versions by when they start and (on SQLite) by when they end: the Changes
page (environments.changelog) reads the changes between two moments as two index ranges per
table, so that its cost follows the changes in the range, never the table's size. PostgreSQL
already has the closed versions by when they ended (migration 0012); made on the partitioned
table, an index is made on every partition, and a restore's new partitions copy it."""

from django.db import migrations

TABLE = "environments_rowversion"
STARTED = "environments_rowversion_started"
ENDED = "environments_rowversion_ended"


def create(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX {STARTED} ON {TABLE} (table_id, valid_from)")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {ENDED} ON {TABLE} (table_id, valid_to) WHERE valid_to IS NOT NULL"
        )


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {STARTED}")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"DROP INDEX {ENDED}")


class Migration(migrations.Migration):
    dependencies = [("environments", "0018_tables_made_by_restores")]

    operations = [migrations.RunPython(create, drop)]
