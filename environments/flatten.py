"""Flattening: make a branch (a restored table, see environments.lineage) hold all its rows.

A branch reads its base's rows as they were at `base_at`. Flattening copies each of those rows
into the branch as a version of its own, live from the branch's start until the branch first
wrote that key (or still live, if it never did), so that every read, at any moment, gives the
same rows before and after: the copied version is now what hides the base's row. When all are
copied the branch drops its base: its reads go through one layer less, its branches' through
one less too, and purge may free the base's history once nothing else reads it.

It runs in chunks of keys, in key order, one transaction each, holding the environment's row
like a write does (so a write to the table waits at most one chunk, and never interleaves with
one); the chunk's last key is saved in the same transaction. Killed at any point, the table
reads the same and the next run goes on from the last chunk that committed. Each chunk is set
based: one INSERT ... SELECT of a key range, never a Python loop over rows. A chunk that makes
the branch's partition materially larger analyses it before it commits (environments.layout).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from environments import capacity, layout, lineage, store
from environments.models import CapacityReservation, DataTable, Environment, RowVersion

log = logging.getLogger(__name__)


def _base_rows_sql(table: DataTable, after: str, last: str | None, limit: int | None):
    """The base's rows at base_at with keys in (after, last], in key order (one SELECT per
    layer of the base, each in the order of its index)."""
    parts, params = [], []
    for qs in lineage.layer_querysets(lineage.layers(table, None)[1:]):
        qs = qs.filter(key__gt=after)
        if last is not None:
            qs = qs.filter(key__lte=last)
        qs = qs.order_by("key").values_list("key", "values", "size", "title")
        if limit is not None:
            qs = qs[:limit]
        sql, p = qs.query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS layer{len(parts)}")
        params.extend(p)
    return " UNION ALL ".join(parts), params


def flatten_chunk(table_id: int, rows: int | None = None) -> bool:
    """Copy the next `rows` (settings.FLATTEN_CHUNK_ROWS) base rows of a branch into it;
    True once it has no base left."""
    rows = rows or settings.FLATTEN_CHUNK_ROWS
    environment_id = (
        DataTable.objects.filter(pk=table_id)
        .values_list("generation__environment", flat=True)
        .first()
    )
    if environment_id is None:
        return True
    with transaction.atomic():
        # Held like a write holds it: the table's versions do not change under the chunk.
        list(Environment.objects.select_for_update().filter(pk=environment_id).values("pk"))
        table = DataTable.objects.filter(pk=table_id).first()
        if table is None or table.base_id is None:
            return True
        if not CapacityReservation.objects.filter(table=table).exists():
            _reserve(table)
        after = table.flattened_to
        if table.flatten_started_at is None:
            table.flatten_started_at = timezone.now()
            table.save(update_fields=["flatten_started_at"])
        last = _chunk_end(table, after, rows)
        if last is None:
            _drop_base(table)
            return True
        _copy_chunk(table, after, last)
        _count_chunk(table, after, last)
    return False


def _chunk_end(table: DataTable, after: str, rows: int) -> str | None:
    """The chunk's last key: the rows-th smallest base key after the cursor (None: no more)."""
    q = connection.ops.quote_name
    select, params = _base_rows_sql(table, after, None, rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX({q('key')}) FROM (SELECT {q('key')} FROM ({select}) AS base "
            f"ORDER BY {q('key')} LIMIT %s) AS chunk",
            [*params, rows],
        )
        (last,) = cursor.fetchone()
    return last


def _copy_chunk(table: DataTable, after: str, last: str) -> None:
    """Each base row in (after, last] becomes the branch's own from its start until the
    branch's first version of that key, or else its drop (neither: still live)."""
    q = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    rv = q(RowVersion._meta.db_table)
    select, params = _base_rows_sql(table, after, last, None)
    with connection.cursor() as cursor:
        # WHERE 1 = 1: SQLite's upsert needs one.
        cursor.execute(
            f"INSERT INTO {rv} ({q('table_id')}, {q('key')}, {q('valid_from')}, "
            f"{q('valid_to')}, {q('values')}, {q('size')}, {q('title')}) "
            f"SELECT %s, base.{q('key')}, %s, COALESCE((SELECT MIN(own.{q('valid_from')}) "
            f"FROM {rv} own WHERE own.{q('table_id')} = %s "
            f"AND own.{q('key')} = base.{q('key')}), %s), "
            f"base.{q('values')}, base.{q('size')}, base.{q('title')} "
            f"FROM ({select}) AS base WHERE 1 = 1 ON CONFLICT DO NOTHING",
            [
                table.pk,
                adapt(table.valid_from),
                table.pk,
                adapt(table.valid_to) if table.valid_to else None,
                *params,
            ],
        )


def _count_chunk(table: DataTable, after: str, last: str) -> None:
    """The branch's figures and its reservation after a chunk, and its statistics if the
    chunk made them stale."""
    copied = RowVersion.objects.filter(
        table=table, key__gt=after, key__lte=last, valid_from=table.valid_from
    ).aggregate(
        live=Count("key", filter=Q(valid_to__isnull=True)),
        live_bytes=Sum("size", filter=Q(valid_to__isnull=True), default=0),
        closed=Count("key", filter=Q(valid_to__isnull=False)),
        closed_bytes=Sum("size", filter=Q(valid_to__isnull=False), default=0),
        closed_until=Max("valid_to"),
    )
    # The copied rows were shared (read from the base) and are the branch's own now; the ones
    # it had since changed are its history. What it shows is the same.
    figures = {
        "flattened_to": last,
        "flattened_rows": F("flattened_rows") + copied["live"] + copied["closed"],
        "shared_rows": F("shared_rows") - copied["live"],
        "shared_bytes": F("shared_bytes") - copied["live_bytes"],
        "closed_versions": F("closed_versions") + copied["closed"],
        "closed_bytes": F("closed_bytes") + copied["closed_bytes"],
    }
    if copied["closed_until"] is not None:  # rows that end: what reads the branch must see
        figures["closed_until"] = lineage.ended_by(copied["closed_until"])
    DataTable.objects.filter(pk=table.pk).update(**figures)
    # What the chunk stored is counted as stored now, no longer as reserved.
    CapacityReservation.objects.filter(table=table).update(
        bytes=Greatest(F("bytes") - copied["live_bytes"] - copied["closed_bytes"], 0)
    )
    # The chunk's rows are in the branch's partition: analysed here, before the commit, once
    # they make its statistics stale (see layout.STALE_SHARE), or the next chunk and the
    # branch's pages are planned as if the partition held a few rows (autovacuum may be off).
    # Its versions are the ones it does not share: live, and closed.
    own = DataTable.objects.filter(pk=table.pk).values_list(
        F("live_rows") - F("shared_rows") + F("closed_versions"), flat=True
    )
    layout.analyse_if_grown(table.pk, rows=own.get())


def _reserve(table: DataTable) -> None:
    """Before its first chunk, a flattening reserves what it will store: a copy of every base
    row the branch reads at base_at (those it has since written too, as its history). Refused
    when the tenant lacks the room: the branch keeps reading its base, which purge keeps, and
    the next round tries again."""
    (_, size) = store.figures_at([table.base], table.base_at)[table.base_id]
    copied = RowVersion.objects.filter(
        table=table, valid_from=table.valid_from, key__lte=table.flattened_to
    )
    already = copied.aggregate(n=Sum("size", default=0))["n"] if table.flattened_to else 0
    capacity.reserve(
        action=f"flatten the restored table {table.display_name}",
        adds=max(size - already, 0),
        table=table,
    )


def _drop_base(table: DataTable) -> None:
    """Every base row is the branch's own now: it stops reading its base, and each table that
    reads through it goes through one layer less."""
    levels = table.depth
    CapacityReservation.objects.filter(table=table).delete()  # all of it is stored now
    DataTable.objects.filter(pk=table.pk).update(
        base=None, base_at=None, depth=0, flattened_to="", flatten_started_at=None
    )
    readers = list(DataTable.objects.filter(base=table).values_list("pk", flat=True))
    while readers:
        DataTable.objects.filter(pk__in=readers).update(depth=F("depth") - levels)
        readers = list(DataTable.objects.filter(base__in=readers).values_list("pk", flat=True))
    log.info("Table %s is flat: it holds all its rows", table.pk)


def flatten(table_id: int, rows: int | None = None) -> int:
    """Flatten a branch to the end, chunk after chunk; returns how many chunks it took."""
    chunks = 1
    while not flatten_chunk(table_id, rows):
        chunks += 1
    return chunks
