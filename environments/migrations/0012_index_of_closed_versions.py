"""On PostgreSQL: an index of the closed versions by when they closed. A restored table reads its
base as it was at a past moment (environments.lineage), in two parts: the base's versions still
live (the primary key and the live versions' search index serve those) and those closed since
that moment, which are only the changes made to the base after it, however long its history:
this index finds them in one short range, for any order the read asks (a key's or a title's),
where the primary key would read the whole partition to learn there are none. Made on the
partitioned table, it is made on every partition. Nothing changes on SQLite."""

from django.db import migrations

TABLE = "environments_rowversion"
NAME = "environments_rowversion_closed"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {NAME} ON {TABLE} (table_id, valid_to) WHERE valid_to IS NOT NULL"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX {NAME}")


class Migration(migrations.Migration):
    dependencies = [("environments", "0011_lineage")]

    operations = [migrations.RunPython(create, drop)]
