"""On PostgreSQL: the versions table becomes partitioned by table (see environments.layout),
with the data browser's search index on every partition. Nothing changes on SQLite."""

from django.db import migrations

TABLE = "environments_rowversion"
OLD = "environments_rowversion_unpartitioned"
SEARCH_INDEX = (
    f"CREATE INDEX environments_rowversion_search ON {TABLE} "
    "(table_id, upper((title)::text) text_pattern_ops, key) WHERE valid_to IS NULL"
)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    DataTable = apps.get_model("environments", "DataTable")
    run = schema_editor.execute
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    run(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
    run(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY LIST (table_id)"
    )
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (table_id, key, valid_from)")
    run(SEARCH_INDEX)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT table_id FROM {OLD}")
        ids = {row[0] for row in cursor.fetchall()}
    ids |= set(DataTable.objects.values_list("pk", flat=True))
    for table_id in sorted(ids):
        run(f"CREATE TABLE {TABLE}_t{table_id} PARTITION OF {TABLE} FOR VALUES IN ({table_id})")
    run(f"INSERT INTO {TABLE} SELECT * FROM {OLD} ORDER BY table_id, key, valid_from")
    run(f"DROP TABLE {OLD}")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    run(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
    run(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    run(f"INSERT INTO {TABLE} SELECT * FROM {OLD} ORDER BY table_id, key, valid_from")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (table_id, key, valid_from)")
    run(f"DROP TABLE {OLD}")  # its partitions go with it


class Migration(migrations.Migration):
    dependencies = [("environments", "0008_row_title")]

    operations = [migrations.RunPython(partition, unpartition)]
