"""Loading history made elsewhere into the store in bulk: the demo's made-up past today, an
archive's rows tomorrow. There is no live transaction to go through store.changes() for, so
this module keeps the store's rules itself: versions are written into their table's own
partition and analysed once loaded, every change is counted in its write batch and its hour,
and the tables' stored figures are counted once at the end (store.recount)."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import batched
from typing import Any

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
from environments.store import hour_of, recount

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
