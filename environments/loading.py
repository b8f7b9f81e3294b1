"""Loading history made elsewhere into the store in bulk: the demo's made-up past today, an
archive's rows tomorrow. There is no live transaction to go through store.changes() for, so
this module keeps the store's rules itself: versions are written into their table's own
partition and analysed once loaded, every change is counted in its write batch and its hour,
and the tables' stored figures are counted once at the end (store.recount)."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import batched
from typing import Any

from django.db import connection

from environments import columns as cols
from environments import layout
from environments.models import (
    Activity,
    ChangeBatch,
    DataTable,
    Environment,
    Generation,
    RowVersion,
)
from environments.store import hour_of, next_timestamp, recount, version_size

BATCH_ROWS = 5000


def new_table(
    *,
    generation: Generation,
    name: str,
    display_name: str,
    columns: list[dict],
    valid_from: datetime.datetime,
) -> DataTable:
    """An empty table, live from `valid_from`, with its partition."""
    table = DataTable.objects.create(
        generation=generation,
        name=name,
        display_name=display_name,
        columns=cols.validate_columns(columns),
        valid_from=valid_from,
    )
    layout.add_partitions([table.pk])
    return table


def load_versions(table: DataTable, versions: Iterable[RowVersion]) -> None:
    """Write `versions` (of `table`, each key's intervals closed and ordered) in batches, then
    analyse the partition: loaded in bulk, it is planned with statistics from the start."""
    for batch in batched(versions, BATCH_ROWS):
        RowVersion.objects.bulk_create(batch)
    layout.analyse([table.pk])


def finish(
    environment: Environment,
    changes: Counter,
    *,
    now: datetime.datetime,
    author_of: Callable[[datetime.datetime], Any] | None = None,
) -> None:
    """Record the loaded changes (`changes`: how many at each moment) as write batches and
    hourly activity, as store.changes() would have, and count the tables' figures.
    `author_of(moment)`: who made the changes then (a store.Author); none: an import."""

    def batch(at: datetime.datetime, n: int) -> ChangeBatch:
        by = author_of(at) if author_of else None
        if by is None:
            return ChangeBatch(
                environment=environment, at=at, changes=n, via=ChangeBatch.Via.IMPORT
            )
        return ChangeBatch(
            environment=environment,
            at=at,
            changes=n,
            via=by.via,
            author=by.user,
            author_name=by.name,
        )

    ChangeBatch.objects.bulk_create(
        (batch(at, n) for at, n in sorted(changes.items())), batch_size=BATCH_ROWS
    )
    hourly: Counter = Counter()
    for at, n in changes.items():
        hourly[hour_of(at)] += n
    Activity.objects.bulk_create(
        Activity(environment=environment, hour=hour, changes=n)
        for hour, n in sorted(hourly.items())
    )
    environment.last_change_at = now
    environment.save(update_fields=["last_change_at"])
    recount(environment)


# -- an export archive's tables (environments.archive_rows, backups.imports) ----------------------


@dataclass
class ArchiveTable:
    name: str
    display_name: str
    columns: list[dict]
    rows: Iterable[tuple[str, dict]]  # (key, values), each key once


class UnknownField(ValueError):
    """A row names a field its table does not have."""


def load_archive(
    environment: Environment,
    tables: Iterable[ArchiveTable],
    *,
    progress: Callable[[int, int], None],
) -> int:
    """Make each table in the environment's current generation, live from one new moment, and
    write its rows as versions starting then: on PostgreSQL COPYed into a partition of its own,
    indexed and analysed once loaded (layout.Loader), on SQLite in batches. The caller holds the
    environment's row, in its transaction. `progress(tables_done, rows_done)` now and then.
    Returns the rows loaded."""
    at = next_timestamp(environment)
    generation = Generation.objects.get(environment=environment, valid_to__isnull=True)
    loader = layout.Loader()
    done = 0
    for number, archived in enumerate(tables, start=1):
        table = DataTable.objects.create(
            generation=generation,
            name=archived.name,
            display_name=archived.display_name,
            columns=cols.validate_columns(archived.columns),
            valid_from=at,
        )
        into = loader.target(table.pk)
        for n in _write_rows(table, into, archived.rows, at):
            progress(number - 1, done + n)
        done = done + n
        progress(number, done)
    loader.finish()
    finish(environment, Counter({at: done}) if done else Counter(), now=at)
    return done


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """A text value as COPY's text format reads it back: backslash, tab and line ends escaped."""
    return value.translate(_COPY_ESCAPES)


def _write_rows(table: DataTable, into: str, rows, at) -> Iterable[int]:
    names = {c["name"] for c in table.columns}
    columns = table.columns

    def checked(values: dict) -> dict:
        if not names.issuperset(values):
            raise UnknownField(f"A row of {table.name} has a field its table does not have.")
        return values

    n = 0
    if layout.partitioned():
        quote = connection.ops.quote_name
        fields = ", ".join(
            quote(f) for f in ("table_id", "key", "valid_from", "values", "size", "title")
        )
        encoder = cols.UnicodeJSONEncoder
        # COPY's text format written here, a megabyte at a time: about three times less Python
        # than psycopg's write_row, which adapts each value on its own.
        head = f"{table.pk}\t%s\t{at.isoformat()}\t"
        pending, pending_bytes = [], 0
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {into} ({fields}) FROM STDIN") as copy,
        ):
            for key, values in rows:
                text = json.dumps(checked(values), cls=encoder)
                line = (
                    (head % _copy_text(key))
                    + f"{_copy_text(text)}\t{len(key.encode()) + len(text.encode())}\t"
                    + f"{_copy_text(cols.title(columns, values))}\n"
                ).encode()
                pending.append(line)
                pending_bytes += len(line)
                n += 1
                if pending_bytes >= 1 << 20:
                    copy.write(b"".join(pending))
                    pending, pending_bytes = [], 0
                    yield n
            copy.write(b"".join(pending))
        yield n
        return
    for batch in batched(rows, BATCH_ROWS):
        RowVersion.objects.bulk_create(
            RowVersion(
                table=table,
                key=key,
                valid_from=at,
                values=checked(values),
                size=version_size(key, values),
                title=cols.title(columns, values),
            )
            for key, values in batch
        )
        n += len(batch)
        yield n
    yield n
