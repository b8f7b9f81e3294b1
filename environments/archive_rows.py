"""The store's side of export archives (backups.archives writes and reads the file): an
environment's rows at a moment read out as JSON lines, and an archive's tables loaded into a new
environment. The moment rules are the data browser's (data_reads): inside the window, not in
the future."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator

from django.db.models import TextField
from django.db.models.functions import Cast

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


def row_lines(table: DataTable, moment: datetime.datetime) -> Iterator[tuple[bytes, int]]:
    """Each row of the table at `moment` as its JSON line (`{"key": ..., "values": {...}}`) and
    its stored size, in key order. The values come as the text the database holds, so a row
    is never decoded and encoded again in Python."""
    rows = (
        lineage.rows(table, moment)
        .annotate(values_text=Cast("values", TextField()))
        .values("key", "values_text", "size")
    )
    last = None
    dumps = json.dumps
    while True:
        found = list((rows if last is None else rows.filter(key__gt=last))[:CHUNK_ROWS])
        for row in found:
            yield (
                b'{"key":%s,"values":%s}\n'
                % (dumps(row["key"]).encode(), row["values_text"].encode()),
                row["size"],
            )
        if len(found) < CHUNK_ROWS:
            return
        last = found[-1]["key"]


def load(
    environment: Environment,
    tables: Iterable[ArchiveTable],
    *,
    progress: Callable[[int, int], None],
) -> int:
    """Load an archive's tables into `environment` (new and empty, its row held by the caller),
    all live from one moment: where its history starts. Returns the rows loaded."""
    return loading.load_archive(environment, tables, progress=progress)
