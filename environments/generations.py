"""Generations: replace an environment's whole data with another's (or its own) as of a moment,
inside the caller's transaction (a restore, a copy, an undo: backups.engine keeps the
operation around it). The store's own module, like environments.store for row writes.

  1. end the target's live generation at `ts` and start a new one (two row changes, however
     many rows the target holds: old versions are never rewritten);
  2. for each source table live at the moment, make the new generation's table a *branch* of
     it: it reads the source table as of the moment and stores only what is written to it
     later (environments.lineage). No row is copied, so this takes the same time at any size.
     Only a source table already lineage.MAX_DEPTH deep is copied instead: one
     `INSERT ... SELECT` of its rows through its layers, on PostgreSQL into a new partition
     with no index yet, whose indexes are built (and statistics taken) once the rows are in
     (environments.layout). A schema-only copy makes the tables without rows.
The new tables' stored figures come from the source's TableCount at the moment, or from the
rows as they go in. Rows never pass through Python.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from environments import layout, lineage, store
from environments.models import DataTable, Environment, Generation, RowVersion, TableCount


def should_branch(table: DataTable) -> bool:
    """Whether a replacement branches from `table` (else it copies its rows): a seam for
    tests that compare the two."""
    return table.depth < lineage.MAX_DEPTH


@dataclass(frozen=True)
class Plan:
    """What a replacement will make: the source's tables live at the moment, their figures."""

    source: Environment
    moment: datetime.datetime
    tables: list[DataTable]
    figures: dict[int, tuple[int, int]]  # {table pk: (rows, bytes) at the moment}
    schema_only: bool

    @property
    def rows_total(self) -> int:
        return 0 if self.schema_only else sum(rows for rows, _ in self.figures.values())

    @property
    def bytes_copied(self) -> int:
        """What it will store anew: the rows of the tables it copies; it stores nothing for
        those it branches from until they are written (what capacity reserves)."""
        if self.schema_only:
            return 0
        return sum(self.figures[t.pk][1] for t in self.tables if not should_branch(t))


def plan_replace(
    *, source: Environment, moment: datetime.datetime, schema_only: bool = False
) -> Plan:
    tables = list(store.as_of(source, moment).tables().order_by("name"))
    return Plan(
        source=source,
        moment=moment,
        tables=tables,
        figures=store.figures_at(tables, moment),
        schema_only=schema_only,
    )


# Told after each table (tables done, rows so far, the source table); and once before the
# copied tables' indexes are built, the last long step.
TableDone = Callable[[int, int, DataTable], None]


def generation_replace(
    *,
    target: Environment,
    plan: Plan,
    ts: datetime.datetime,
    reason: str,
    table_done: TableDone,
    finishing: Callable[[], None],
) -> tuple[Generation, int]:
    """In the caller's transaction, with the target's row locked: end the target's live
    generation at `ts` and start one holding `plan`. Returns it and the rows its tables hold."""
    Generation.objects.filter(environment=target, valid_to__isnull=True).update(valid_to=ts)
    generation = Generation.objects.create(environment=target, valid_from=ts, reason=reason[:200])
    rows_total = 0
    loader = layout.Loader()
    empty = []  # partitions to make empty, for the versions written to them later
    for done, table in enumerate(plan.tables, start=1):
        new_table = DataTable(
            generation=generation,
            name=table.name,
            display_name=table.display_name,
            columns=table.columns,
            valid_from=ts,
            made_by=generation.reason,
        )
        if plan.schema_only:  # its columns, none of its rows
            new_table.save()
            empty.append(new_table.pk)
            rows = size = 0
        elif should_branch(table):
            rows, size = plan.figures[table.pk]
            new_table.base, new_table.base_at, new_table.depth = table, plan.moment, table.depth + 1
            new_table.live_rows = new_table.shared_rows = rows
            new_table.live_bytes = new_table.shared_bytes = size
            new_table.save()
            empty.append(new_table.pk)
        else:
            new_table.save()
            rows, size = _copy_rows(loader, new_table, table, ts, plan.moment)
            DataTable.objects.filter(pk=new_table.pk).update(live_rows=rows, live_bytes=size)
        if rows:
            TableCount.objects.create(table=new_table, at=ts, rows=rows, bytes=size)
        rows_total += rows
        table_done(done, rows_total, table)
    layout.add_partitions(empty)
    finishing()
    loader.finish()  # the copied partitions' indexes and statistics, then attached
    return generation, rows_total


def generation_end(*, environment: Environment, at: datetime.datetime) -> None:
    """The environment holds no data from `at` on (removed for good); its history stays for
    purge to delete, but what restored tables elsewhere still read."""
    Generation.objects.filter(environment=environment, valid_to__isnull=True).update(valid_to=at)


def copy_rows_sql(into: str, table: DataTable, moment) -> tuple[str, list]:
    """The INSERT of `table`'s rows at `moment` (read through its layers) into `into`, and
    its parameters after the new table's id and timestamp."""
    q = connection.ops.quote_name
    select, params = lineage.copy_sql(table, moment)
    insert = (
        f"INSERT INTO {into} ({q('table_id')}, {q('key')}, {q('valid_from')}, {q('valid_to')}, "
        f"{q('values')}, {q('size')}, {q('title')}) "
        f"SELECT %s, {q('key')}, %s, NULL, {q('values')}, {q('size')}, {q('title')} "
        f"FROM ({select}) AS live"
    )
    if not layout.partitioned():
        # SQLite inserts into the indexed table: in key order, at the end of its index.
        return f"{insert} ORDER BY {q('key')}", params
    # PostgreSQL loads a bare partition and builds its indexes afterwards, each with a sort of
    # its own: the rows go in as they are read (one scan of the source's partition, no sort).
    # The new table's figures come from the rows as they go in, in the same statement.
    return (
        f"WITH copied AS ({insert} RETURNING {q('size')}) "
        f"SELECT COUNT(*), COALESCE(SUM({q('size')}), 0) FROM copied"
    ), params


def _copy_rows(
    loader: layout.Loader, new_table: DataTable, table: DataTable, ts, moment
) -> tuple[int, int]:
    """Copy `table`'s rows live at `moment` into `new_table`; returns (rows, bytes)."""
    adapt = connection.ops.adapt_datetimefield_value
    sql, params = copy_rows_sql(loader.target(new_table.pk), table, moment)
    with connection.cursor() as cursor:
        cursor.execute(sql, [new_table.pk, adapt(ts), *params])
        if connection.vendor == "postgresql":
            rows, size = cursor.fetchone()
        else:  # SQLite: no RETURNING inside a WITH; the new table is small and just written
            cursor.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM {RowVersion._meta.db_table} "
                "WHERE table_id = %s",
                [new_table.pk],
            )
            rows, size = cursor.fetchone()
    return rows, size


def table_replace(
    changes: store.ChangeSet, *, current: DataTable, source: DataTable, moment, made_by: str
) -> DataTable:
    """Inside a write transaction: replace the live table `current` with `source` (a table of
    the same environment, live at `moment`) as it was at `moment`, the way a restore replaces a
    whole environment: the new table branches from `source` (no row copied, the same time at
    any size) unless `source` is too deep, when its rows are copied. `current`'s own rows end
    now, as a dropped table's do. Returns the new table."""
    changes.drop_table(current)
    new_table = DataTable(
        generation=changes.generation,
        name=current.name,
        display_name=current.display_name,
        columns=source.columns,
        valid_from=changes.ts,
        made_by=made_by[:200],
    )
    rows, size = store.figures_at([source], moment)[source.pk]
    if should_branch(source):
        new_table.base, new_table.base_at, new_table.depth = source, moment, source.depth + 1
        new_table.live_rows = new_table.shared_rows = rows
        new_table.live_bytes = new_table.shared_bytes = size
        new_table.save()
        layout.add_partitions([new_table.pk])
    else:
        loader = layout.Loader()
        new_table.save()
        rows, size = _copy_rows(loader, new_table, source, changes.ts, moment)
        DataTable.objects.filter(pk=new_table.pk).update(live_rows=rows, live_bytes=size)
        loader.finish()
    if rows:
        TableCount.objects.create(table=new_table, at=changes.ts, rows=rows, bytes=size)
    changes.changes += rows + current.live_rows
    return new_table
