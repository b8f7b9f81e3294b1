"""On PostgreSQL: a second search index, of the closed versions. A restored table reads its base
as it was at a past moment (environments.lineage), and the rows that changed since are closed
versions there: a search of the base reads the live ones from the live versions' index and these
from this one, each in (upper(title), key) order, instead of reading the whole partition. Made
on the partitioned table, it is made on every partition. Nothing changes on SQLite."""

from django.db import migrations

TABLE = "environments_rowversion"
NAME = "environments_rowversion_search_closed"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX {NAME} ON {TABLE} (table_id, (upper((title)::text) COLLATE "C"), key) '
            "WHERE valid_to IS NOT NULL"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX {NAME}")


class Migration(migrations.Migration):
    dependencies = [("environments", "0011_lineage")]

    operations = [migrations.RunPython(create, drop)]
