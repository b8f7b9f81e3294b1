"""On PostgreSQL: the data browser's search index orders upper(title) by the C collation instead
of text_pattern_ops. Both order byte by byte, but the ORM's plain <, >, ORDER BY and LIKE 'X%'
on `Collate(Upper("title"), "C")` read this one (environments.row_pages). Made on the
partitioned table, it is made on every partition. Nothing changes on SQLite."""

from django.db import migrations

TABLE = "environments_rowversion"
NAME = "environments_rowversion_search"


def _search_index(title: str) -> str:
    return f"CREATE INDEX {NAME} ON {TABLE} (table_id, {title}, key) WHERE valid_to IS NULL"


def _replace_index(title: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP INDEX {NAME}")  # and each partition's
        schema_editor.execute(_search_index(title))

    return run


class Migration(migrations.Migration):
    dependencies = [("environments", "0009_partition_row_versions")]

    operations = [
        migrations.RunPython(
            _replace_index('(upper((title)::text) COLLATE "C")'),
            _replace_index("upper((title)::text) text_pattern_ops"),
        )
    ]
