"""The store's side of export archives (backups.archives writes and reads the file): an
environment's rows at a moment read out as JSON lines, and an archive's tables loaded into a new
environment. The moment rules are the data browser's (data_reads): inside the window, not in
the future."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator

from django.db import connection, transaction
from django.db.models import F, Func, QuerySet, TextField

from environments import csv_export, data_reads, lineage, loading
from environments.loading import ArchiveTable, UnknownField
from environments.models import DataTable, Environment

# Rows read a statement, each from where the last one stopped (keyset).
CHUNK_ROWS = 10_000

__all__ = ["ArchiveTable", "UnknownField", "checked_moment", "load", "row_lines", "tables_at"]

latest = data_reads.latest
when = data_reads.when
stamp = csv_export.stamp
ReadRefused = data_reads.ReadRefused


def checked_moment(
    environment: Environment, moment: datetime.datetime | None, *, now: datetime.datetime
) -> datetime.datetime:
    """`moment` (None: `now`) if the environment's history can be read then; else refused
    with the reason (before its window, before it existed, in the future, not backed up)."""
    return data_reads.moment_to_read(environment, moment, now=now) or now


def tables_at(environment: Environment, moment: datetime.datetime) -> list[DataTable]:
    """The environment's tables at `moment`, by name."""
    return list(data_reads.snapshot(environment, moment).tables().order_by("name", "id"))


class _Line(Func):
    """A row's JSON line, made by the database: `{"key":<the key as JSON>,"values":<the values
    as stored>}`. Python then only encodes it: a row is never decoded and encoded again."""

    output_field = TextField()

    def __init__(self):
        super().__init__(F("key"), F("values"))

    def as_sql(self, compiler, connection, **extra):
        key, key_params = compiler.compile(self.source_expressions[0])
        values, values_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            key, values = f"to_json({key})::text", f"{values}::text"
        else:
            key = f"json_quote({key})"
        sql = f"""('{{"key":' || {key} || ',"values":' || {values} || '}}')"""
        return sql, (*key_params, *values_params)


def row_lines(table: DataTable, moment: datetime.datetime) -> Iterator[tuple[bytes, int]]:
    """Each row of the table at `moment` as its JSON line (`{"key": ..., "values": {...}}`,
    made by the database) and its stored size, in key order.

    A table that stores all its rows is read in one statement, as plain tuples, a chunk at a
    time from a server-side cursor: on PostgreSQL inside a transaction of its own (one snapshot)
    and planned for the whole result (cursor_tuple_fraction 1: a scan and a sort, as COPY would
    do it, not the index walk a cursor is planned for by default, which visits every older
    version of each key too: three times slower on a table with history). A restored table's
    layers are merged by lineage.Rows, CHUNK_ROWS a statement from where the last stopped."""
    rows = lineage.rows(table, moment).annotate(line=_Line())
    if isinstance(rows, QuerySet):
        yield from _one_statement(rows.values_list("line", "size"))
        return
    rows = rows.values("key", "line", "size")
    last = None
    while True:
        found = list((rows if last is None else rows.filter(key__gt=last))[:CHUNK_ROWS])
        for row in found:
            yield row["line"].encode() + b"\n", row["size"]
        if len(found) < CHUNK_ROWS:
            return
        last = found[-1]["key"]


def _one_statement(rows: QuerySet) -> Iterator[tuple[bytes, int]]:
    if connection.vendor != "postgresql":
        for line, size in rows.iterator(chunk_size=CHUNK_ROWS):
            yield line.encode() + b"\n", size
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
        for line, size in rows.iterator(chunk_size=CHUNK_ROWS):
            yield line.encode() + b"\n", size


def load(
    environment: Environment,
    tables: Iterable[ArchiveTable],
    *,
    progress: Callable[[int, int], None],
) -> int:
    """Load an archive's tables into `environment` (new and empty, its row held by the caller),
    all live from one moment: where its history starts. Returns the rows loaded."""
    return loading.load_archive(environment, tables, progress=progress)
