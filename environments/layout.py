"""Where row versions live on PostgreSQL: one partition of the versions table per data table.

`environments_rowversion` is partitioned by LIST (table_id), one partition per `DataTable`,
named `environments_rowversion_t<table id>`. Every query of the store names its table, so the
planner reads that one partition: the cost of a page, a count or a restore's copy follows the
rows of the table it reads, never the size of the store. A restore loads each new table into a
partition of its own the way `CREATE TABLE AS` would (no index to maintain while the rows go in,
then each index built in one sorted pass) and attaches it at the end; purge empties a purged
table's partition with TRUNCATE instead of deleting its rows one by one.

Whatever fills a partition in bulk (a restore's copy, a flattening chunk, the demo loader)
analyses it in its own transaction (`analyse`, `analyse_if_grown`): plans must not wait for
autovacuum, which may be off (it is on CI and on many servers under bulk loads), and a
partition without statistics is planned as if each filter kept a few rows, which reads a large
base in full and sorts it to show one page.

On SQLite (the embedded default) the versions are one plain table and these functions do
nothing or fall back to the plain statement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from django.db import DatabaseError, connection, transaction

from environments.models import DataTable, RowVersion

log = logging.getLogger(__name__)


def partitioned() -> bool:
    return connection.vendor == "postgresql"


def _parent() -> str:
    return connection.ops.quote_name(RowVersion._meta.db_table)


def partition_name(table_id: int) -> str:
    return f"{RowVersion._meta.db_table}_t{int(table_id)}"


def _create(cursor, table_id: int) -> str:
    """A standalone table shaped like the versions table, checked to hold only `table_id`'s
    rows (so that attaching it needs no scan). Returns its quoted name."""
    name = connection.ops.quote_name(partition_name(table_id))
    cursor.execute(
        f"CREATE TABLE {name} (LIKE {_parent()} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        f"CHECK ({connection.ops.quote_name('table_id')} = {int(table_id)}))"
    )
    return name


def _attach(cursor, name: str, table_id: int) -> None:
    # SHARE UPDATE EXCLUSIVE on the versions table until commit: reads and writes go on.
    cursor.execute(f"ALTER TABLE {_parent()} ATTACH PARTITION {name} FOR VALUES IN ({table_id})")


def _exists(cursor, table_id: int) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition_name(table_id)])
    return cursor.fetchone()[0]


def add_partitions(table_ids: Iterable[int]) -> None:
    """Give new, empty tables their partitions (their indexes are built empty, at once)."""
    if not partitioned():
        return
    with connection.cursor() as cursor:
        for table_id in table_ids:
            if not _exists(cursor, table_id):
                _attach(cursor, _create(cursor, table_id), table_id)


class Loader:
    """Load new tables' rows, each into a partition of its own, inside the caller's transaction.
    `load()` runs an `INSERT INTO <target> SELECT ...`; `finish()` builds the indexes of every
    loaded partition and attaches them (call it last, just before the commit: attaching holds
    a lock that another table's creation waits for)."""

    def __init__(self) -> None:
        self._loaded: list[tuple[str, int]] = []

    def target(self, table_id: int) -> str:
        """The quoted name to insert `table_id`'s rows into."""
        if not partitioned():
            return _parent()
        with connection.cursor() as cursor:
            if _exists(cursor, table_id):  # left over by an earlier database's table ids
                return _parent()
            name = _create(cursor, table_id)
        self._loaded.append((name, table_id))
        return name

    def finish(self) -> None:
        if not self._loaded:
            return
        with connection.cursor() as cursor:
            indexes = _index_definitions(cursor)
            for name, _ in self._loaded:
                for definition in indexes:
                    cursor.execute(definition.format(table=name))
        # Analysed before they are attached: the first attach holds the versions table's lock
        # (which another restore's attach waits for) until the commit.
        analyse(table_id for _, table_id in self._loaded)
        with connection.cursor() as cursor:
            for name, table_id in self._loaded:
                _attach(cursor, name, table_id)
        self._loaded.clear()


def _index_definitions(cursor) -> Sequence[str]:
    """The versions table's primary key and indexes, as statements for one partition (with a
    `{table}` placeholder): attaching then adopts them instead of building its own."""
    table = RowVersion._meta.db_table
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'p'",
        [table],
    )
    statements = [f"ALTER TABLE {{table}} ADD {row[0]}" for row in cursor.fetchall()]
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT i.indisprimary",
        [table],
    )
    for (definition,) in cursor.fetchall():
        # "CREATE INDEX name ON ONLY public.t USING ..." -> an unnamed index on the partition
        using = definition[definition.index(" USING ") :]
        statements.append(f"CREATE INDEX ON {{table}}{using}")
    return statements


# Statistics are stale once a partition holds this share more rows than they counted, plus a
# few: autovacuum's own defaults (autovacuum_analyze_scale_factor, _threshold), so the plans are
# those a server with autovacuum on would make.
STALE_SHARE = 0.1
STALE_ROWS = 50


def analyse(table_ids: Iterable[int]) -> None:
    """ANALYZE the partitions of tables just filled in bulk, inside the caller's transaction:
    the statistics commit with the rows, so the first read after the commit is planned with
    them, and a worker killed in between leaves neither. ANALYZE samples at most 30,000 rows
    (300 x default_statistics_target) whatever the partition's size, and its lock (SHARE
    UPDATE EXCLUSIVE on that partition only) lets reads and writes go on."""
    if not partitioned():
        # SQLite: one plain table for every version, whose ANALYZE reads it whole; its planner
        # takes the primary key and the indexes without statistics.
        return
    with connection.cursor() as cursor:
        for table_id in table_ids:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(partition_name(table_id))}")


def analyse_if_grown(table_id: int, *, rows: int) -> bool:
    """ANALYZE a partition that now holds `rows` versions if its statistics are stale (see
    STALE_SHARE) or it has none: for a partition filled a chunk at a time, where analysing after
    every chunk would sample up to 30,000 rows each time to change nothing. Returns whether it
    analysed."""
    if not partitioned():
        return False
    with connection.cursor() as cursor:
        # pg_class.reltuples: the rows the last ANALYZE (or VACUUM) counted, -1 if none has.
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
            [partition_name(table_id)],
        )
        found = cursor.fetchone()
    if found is None:
        return False
    (counted,) = found
    if counted >= 0 and rows <= counted * (1 + STALE_SHARE) + STALE_ROWS:
        return False
    analyse([table_id])
    return True


def empty_partitions(table_ids: Iterable[int]) -> None:
    """Empty purged tables' partitions at once (inside the purge's transaction)."""
    if not partitioned():
        return
    with connection.cursor() as cursor:
        for table_id in table_ids:
            if _exists(cursor, table_id):
                cursor.execute(f"TRUNCATE {connection.ops.quote_name(partition_name(table_id))}")


def drop_orphan_partitions() -> int:
    """Drop the partitions whose tables are gone (purged, or deleted with their environment),
    each only if the versions table can be locked within 50 ms: dropping a partition locks the
    table out for everyone for that moment, and a long restore holds it (the drop is then left
    for the next purge). Returns how many were dropped."""
    if not partitioned():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [RowVersion._meta.db_table],
        )
        prefix = partition_name(0)[:-1]
        ids = {int(name[len(prefix) :]) for (name,) in cursor.fetchall() if name.startswith(prefix)}
    ids -= set(DataTable.objects.filter(pk__in=ids).values_list("pk", flat=True))
    dropped = 0
    for table_id in sorted(ids):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '50ms'")
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(partition_name(table_id))}")
            dropped += 1
        except DatabaseError as exc:
            log.info("The partition of table %s is left for the next purge: %s", table_id, exc)
    return dropped
