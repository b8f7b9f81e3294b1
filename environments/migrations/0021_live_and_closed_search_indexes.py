"""On PostgreSQL, two indexes of the versions.

The live versions by key: a row as it is now is one entry, however many versions it has had
(the primary key, by key and start, holds them all side by side, and each of them had to be
fetched to learn which one is live). Pages of rows now, a put-back's reads of the rows now
and the exports read it.

A search index of the closed versions, like the live versions' (migration 0010).
A search by title as of a past moment reads the versions live then in two parts (environments.
lineage.layer_querysets): those still live, through the live versions' search index, and those
closed since the moment. When most rows changed since, the second part is most of the table;
this index reads it as a range of titles too, so the search costs the same at any moment.
Made on the partitioned table, it is made on every partition (for a large store this takes a
while: about 20 s for 8,000,000 versions on a 2-core machine). Nothing changes on SQLite."""

from django.db import migrations

TABLE = "environments_rowversion"
NAME = "environments_rowversion_closed_search"
LIVE = "environments_rowversion_live"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX {NAME} ON {TABLE} (table_id, (upper((title)::text) COLLATE "C"), key) '
            "WHERE valid_to IS NOT NULL"
        )
        schema_editor.execute(
            f"CREATE INDEX {LIVE} ON {TABLE} (table_id, key) WHERE valid_to IS NULL"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX {NAME}")
        schema_editor.execute(f"DROP INDEX {LIVE}")


class Migration(migrations.Migration):
    dependencies = [("environments", "0020_tombstones_for_every_delete")]

    operations = [migrations.RunPython(create, drop)]
