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

__all__ = ["ArchiveTable", "UnknownField", "checked_moment", "load", "row_blocks", "tables_at"]

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


# What a block of rows holds at most before it is handed on (row_blocks).
BLOCK_BYTES = 1 << 20


def row_blocks(
    table: DataTable, moment: datetime.datetime, *, by_copy: bool = True
) -> Iterator[tuple[bytes, int, int]]:
    """The table's rows at `moment` as JSON lines (`{"key": ..., "values": {...}}`, made by the
    database), in key order, handed on in blocks of about BLOCK_BYTES: (the lines, how many,
    their stored size).

    On PostgreSQL a table that stores all its rows is read by one COPY (SELECT ...) TO STDOUT,
    planned for the whole result (a scan and a sort), its bytes taken as they come: COPY's text
    format only doubles the backslashes of a line (JSON has no raw tab or line end), which one
    replace undoes. Elsewhere the rows are read a chunk at a time: on SQLite from one statement,
    and a restored table's layers merged by lineage.Rows, CHUNK_ROWS a statement from where the
    last one stopped (keyset).

    The COPY holds the connection until the table's last row: a caller that writes on the same
    connection between blocks (progress, when it has no connection of its own) passes
    `by_copy=False` and the rows are read from a server-side cursor instead (about half as
    fast)."""
    rows = lineage.rows(table, moment).annotate(line=_Line())
    if isinstance(rows, QuerySet) and connection.vendor == "postgresql" and by_copy:
        yield from _copied(rows.values_list("line", "size"))
        return
    yield from _blocks(_rows(rows))


def _rows(rows) -> Iterator[tuple[str, int]]:
    if isinstance(rows, QuerySet):
        rows = rows.values_list("line", "size")
        if connection.vendor != "postgresql":
            yield from rows.iterator(chunk_size=CHUNK_ROWS)
            return
        # One snapshot, and planned for the whole result (a scan and a sort, as COPY does),
        # not the index walk a cursor gets by default, which visits every older version too.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1")
            yield from rows.iterator(chunk_size=CHUNK_ROWS)
        return
    rows = rows.values("key", "line", "size")
    last = None
    while True:
        found = list((rows if last is None else rows.filter(key__gt=last))[:CHUNK_ROWS])
        for row in found:
            yield row["line"], row["size"]
        if len(found) < CHUNK_ROWS:
            return
        last = found[-1]["key"]


def _blocks(rows: Iterator[tuple[str, int]]) -> Iterator[tuple[bytes, int, int]]:
    pending, pending_bytes, sizes = [], 0, 0
    for line, size in rows:
        data = line.encode() + b"\n"
        pending.append(data)
        pending_bytes += len(data)
        sizes += size
        if pending_bytes >= BLOCK_BYTES:
            yield b"".join(pending), len(pending), sizes
            pending, pending_bytes, sizes = [], 0, 0
    if pending:
        yield b"".join(pending), len(pending), sizes


def _copied(rows: QuerySet) -> Iterator[tuple[bytes, int, int]]:
    sql, params = rows.query.sql_with_params()
    # psycopg's own cursor: Django's debug wrapper (DEBUG on) has a copy() without parameters.
    with (
        connection.cursor() as wrapper,
        wrapper.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy,
    ):
        left, lines, count, sizes, pending_bytes = b"", [], 0, 0, 0
        for data in copy:
            found = (left + bytes(data)).split(b"\n")
            left = found.pop()
            for row in found:
                line, size = row.rsplit(b"\t", 1)
                lines.append(line)
                pending_bytes += len(line)
                sizes += int(size)
            if pending_bytes >= BLOCK_BYTES:
                count = len(lines)
                yield b"\n".join(lines).replace(b"\\\\", b"\\") + b"\n", count, sizes
                lines, sizes, pending_bytes = [], 0, 0
        if lines:
            yield b"\n".join(lines).replace(b"\\\\", b"\\") + b"\n", len(lines), sizes


def load(
    environment: Environment,
    tables: Iterable[ArchiveTable],
    *,
    progress: Callable[[int, int], None],
) -> int:
    """Load an archive's tables into `environment` (new and empty, its row held by the caller),
    all live from one moment: where its history starts. Returns the rows loaded."""
    return loading.load_archive(environment, tables, progress=progress)
