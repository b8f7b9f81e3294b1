"""Every deletion leaves a tombstone (an own version that ends where it starts, live at no
moment), as a deleted base row in a restored table always did: the Changes page and Deleted
records then find deletions in an index of the tombstones by when they were made, at a cost
that follows the deletions in a range, never the updates around them.

Deletions made before this had none: each version that ended with no version of its key
starting then (and not because its table was dropped) gets its tombstone, titled like it; the
tables' closed-version counts take them in. The versions' index by start gains the key, so a
page of changes reads it in order (newest first, ties by key) without sorting."""

from django.db import migrations

TABLE = "environments_rowversion"
STARTED = "environments_rowversion_started"
TOMBSTONES = "environments_rowversion_tombstones"


def backfill(apps, schema_editor):
    execute = schema_editor.execute
    execute(
        f"""
        INSERT INTO {TABLE} (table_id, key, valid_from, valid_to, "values", size, title)
        SELECT v.table_id, v.key, v.valid_to, v.valid_to, '{{}}', 0, v.title
        FROM {TABLE} v JOIN environments_datatable t ON t.id = v.table_id
        WHERE v.valid_to IS NOT NULL AND v.valid_to > v.valid_from
          AND (t.valid_to IS NULL OR v.valid_to <> t.valid_to)
          AND NOT EXISTS (
            SELECT 1 FROM {TABLE} n
            WHERE n.table_id = v.table_id AND n.key = v.key AND n.valid_from = v.valid_to
          )
        """
    )
    execute(
        f"""
        UPDATE environments_datatable SET closed_versions = (
            SELECT COUNT(*) FROM {TABLE} v
            WHERE v.table_id = environments_datatable.id AND v.valid_to IS NOT NULL
        )
        """
    )


def indexes(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {STARTED}")
    schema_editor.execute(f"CREATE INDEX {STARTED} ON {TABLE} (table_id, valid_from, key)")
    schema_editor.execute(
        f"CREATE INDEX {TOMBSTONES} ON {TABLE} (table_id, valid_from, key) "
        "WHERE valid_to = valid_from"
    )


def indexes_back(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {TOMBSTONES}")
    schema_editor.execute(f"DROP INDEX {STARTED}")
    schema_editor.execute(f"CREATE INDEX {STARTED} ON {TABLE} (table_id, valid_from)")


class Migration(migrations.Migration):
    dependencies = [("environments", "0019_index_of_changes")]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(indexes, indexes_back),
    ]
