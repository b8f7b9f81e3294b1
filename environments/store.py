"""The system-versioned store: the one module that writes an environment's tables and rows.

Nothing here updates a visible version in place. A write closes the current version
(`valid_to = ts`) and opens a new one (`valid_from = ts`); a delete only closes. Every change made
inside one `changes()` block shares one timestamp `ts`, strictly later than the environment's
previous write. Reads go through `as_of()` and `current()`, which first find the generation live
at the moment and then its tables and rows, so reading one environment never scans another. A
table made by a restore reads the rows of the table it was restored from as they were at the
restore's moment, under its own later versions (environments.lineage): its writes shadow those
rows or leave tombstones, and its figures say how many rows it shares.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from environments import columns as cols
from environments import layout, lineage
from environments.models import (
    Activity,
    ChangeBatch,
    DataTable,
    Environment,
    EnvironmentState,
    Generation,
    RowVersion,
    TableCount,
)
from portal.errors import Refused

TICK = datetime.timedelta(microseconds=1)
HOUR = datetime.timedelta(hours=1)
# The columns a put-back's INSERT ... SELECT writes, in its order.
_COLUMNS = '("table_id", "key", "valid_from", "valid_to", "values", "size", "title")'
# Rows a put-back reads, closes and writes per statement (put_back; put_back_from).
PUT_BACK_CHUNK = 1000
PUT_BACK_SQL_CHUNK = 4000


class StoreError(Refused):
    """A write the store refuses, with a message fit to show to the person who asked."""


live_at = lineage.live_at


@dataclass(frozen=True)
class Author:
    """Who makes a write transaction: a person through a door (the portal, the API, a
    command), or the system on a person's behalf (a restore of chosen rows, an undo, an
    import). Recorded on the transaction's ChangeBatch."""

    via: str
    user: Any = None  # portal.models.User

    @classmethod
    def person(cls, user, via: str = ChangeBatch.Via.PORTAL) -> Author:
        return cls(via=via, user=user if user is not None and user.is_authenticated else None)

    @property
    def name(self) -> str:
        return self.user.get_username() if self.user is not None else ""


UNKNOWN = Author(ChangeBatch.Via.UNKNOWN)


@dataclass(frozen=True)
class Snapshot:
    """An environment's data at one moment (or now). Cheap to make: it holds querysets."""

    environment: Environment
    moment: datetime.datetime | None  # None: the live state
    generation: Generation | None

    def tables(self) -> QuerySet[DataTable]:
        if self.generation is None:
            return DataTable.objects.none()
        qs = DataTable.objects.filter(generation=self.generation)
        qs = (
            qs.filter(valid_to__isnull=True)
            if self.moment is None
            else qs.filter(live_at(self.moment))
        )
        # With its base: a page reading a branch knows from it how to read the base.
        return qs.select_related("base").order_by("display_name", "id")

    def table(self, name: str) -> DataTable | None:
        return self.tables().filter(name=name).first()

    def rows(
        self, table: DataTable, *, by_title: bool = False
    ) -> QuerySet[RowVersion] | lineage.Rows:
        """The table's rows, in key order; read through its lineage when it is a branch.
        `by_title`: the reads will be a search by title (lineage.layer_querysets)."""
        if self.generation is None or table.generation_id != self.generation.pk:
            return RowVersion.objects.none()
        # Pages read with `prune`: the store's writes read through lineage.rows themselves.
        return lineage.rows(table, self.moment, prune=True, by_title=by_title)

    def as_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{table name: {row key: values}}: for comparisons in tests and for small exports."""
        return {
            t.name: {r.key: r.values for r in self.rows(t).only("key", "values")}
            for t in self.tables()
        }


def current(environment: Environment) -> Snapshot:
    generation = Generation.objects.filter(environment=environment, valid_to__isnull=True).first()
    return Snapshot(environment=environment, moment=None, generation=generation)


def as_of(environment: Environment, moment: datetime.datetime) -> Snapshot:
    if timezone.is_naive(moment):
        raise ValueError("as_of needs an aware datetime")
    generation = Generation.objects.filter(environment=environment).filter(live_at(moment)).first()
    return Snapshot(environment=environment, moment=moment, generation=generation)


def _rows_text(
    table: DataTable, moment: datetime.datetime | None, keys: list[str]
) -> dict[str, tuple[int, str, int, str]]:
    """{key: (the table its version is in, its values as JSON text, its size, its title)} of
    `keys` in the table at `moment` (None: now): compared as text, never decoded."""
    sql, params = lineage.keyed_sql(table, moment, keys)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            key: (table_id, values if isinstance(values, str) else json.dumps(values), size, title)
            for key, table_id, values, size, title in cursor.fetchall()
        }


def rows_text(
    table: DataTable, moment: datetime.datetime | None, keys: list[str]
) -> dict[str, str]:
    """{key: its values as JSON text} of `keys` in the table at `moment` (None: now)."""
    return {key: found[1] for key, found in _rows_text(table, moment, keys).items()}


def table_rows(table: DataTable, moment: datetime.datetime | None):
    """One table's rows at `moment` (None: now), read through its lineage: a queryset, or for
    a restored table the merged layers (environments.lineage.Rows), which answer the same
    calls (filter, order_by, slices)."""
    return lineage.rows(table, moment)


def row_history(table: DataTable, key: str) -> QuerySet[RowVersion]:
    return RowVersion.objects.filter(table=table, key=key).order_by("valid_from")


class ChangeSet:
    """The writes of one transaction. Made by `changes()`; all its versions share `self.ts`."""

    def __init__(
        self,
        environment: Environment,
        generation: Generation,
        ts: datetime.datetime,
        by: Author = UNKNOWN,
    ):
        self.environment = environment
        self.generation = generation
        self.ts = ts
        self.by = by
        self.changes = 0
        # Per table touched, what to add to its figures: live rows, live bytes, closed versions,
        # closed bytes, shared rows, shared bytes (FIGURES, in that order).
        self._figures: dict[int, list[int]] = {}
        self._closed: set[int] = set()  # the tables a version of which ended at self.ts

    # -- tables --
    def table(self, name: str) -> DataTable:
        table = DataTable.objects.filter(
            generation=self.generation, name=name, valid_to__isnull=True
        ).first()
        if table is None:
            raise StoreError(f"There is no table {name!r} in {self.environment.name}.")
        return table

    def create_table(self, *, name: str, display_name: str, columns: list[dict]) -> DataTable:
        if not cols.NAME_RE.match(name or ""):
            raise ValidationError({"name": "Use lowercase letters, digits and _ (max 63)."})
        if DataTable.objects.filter(
            generation=self.generation, name=name, valid_to__isnull=True
        ).exists():
            raise ValidationError({"name": f"A table named {name!r} already exists."})
        table = DataTable.objects.create(
            generation=self.generation,
            name=name,
            display_name=display_name.strip() or name,
            columns=cols.validate_columns(columns),
            valid_from=self.ts,
        )
        layout.add_partitions([table.pk])
        return table

    def drop_table(self, table: DataTable) -> None:
        self._check_table(table)
        self.save_figures()
        table.refresh_from_db(fields=["live_rows", "live_bytes", "shared_rows", "shared_bytes"])
        RowVersion.objects.filter(table=table, valid_to__isnull=True).update(valid_to=self.ts)
        # Its own live versions become history; the rows it read from its base are simply gone.
        own_rows, own_bytes = (
            table.live_rows - table.shared_rows,
            table.live_bytes - table.shared_bytes,
        )
        self._count(
            table,
            rows=-table.live_rows,
            live_bytes=-table.live_bytes,
            closed=own_rows,
            closed_bytes=own_bytes,
            shared=-table.shared_rows,
            shared_bytes=-table.shared_bytes,
        )
        table.valid_to = self.ts
        table.save(update_fields=["valid_to"])

    def retire_table(self, table: DataTable) -> None:
        """End a live table without touching its rows, in constant time: a table a restore of
        it replaces (generations.table_replace). Its versions still open then end with it (a
        version's end is its valid_to, or else its table's); its figures count its own rows
        as history from now on."""
        self._check_table(table)
        self.save_figures()
        table.refresh_from_db(fields=["live_rows", "live_bytes", "shared_rows", "shared_bytes"])
        self._count(
            table,
            rows=-table.live_rows,
            live_bytes=-table.live_bytes,
            closed=table.live_rows - table.shared_rows,
            closed_bytes=table.live_bytes - table.shared_bytes,
            shared=-table.shared_rows,
            shared_bytes=-table.shared_bytes,
        )
        self._closed.discard(table.pk)  # no version of it ended: closed_until stays
        table.valid_to = self.ts
        table.save(update_fields=["valid_to"])

    # -- rows --
    def create_row(
        self, table: DataTable, values: dict[str, Any], *, key: str | None = None
    ) -> RowVersion:
        self._check_table(table)
        clean = cols.clean_values(table.columns, values)
        if key is None:
            key = self._next_key(table)
        elif not cols.KEY_RE.match(key):
            raise ValidationError({"key": "Use letters, digits, '.', '_' or '-' (max 64)."})
        if self._current_version(table, key) is not None:
            raise ValidationError({"key": f"A row with key {key!r} already exists."})
        self.changes += 1
        size = version_size(key, clean)
        # A tombstone of this key made in this same transaction gives way to the row.
        if RowVersion.objects.filter(
            table=table, key=key, valid_from=self.ts, valid_to=self.ts
        ).delete()[0]:
            self._count(table, closed=-1)
        self._count(table, rows=1, live_bytes=size)
        return self._add_version(table, key, clean, size)

    def update_row(self, table: DataTable, key: str, values: dict[str, Any]) -> RowVersion:
        self._check_table(table)
        clean = cols.clean_values(table.columns, values)
        version = self._require_current(table, key)
        if version.values == clean:
            return version
        self.changes += 1
        size = version_size(key, clean)
        if version.table_id != table.pk:
            # A base row: the branch's own version shadows it from now on.
            self._count(
                table, live_bytes=size - version.size, shared=-1, shared_bytes=-version.size
            )
            return self._add_version(table, key, clean, size)
        if version.valid_from == self.ts:
            # Made earlier in this same transaction: nobody can have seen it, so amend it.
            RowVersion.objects.filter(pk=version.pk).update(
                values=clean, size=size, title=cols.title(table.columns, clean)
            )
            self._count(table, live_bytes=size - version.size)
            version.values, version.size = clean, size
            return version
        RowVersion.objects.filter(pk=version.pk).update(valid_to=self.ts)
        self._count(table, live_bytes=size - version.size, closed=1, closed_bytes=version.size)
        return self._add_version(table, key, clean, size)

    def delete_row(self, table: DataTable, key: str) -> None:
        """Delete a row: its version ends now, and a tombstone (an own version that ends where
        it starts, live at no moment) records the deletion, titled like the row: in a branch
        it hides the base's row from now on; everywhere it is what Changes and Deleted records
        find, in an index of the tombstones by when they were made."""
        self._check_table(table)
        version = self._require_current(table, key)
        self.changes += 1
        self._count(table, rows=-1, live_bytes=-version.size)
        if version.table_id != table.pk:  # a base row
            self._count(table, closed=1, shared=-1, shared_bytes=-version.size)
            self._tombstone(table, key, version.title)
        elif version.valid_from != self.ts:
            RowVersion.objects.filter(pk=version.pk).update(valid_to=self.ts)
            # Two closed versions: the row's, and its tombstone.
            self._count(table, closed=2, closed_bytes=version.size)
            self._tombstone(table, key, version.title)
        elif (
            table.base_id is not None
            or RowVersion.objects.filter(table=table, key=key, valid_to=self.ts).exists()
        ):
            # Made in this transaction over a base row or an older version (an update, then a
            # delete): nobody saw it, and it becomes the tombstone.
            self._count(table, closed=1)
            RowVersion.objects.filter(pk=version.pk).update(
                valid_to=self.ts, values={}, size=0, title=version.title
            )
        else:  # made and deleted in this transaction: as if it never was
            RowVersion.objects.filter(pk=version.pk).delete()

    def _tombstone(self, table: DataTable, key: str, title: str) -> None:
        RowVersion.objects.create(
            table=table,
            key=key,
            valid_from=self.ts,
            valid_to=self.ts,
            values={},
            size=0,
            title=title,
        )

    def put_back(self, table: DataTable, wanted: dict[str, dict[str, Any] | None]) -> int:
        """Make each key of `wanted` read as given (None: no row), as this transaction's writes
        and in set-based statements: the rows as they were at a moment, put back. `wanted`'s
        values are rows the table held before (its own columns, already clean). Returns how
        many rows changed (those already as wanted are left alone)."""
        self._check_table(table)
        changed = 0
        keys = list(wanted)
        for start in range(0, len(keys), PUT_BACK_CHUNK):
            chunk = {k: wanted[k] for k in keys[start : start + PUT_BACK_CHUNK]}
            changed += self._put_back_chunk(table, chunk)
        self.changes += changed
        return changed

    def _put_back_chunk(self, table: DataTable, wanted: dict[str, dict[str, Any] | None]) -> int:
        current = {v.key: v for v in lineage.rows(table, None).filter(key__in=list(wanted))}
        differ = []
        for key, values in wanted.items():
            version = current.get(key)
            if (version.values if version is not None else None) != values:
                differ.append(
                    (
                        key,
                        (version.table_id, version.size) if version is not None else None,
                        version_size(key, values) if values is not None else None,
                    )
                )
        deleted, closed, rewritten = self._plan_rewrites(table, differ)
        tombstones = [self._version(table, k, {}, 0, valid_to=self.ts) for k in deleted]
        for tombstone in tombstones:
            tombstone.title = current[tombstone.key].title
        if closed:
            RowVersion.objects.filter(table=table, key__in=closed, valid_to__isnull=True).update(
                valid_to=self.ts
            )
        RowVersion.objects.bulk_create(
            tombstones
            + [self._version(table, k, wanted[k], version_size(k, wanted[k])) for k in rewritten],
            batch_size=PUT_BACK_CHUNK,
        )
        return len(differ)

    def _plan_rewrites(
        self, table: DataTable, differ: list[tuple[str, tuple[int, int] | None, int | None]]
    ) -> tuple[list[str], list[str], list[str]]:
        """For rows that must change: (key, its version now: (its table, its size) or None,
        the size it must have or None to go). Counts the figures once and returns the keys to
        tombstone, the own versions to close and the keys to write anew."""
        deleted, closed, rewritten = [], [], []
        # Added up here and counted once (FIGURES' order).
        rows = live_bytes = closed_n = closed_bytes = shared = shared_bytes = 0
        for key, current, wanted_size in differ:
            if current is not None:
                table_id, size = current
                rows -= 1
                live_bytes -= size
                if table_id == table.pk:  # its own version closes
                    closed_n += 1
                    closed_bytes += size
                    closed.append(key)
                else:  # a base row: no longer shared
                    shared -= 1
                    shared_bytes -= size
                if wanted_size is None:  # and a tombstone records the deletion
                    closed_n += 1
                    deleted.append(key)
            if wanted_size is not None:
                rows += 1
                live_bytes += wanted_size
                rewritten.append(key)
        self._count(
            table,
            rows=rows,
            live_bytes=live_bytes,
            closed=closed_n,
            closed_bytes=closed_bytes,
            shared=shared,
            shared_bytes=shared_bytes,
        )
        return deleted, closed, rewritten

    def put_back_from(
        self,
        table: DataTable,
        source: DataTable,
        moment: datetime.datetime,
        keys: list[str],
    ) -> int:
        """Make each of `keys` read in `table` as it did in `source` at `moment` (absent there:
        deleted here), as this transaction's writes. The rows' values never pass through
        Python: each chunk's rows now and then are read as text to compare, and the new
        versions are copied from `source`'s layers by INSERT ... SELECT. Returns how many rows
        changed."""
        self._check_table(table)
        changed = 0
        for start in range(0, len(keys), PUT_BACK_SQL_CHUNK):
            chunk = keys[start : start + PUT_BACK_SQL_CHUNK]
            changed += self._put_back_sql(table, source, moment, chunk)
        self.changes += changed
        return changed

    def _put_back_sql(
        self, table: DataTable, source: DataTable, moment: datetime.datetime, keys: list[str]
    ) -> int:
        if connection.vendor == "postgresql":
            return self._put_back_postgresql(table, source, moment, keys)
        now, then = _rows_text(table, None, keys), _rows_text(source, moment, keys)
        differ = []
        for key in keys:
            current, wanted = now.get(key), then.get(key)
            if (current and current[1]) != (wanted and wanted[1]):  # compared as JSON text
                differ.append(
                    (
                        key,
                        (current[0], current[2]) if current else None,
                        wanted[2] if wanted else None,
                    )
                )
        deleted, closed, rewritten = self._plan_rewrites(table, differ)
        q = connection.ops.quote_name
        rv = q(RowVersion._meta.db_table)
        ts = connection.ops.adapt_datetimefield_value(self.ts)
        with connection.cursor() as cursor:
            if deleted:  # tombstones, titled like the rows they record (before those close)
                sql, params = lineage.keyed_sql(table, None, deleted)
                cursor.execute(
                    f"INSERT INTO {rv} {_COLUMNS} SELECT %s, n.k, %s, %s, %s, 0, n.t FROM "
                    f"(SELECT l.{q('key')} AS k, l.{q('title')} AS t FROM ({sql}) l) n",
                    [table.pk, ts, ts, "{}", *params],
                )
            if closed:
                cursor.execute(
                    f"UPDATE {rv} SET {q('valid_to')} = %s WHERE {q('table_id')} = %s "
                    f"AND {q('valid_to')} IS NULL "
                    f"AND {q('key')} IN ({', '.join(['%s'] * len(closed))})",
                    [ts, table.pk, *closed],
                )
            if rewritten:
                sql, params = lineage.keyed_sql(source, moment, rewritten)
                cursor.execute(
                    f"INSERT INTO {rv} {_COLUMNS} SELECT %s, w.k, %s, NULL, w.v, w.s, w.t FROM "
                    f"(SELECT l.{q('key')} AS k, l.{q('values')} AS v, l.{q('size')} AS s, "
                    f"l.{q('title')} AS t FROM ({sql}) l) w",
                    [table.pk, ts, *params],
                )
        return len(differ)

    def _put_back_postgresql(
        self, table: DataTable, source: DataTable, moment: datetime.datetime, keys: list[str]
    ) -> int:
        """_put_back_sql in one statement: the rows now and then are read once, compared in
        the database (jsonb equality), and the tombstones, the closings and the new versions
        written from that one read; only the keys and sizes of the rows that changed come
        back, for the figures."""
        now_sql, now_params = lineage.keyed_sql(table, None, keys)
        then_sql, then_params = lineage.keyed_sql(source, moment, keys)
        array, array_params = lineage.key_array(keys)
        q = connection.ops.quote_name
        rv = q(RowVersion._meta.db_table)
        key, values, size, title = q("key"), q("values"), q("size"), q("title")
        table_id, valid_to = q("table_id"), q("valid_to")
        ts = connection.ops.adapt_datetimefield_value(self.ts)
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH d AS MATERIALIZED ("
                f"  SELECT w.k, w.i, n.{table_id} AS now_table, n.{size} AS now_size, "
                f"    n.{title} AS now_title, t.{values} AS v, t.{size} AS s, t.{title} AS t "
                f"  FROM unnest({array}) WITH ORDINALITY AS w(k, i) "
                f"  LEFT JOIN ({now_sql}) n ON n.{key} = w.k "
                f"  LEFT JOIN ({then_sql}) t ON t.{key} = w.k "
                f"  WHERE n.{values} IS DISTINCT FROM t.{values}"
                # Tombstones of the rows that go, titled like the rows they record.
                f"), tombstones AS (INSERT INTO {rv} {_COLUMNS} "
                "  SELECT %s, d.k, %s, %s, '{}'::jsonb, 0, d.now_title FROM d "
                "  WHERE d.v IS NULL AND d.now_table IS NOT NULL"
                # The table's own versions close; a base's rows are hidden by the new ones.
                f"), closed AS (UPDATE {rv} SET {valid_to} = %s "
                f"  WHERE {table_id} = %s AND {valid_to} IS NULL "
                f"  AND {key} IN (SELECT d.k FROM d WHERE d.now_table = %s)"
                f"), written AS (INSERT INTO {rv} {_COLUMNS} "
                "  SELECT %s, d.k, %s, NULL, d.v, d.s, d.t FROM d WHERE d.v IS NOT NULL"
                ") SELECT d.k, d.now_table, d.now_size, d.s FROM d ORDER BY d.i",
                [
                    *array_params,
                    *now_params,
                    *then_params,
                    table.pk,
                    ts,
                    ts,
                    ts,
                    table.pk,
                    table.pk,
                    table.pk,
                    ts,
                ],  # fmt: skip
            )
            differ = [
                (k, (now_table, now_size) if now_table is not None else None, then_size)
                for k, now_table, now_size, then_size in cursor.fetchall()
            ]
        self._plan_rewrites(table, differ)  # the figures
        return len(differ)

    def save_figures(self) -> None:
        """Add this transaction's changes to the tables' stored figures, and record the new row
        count and bytes of each table whose figures changed (called by `changes()` before it
        commits)."""
        changed = []
        for pk, figures in self._figures.items():
            added = {name: F(name) + delta for name, delta in zip(FIGURES, figures, strict=True)}
            if pk in self._closed:
                added["closed_until"] = lineage.ended_by(self.ts)
            DataTable.objects.filter(pk=pk).update(**added)
            if figures[0] or figures[1]:
                changed.append(pk)
        if changed:
            TableCount.objects.bulk_create(
                (
                    TableCount(table_id=pk, at=self.ts, rows=rows, bytes=size)
                    for pk, rows, size in DataTable.objects.filter(pk__in=changed).values_list(
                        "pk", "live_rows", "live_bytes"
                    )
                ),
                update_conflicts=True,
                unique_fields=["table", "at"],
                update_fields=["rows", "bytes"],
            )
        self._figures.clear()
        self._closed.clear()

    # -- helpers --
    def _add_version(self, table: DataTable, key: str, values: dict, size: int) -> RowVersion:
        version = self._version(table, key, values, size)
        version.save(force_insert=True)
        return version

    def _version(
        self, table: DataTable, key: str, values: dict, size: int, valid_to=None
    ) -> RowVersion:
        return RowVersion(
            table=table,
            key=key,
            valid_from=self.ts,
            valid_to=valid_to,
            values=values,
            size=size,
            title=cols.title(table.columns, values),
        )

    def _count(self, table: DataTable, **deltas: int) -> None:
        figures = self._figures.setdefault(table.pk, [0] * len(FIGURES))
        if deltas.get("closed", 0) > 0:  # a version ended (or a tombstone was written) now
            self._closed.add(table.pk)
        for name, delta in deltas.items():
            figures[COUNTED.index(name)] += delta

    def _check_table(self, table: DataTable) -> None:
        if table.generation_id != self.generation.pk or table.valid_to is not None:
            raise StoreError(f"Table {table.display_name} is not part of the live data.")

    def _current_version(self, table: DataTable, key: str) -> RowVersion | None:
        """The key's live version: the table's own, or (in a branch) its base's."""
        return lineage.rows(table, None).filter(key=key).first()

    def _require_current(self, table: DataTable, key: str) -> RowVersion:
        version = self._current_version(table, key)
        if version is None:
            raise StoreError(f"Row {key} does not exist in {table.display_name} (any more).")
        return version

    def _next_key(self, table: DataTable) -> str:
        # Keys are zero-padded numbers so that key order is creation order in the browser; a
        # branch goes on from the largest key in any of its layers.
        numbered = [
            RowVersion.objects.filter(table_id=layer.table_id, key__regex=r"^[0-9]{6,}$")
            .order_by("-key")
            .values_list("key", flat=True)
            .first()
            for layer in lineage.layers(table, None)
        ]
        last = max(filter(None, numbered), key=lambda k: (len(k), k), default=0)
        return f"{int(last) + 1:06d}"


# The stored figures of a DataTable that a ChangeSet adds to, and the names _count takes.
FIGURES = (
    "live_rows",
    "live_bytes",
    "closed_versions",
    "closed_bytes",
    "shared_rows",
    "shared_bytes",
)
COUNTED = ("rows", "live_bytes", "closed", "closed_bytes", "shared", "shared_bytes")


@contextmanager
def changes(environment: Environment, *, by: Author = UNKNOWN) -> Iterator[ChangeSet]:
    """Open a write transaction on the environment's live data, made `by` someone.

    The environment row is locked for the transaction, so writes to one environment are
    serialised and each gets a timestamp later than the one before it.
    """
    with transaction.atomic():
        # NO KEY: a restore or copy reading this environment holds its row FOR KEY SHARE (so
        # that it cannot be deleted meanwhile); writes to it go on regardless.
        env = Environment.objects.select_for_update(no_key=True).get(pk=environment.pk)
        if env.deleted_at is not None:
            raise StoreError(f"{env.name} is deleted; its data cannot be changed.")
        if env.state != EnvironmentState.READY:
            raise StoreError(
                f"{env.name} is {env.get_state_display().lower()}; its data cannot be changed now."
            )
        generation = Generation.objects.filter(environment=env, valid_to__isnull=True).first()
        if generation is None:
            raise StoreError(f"{env.name} has no live data.")
        ts = next_timestamp(env)
        changeset = ChangeSet(env, generation, ts, by)
        yield changeset
        changeset.save_figures()
        env.last_change_at = ts
        env.save(update_fields=["last_change_at"])
        record_activity(env, ts, changeset.changes, by)
        environment.last_change_at = ts


def hour_of(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def record_activity(
    env: Environment, ts: datetime.datetime, changes: int, by: Author = UNKNOWN
) -> None:
    """Count one transaction's changes: its own batch row, with who made them, and the hour's
    total (the caller holds the environment's row lock)."""
    if changes <= 0:
        return
    ChangeBatch.objects.create(
        environment=env, at=ts, changes=changes, via=by.via, author=by.user, author_name=by.name
    )
    hour = hour_of(ts)
    if not Activity.objects.filter(environment=env, hour=hour).update(
        changes=F("changes") + changes
    ):
        Activity.objects.create(environment=env, hour=hour, changes=changes)


def changes_since(environment: Environment, moment: datetime.datetime) -> int:
    """Changes made to the environment's data after `moment`, exactly: the rest of the
    moment's hour from the batches, every later hour from the hourly counts."""
    next_hour = hour_of(moment) + HOUR
    edge = ChangeBatch.objects.filter(
        environment=environment, at__gt=moment, at__lt=next_hour
    ).aggregate(n=Sum("changes"))["n"]
    hours = Activity.objects.filter(environment=environment, hour__gte=next_hour).aggregate(
        n=Sum("changes")
    )["n"]
    return (edge or 0) + (hours or 0)


def changes_in_hour_before(
    environment: Environment, moments: list[datetime.datetime]
) -> dict[datetime.datetime, int]:
    """For each moment, the changes made in the hour up to it, (moment - 1 h, moment], exactly.
    One query of one scalar subquery per moment, each an index range over the batches (an OR
    of the ranges made SQLite scan every batch of the environment: 1.5 s over 28 days of a
    change a second)."""
    moments = list(dict.fromkeys(moments))
    if not moments:
        return {}

    def hour_before(moment: datetime.datetime) -> Subquery:
        return Subquery(
            ChangeBatch.objects.filter(
                environment=environment, at__gt=moment - HOUR, at__lte=moment
            )
            .values("environment")
            .annotate(n=Sum("changes"))
            .values("n")
        )

    figures = (
        Environment.objects.filter(pk=environment.pk)
        .values(**{f"m{i}": hour_before(m) for i, m in enumerate(moments)})
        .get()
    )
    return {m: figures[f"m{i}"] or 0 for i, m in enumerate(moments)}


def next_timestamp(env: Environment) -> datetime.datetime:
    now = timezone.now()
    floor = max(filter(None, [env.last_change_at, env.created_at]), default=now - TICK)
    return now if now > floor else floor + TICK


def start_first_generation(environment: Environment) -> Generation:
    return Generation.objects.create(
        environment=environment, valid_from=environment.created_at, reason="Environment created"
    )


# -- one-change helpers for callers that make a single change ------------------------------------


def table_create(
    *,
    environment: Environment,
    name: str,
    display_name: str,
    columns: list[dict],
    by: Author = UNKNOWN,
) -> DataTable:
    with changes(environment, by=by) as cs:
        return cs.create_table(name=name, display_name=display_name, columns=columns)


def row_create(
    *,
    environment: Environment,
    table_name: str,
    values: dict[str, Any],
    key: str | None = None,
    by: Author = UNKNOWN,
) -> RowVersion:
    with changes(environment, by=by) as cs:
        return cs.create_row(cs.table(table_name), values, key=key)


def row_update(
    *,
    environment: Environment,
    table_name: str,
    key: str,
    values: dict[str, Any],
    by: Author = UNKNOWN,
) -> RowVersion:
    with changes(environment, by=by) as cs:
        return cs.update_row(cs.table(table_name), key, values)


def row_delete(
    *, environment: Environment, table_name: str, key: str, by: Author = UNKNOWN
) -> None:
    with changes(environment, by=by) as cs:
        cs.delete_row(cs.table(table_name), key)


# -- figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Storage:
    current_rows: int
    current_bytes: int
    history_versions: int
    history_bytes: int
    # Of the current rows, those a restored table reads from the table it was restored from:
    # stored once, there (they count in the source's figures, not again in these).
    shared_rows: int = 0
    shared_bytes: int = 0


# What a table stores of its own (its own live versions and its history), in bytes: a
# branch's shared rows are stored once, in its base, and counted there.
OWN_BYTES = F("live_bytes") - F("shared_bytes") + F("closed_bytes")


def storage_used(environment: Environment) -> Storage:
    """Rows and bytes held now and in history (all generations): a sum over the environment's
    tables' stored figures, however many rows they hold. History is what the environment
    stores of its own beyond its current rows."""
    is_current = Q(valid_to__isnull=True, generation__valid_to__isnull=True)
    figures = DataTable.objects.filter(generation__environment=environment).aggregate(
        current_rows=Coalesce(Sum("live_rows", filter=is_current), 0),
        current_bytes=Coalesce(Sum("live_bytes", filter=is_current), 0),
        current_shared_rows=Coalesce(Sum("shared_rows", filter=is_current), 0),
        current_shared_bytes=Coalesce(Sum("shared_bytes", filter=is_current), 0),
        own_versions=Coalesce(Sum(F("live_rows") - F("shared_rows") + F("closed_versions")), 0),
        own_bytes=Coalesce(Sum(OWN_BYTES), 0),
    )
    current_own_rows = figures["current_rows"] - figures["current_shared_rows"]
    current_own_bytes = figures["current_bytes"] - figures["current_shared_bytes"]
    return Storage(
        current_rows=figures["current_rows"],
        current_bytes=figures["current_bytes"],
        history_versions=figures["own_versions"] - current_own_rows,
        history_bytes=figures["own_bytes"] - current_own_bytes,
        shared_rows=figures["current_shared_rows"],
        shared_bytes=figures["current_shared_bytes"],
    )


def stored_bytes() -> dict[int, int]:
    """{environment id: bytes it stores}, every generation: one grouped query over the
    tables' stored figures (what capacity counts)."""
    return dict(
        DataTable.objects.values("generation__environment")
        .annotate(n=Sum(OWN_BYTES))
        .values_list("generation__environment", "n")
    )


def shared_rows(environment_ids: Iterable[int]) -> dict[int, int]:
    """{environment id: current rows its restored tables still share with their sources}, for
    the environments that share any: one grouped query over the stored figures."""
    return dict(
        DataTable.objects.filter(
            generation__environment__in=list(environment_ids),
            valid_to__isnull=True,
            generation__valid_to__isnull=True,
            shared_rows__gt=0,
        )
        .values("generation__environment")
        .annotate(n=Sum("shared_rows"))
        .values_list("generation__environment", "n")
    )


@dataclass(frozen=True)
class Branch:
    """A live table that reads rows from the table it was restored from (its base)."""

    table: str
    source: str  # the base's environment
    own_source: bool  # restored from the environment itself (an earlier moment of its own)
    restored_at: datetime.datetime  # when the restore made the table
    moment: datetime.datetime  # the base is read as it was then
    depth: int  # how many tables its reads go through beyond its own
    shared_rows: int  # rows it still reads from the base
    flattened_rows: int  # base rows flattening has made its own so far
    # How long until it holds all its rows, at the pace its flattening has kept so far (None
    # before a chunk has measured one).
    time_left: datetime.timedelta | None
    # Until when it waits to be flattened: when its source stops keeping the moment it reads
    # (history.branches_to_flatten), or None when it is due now (read through two bases, or
    # its source deleted for good). Later manual backups of the source may keep it longer.
    waits_until: datetime.datetime | None


def _time_left(table: DataTable, now: datetime.datetime) -> datetime.timedelta | None:
    if table.flatten_started_at is None or not table.flattened_rows:
        return None
    spent = now - table.flatten_started_at
    if spent <= datetime.timedelta(0):
        return None
    return spent * table.shared_rows / table.flattened_rows


def _waits_until(table: DataTable, now: datetime.datetime) -> datetime.datetime | None:
    source = table.base.generation.environment
    if table.depth > 1 or source.removed_at is not None or table.flatten_started_at:
        return None
    until = table.base_at + source.retention
    return until if until > now else None


def branches(environment: Environment) -> list[Branch]:
    """The environment's live restored tables that still read from their base: what the
    environment page says about its lineage (environments.lineage, environments.flatten)."""
    now = timezone.now()
    return [
        Branch(
            table=t.display_name,
            source=t.base.generation.environment.name,
            own_source=t.base.generation.environment_id == environment.pk,
            restored_at=t.valid_from,
            moment=t.base_at,
            depth=t.depth,
            shared_rows=t.shared_rows,
            flattened_rows=t.flattened_rows,
            time_left=_time_left(t, now),
            waits_until=_waits_until(t, now),
        )
        for t in current(environment)
        .tables()
        .filter(base__isnull=False)
        .select_related("base__generation__environment")
    ]


def figures_at(
    tables: Iterable[DataTable], moment: datetime.datetime
) -> dict[int, tuple[int, int]]:
    """{table pk: (rows, bytes) live at `moment`} from the stored counts: one index probe per
    table."""
    pks = [t.pk for t in tables]
    newest = TableCount.objects.filter(table=OuterRef("pk"), at__lte=moment).order_by("-at")
    return {
        pk: (rows, size)
        for pk, rows, size in DataTable.objects.filter(pk__in=pks)
        .annotate(
            n=Coalesce(Subquery(newest.values("rows")[:1]), 0),
            b=Coalesce(Subquery(newest.values("bytes")[:1]), 0),
        )
        .values_list("pk", "n", "b")
    }


def rows_at(tables: Iterable[DataTable], moment: datetime.datetime) -> dict[int, int]:
    """{table pk: rows live at `moment`} from the stored counts."""
    return {pk: rows for pk, (rows, _) in figures_at(tables, moment).items()}


def version_size(key: str, values: dict[str, Any]) -> int:
    return len(key.encode()) + len(json.dumps(values, cls=cols.UnicodeJSONEncoder).encode())


def recount(environment: Environment | None = None) -> None:
    """Rebuild the stored figures from the versions themselves, in set-based SQL: after data
    was written around the store (the demo's history, a migration, a benchmark's bulk load).
    The store keeps them itself on every write; tests compare the two. Branches (restored
    tables, which only the store and the restore engine write) keep the figures they have."""
    tables = DataTable.objects.filter(base__isnull=True)
    if environment is not None:
        tables = tables.filter(generation__environment=environment)
    versions = RowVersion.objects.filter(table=OuterRef("pk"))

    def total(qs: QuerySet, aggregate: Count | Sum) -> Coalesce:
        return Coalesce(Subquery(qs.values("table").annotate(n=aggregate).values("n")), 0)

    live, closed = versions.filter(valid_to__isnull=True), versions.filter(valid_to__isnull=False)
    # A table that has ended (retire_table) holds no live rows: its open versions ended with it.
    ended = Q(valid_to__isnull=False)
    figure = BigIntegerField()
    tables.update(
        live_rows=Case(When(ended, then=0), default=total(live, Count("*")), output_field=figure),
        live_bytes=Case(When(ended, then=0), default=total(live, Sum("size")), output_field=figure),
        closed_versions=Case(
            When(ended, then=total(versions, Count("*"))),
            default=total(closed, Count("*")),
            output_field=figure,
        ),
        closed_bytes=Case(
            When(ended, then=total(versions, Sum("size"))),
            default=total(closed, Sum("size")),
            output_field=figure,
        ),
        closed_until=Subquery(closed.values("table").annotate(m=Max("valid_to")).values("m")),
    )
    TableCount.objects.filter(table__in=tables).delete()
    # Each version adds one row and its bytes at valid_from and takes them away at valid_to; the
    # figures after each moment are running sums of those steps (moments that change nothing
    # are left out).
    ids, params = tables.values("pk").query.sql_with_params()
    q = connection.ops.quote_name
    rv, tc = RowVersion._meta.db_table, TableCount._meta.db_table
    dt = DataTable._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {tc} ({q('table_id')}, {q('at')}, {q('rows')}, {q('bytes')}) "
            f"SELECT t, at, SUM(SUM(d)) OVER (PARTITION BY t ORDER BY at), "
            f"SUM(SUM(b)) OVER (PARTITION BY t ORDER BY at) FROM ("
            f"SELECT {q('table_id')} AS t, {q('valid_from')} AS at, 1 AS d, {q('size')} AS b "
            f"FROM {rv} WHERE {q('table_id')} IN ({ids}) "
            f"UNION ALL SELECT {q('table_id')}, {q('valid_to')}, -1, -{q('size')} FROM {rv} "
            f"WHERE {q('valid_to')} IS NOT NULL AND {q('table_id')} IN ({ids}) "
            # the versions still open in a table that has ended, which end with it
            f"UNION ALL SELECT v.{q('table_id')}, t.{q('valid_to')}, -1, -v.{q('size')} "
            f"FROM {rv} v JOIN {dt} t ON t.{q('id')} = v.{q('table_id')} "
            f"WHERE v.{q('valid_to')} IS NULL AND t.{q('valid_to')} IS NOT NULL "
            f"AND v.{q('table_id')} IN ({ids})"
            f") steps GROUP BY t, at HAVING SUM(d) <> 0 OR SUM(b) <> 0",
            [*params, *params, *params],
        )


# -- one row's versions, through the lineage (a row page's History) ------------------------------


@dataclass(frozen=True)
class KeyVersion:
    """A version of one row as a table reads it: its own (`layer` 0), or one of a base's, up to
    the moment the branch above reads that base at (layer 1 for its base, 2 for the base's base,
    ...): a branch's row goes on from the base's history."""

    version: RowVersion
    layer: int
    read_at: datetime.datetime | None  # the moment its layer is read at; None for the table's own


def key_versions(
    table: DataTable,
    key: str,
    *,
    limit: int,
    start: tuple[int, datetime.datetime] | None = None,
) -> list[KeyVersion]:
    """Up to `limit` versions of the row `key` of `table`, newest first, going on into its
    bases; from `start` on, a (layer, valid_from) of one of them: it and those older. Each layer
    read is one backward range of its partition's primary key (table, key, valid_from), and a
    base's versions never start after the moment it is read at, so the layers follow each
    other in time."""
    found: list[KeyVersion] = []
    for depth, layer in enumerate(lineage.layers(table, None)):
        if start is not None and depth < start[0]:
            continue
        versions = RowVersion.objects.filter(table_id=layer.table_id, key=key)
        if layer.moment is not None:
            versions = versions.filter(valid_from__lte=layer.moment)
        if start is not None and depth == start[0]:
            versions = versions.filter(valid_from__lte=start[1])
        found += (
            KeyVersion(v, depth, layer.moment)
            for v in versions.order_by("-valid_from")[: limit - len(found)]
        )
        if len(found) >= limit:
            break
    return found
