"""Reading a table through its lineage: a branch's own versions over its base's rows.

A restore makes *branches* (see DataTable): the new table records its base table and the moment
it reads it at, and stores only the versions written to it afterwards. The rows of a table at a
moment are then read in *layers*: the table itself at that moment, its base at `base_at`, the
base's base at its `base_at`, and so on. A row of a layer counts only if no layer above it has
touched its key by that layer's moment (any version of the key starting at or before it: a
later update shadows the base row, a delete leaves a tombstone that is live at no moment). So
each key is read from exactly one layer, and the layers' rows never overlap.

Each layer is one queryset over one table's partition with a NOT EXISTS probe per layer above
it on the (table, key, valid_from) primary key. `Rows` keeps the layers' querysets in step and
merges their results in the order asked for: a page of n rows reads at most n rows from each
layer, in the order of its index, instead of one UNION the planner would scan in full.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Expression, F, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest

from environments.models import DataTable, RowVersion

# A restore from a table this deep materialises its rows instead of branching from it (and the
# flattener keeps lineages shallower than this), so a read never goes through more layers.
MAX_DEPTH = 3


def live_at(moment: datetime.datetime) -> Q:
    return Q(valid_from__lte=moment) & (Q(valid_to__isnull=True) | Q(valid_to__gt=moment))


@dataclass(frozen=True)
class Layer:
    table_id: int
    moment: datetime.datetime | None  # None: the live versions
    # Whether a version of the table may have ended after `moment` (from its closed_until):
    # else its rows at the moment are just its live versions that had started by then.
    changed_since: bool = True


def layers(table: DataTable, moment: datetime.datetime | None) -> list[Layer]:
    """The table at `moment` (None: now), then each base at the moment it is read at. The first
    base comes with the table when it was fetched with select_related("base") (as
    Snapshot.tables() does); otherwise it and each deeper one cost a query, once per table
    object (Django keeps the related object on it)."""
    found = [Layer(table.pk, moment)]
    reader = table
    while reader.base_id is not None:
        base = reader.base
        changed = base.closed_until is not None and base.closed_until > reader.base_at
        found.append(Layer(base.pk, reader.base_at, changed))
        reader = base
    return found


def ended_by(moment: datetime.datetime):
    """A table's closed_until once one of its versions ends at `moment` (it only moves forward;
    GREATEST of NULL is NULL on SQLite, hence the COALESCE)."""
    at = Value(moment)
    return Greatest(Coalesce("closed_until", at), at)


class Untouched(Expression):
    """NOT EXISTS a version of `layer`'s table that makes the row's key its own by the layer's
    moment: a probe of the (table, key, valid_from) primary key. Written as SQL, not as an
    `Exists` of a queryset: a page builds and compiles one per layer above each layer on every
    read, and the ORM's subquery costs more Python than the whole query costs PostgreSQL."""

    output_field = BooleanField()

    def __init__(self, layer: Layer):
        super().__init__()
        self.layer = layer
        self.key = F("key")  # the outer row's: resolved (and relabelled) by the ORM

    def get_source_expressions(self):
        return [self.key]

    def set_source_expressions(self, exprs):
        (self.key,) = exprs

    def as_sql(self, compiler, connection):
        key_sql, key_params = compiler.compile(self.key)
        sql = (
            f"NOT EXISTS (SELECT 1 FROM {connection.ops.quote_name(RowVersion._meta.db_table)} "
            f"above_layer WHERE above_layer.table_id = %s AND above_layer.key = {key_sql}"
        )
        params = [self.layer.table_id, *key_params]
        if self.layer.moment is not None:
            sql += " AND above_layer.valid_from <= %s"
            params.append(connection.ops.adapt_datetimefield_value(self.layer.moment))
        return sql + ")", params


def layer_querysets(
    found: list[Layer], *, prune: bool = False, by_title: bool = False
) -> list[QuerySet[RowVersion]]:
    """A queryset per layer; below a branch, the base's rows at its moment in two parts: its
    versions still live (read in order from the primary key or the live versions' search
    index, migration 0010) and those closed since the moment, which are only the base's
    changes after it (one short range of the closed versions' index, migration 0012): one
    query for both would read the base's whole history to find the few of the second kind.

    With `prune` (for pages, whose reads are each a statement of their own anyway), a layer
    read at a past moment is read in one statement in the primary key's order (the versions
    live at the moment: for each key, its few versions side by side), which stays a short range
    however much changed since: split in two, the live part is empty when every row changed
    since the moment, and the primary key would be read whole to learn it. A search by title
    (`by_title`) reads the two parts instead: the live versions' search index and the closed
    versions' (migration 0021), each a range of titles. The closed part is left out when
    closed_until says none of the layer's versions has ended since the moment (a restore from
    a backup of one's own, or of an idle source). Never for a write or a copy, which must read
    the layers in one statement (a base written between reading its closed_until and reading
    its rows would lose the rows it changed)."""
    querysets = []
    for i, layer in enumerate(found):
        # One filter() per queryset: each call clones the query, and pages build these often.
        where = [Q(table_id=layer.table_id), *(Untouched(above) for above in found[:i])]
        if layer.moment is None:
            querysets.append(RowVersion.objects.filter(*where, valid_to__isnull=True))
        elif (len(found) == 1 and not prune) or (prune and not by_title and layer.changed_since):
            querysets.append(RowVersion.objects.filter(*where, live_at(layer.moment)))
        else:
            where.append(Q(valid_from__lte=layer.moment))
            querysets.append(RowVersion.objects.filter(*where, valid_to__isnull=True))
            if layer.changed_since or not prune:
                querysets.append(RowVersion.objects.filter(*where, valid_to__gt=layer.moment))
    return querysets


def rows(
    table: DataTable,
    moment: datetime.datetime | None,
    *,
    prune: bool = False,
    by_title: bool = False,
) -> QuerySet[RowVersion] | Rows:
    """The table's rows at `moment` (None: now): a plain queryset for a table that stores all
    its rows, otherwise the merged layers (`Rows`), which answer the same calls. `prune` and
    `by_title`: see layer_querysets."""
    querysets = layer_querysets(layers(table, moment), prune=prune, by_title=by_title)
    if len(querysets) == 1:
        return querysets[0].order_by("key")
    return Rows(querysets).order_by("key")


class Rows:
    """The querysets of a table's layers, kept in step: each filter, annotation or ordering
    goes to every layer, and a read merges the layers' rows in the ordering asked for. It does
    what the store's readers need of a queryset (filter, exclude, annotate, only, values,
    order_by, slices, first, get, exists, count, iteration), nothing more."""

    def __init__(self, querysets: list[QuerySet], ordering: tuple[str, ...] = ()):
        self.querysets = querysets
        self.ordering = ordering

    def _each(self, method: str, *args, **kwargs) -> Rows:
        return Rows([getattr(qs, method)(*args, **kwargs) for qs in self.querysets], self.ordering)

    def filter(self, *args, **kwargs) -> Rows:
        return self._each("filter", *args, **kwargs)

    def exclude(self, *args, **kwargs) -> Rows:
        return self._each("exclude", *args, **kwargs)

    def annotate(self, *args, **kwargs) -> Rows:
        return self._each("annotate", *args, **kwargs)

    def only(self, *fields: str) -> Rows:
        return self._each("only", *fields)

    def values(self, *fields: str) -> Rows:
        return self._each("values", *fields)

    def none(self) -> Rows:
        return self._each("none")

    def order_by(self, *fields: str) -> Rows:
        ordered = self._each("order_by", *fields)
        ordered.ordering = fields
        return ordered

    def _merge(self, found: list) -> list:
        for field in reversed(self.ordering):
            name = field.lstrip("-")
            get = itemgetter(name) if found and isinstance(found[0], dict) else attrgetter(name)
            found.sort(key=get, reverse=field.startswith("-"))
        return found

    def __getitem__(self, index: slice) -> list:
        if not isinstance(index, slice) or index.step or (index.start or 0) < 0:
            raise TypeError("Rows of a lineage are read by [start:stop] slices only.")
        stop = index.stop
        if (
            stop is not None
            and self.ordering
            and connection.features.supports_slicing_ordering_in_compound
        ):
            # PostgreSQL: one statement, a UNION ALL of each layer's own ORDER BY ... LIMIT (each
            # read in the order of its index), merged and cut again.
            first, *rest = (qs[:stop] for qs in self.querysets)
            return list(first.union(*rest, all=True).order_by(*self.ordering)[:stop])[
                index.start or 0 :
            ]
        found = [row for qs in self.querysets for row in (qs if stop is None else qs[:stop])]
        return self._merge(found)[index]

    def __iter__(self) -> Iterator:
        return iter(self[:])

    def first(self) -> Any:
        found = self[:1]
        return found[0] if found else None

    def get(self, **kwargs) -> Any:
        found = self.filter(**kwargs)[:2]
        if len(found) != 1:
            model = RowVersion.DoesNotExist if not found else RowVersion.MultipleObjectsReturned
            raise model(f"{len(found)} rows match {kwargs}")
        return found[0]

    def exists(self) -> bool:
        return any(qs.exists() for qs in self.querysets)

    def count(self) -> int:
        return sum(qs.count() for qs in self.querysets)


def copy_sql(table: DataTable, moment: datetime.datetime | None) -> tuple[str, list]:
    """One SELECT of the table's rows at `moment` through its layers (key, values, size, title):
    what a restore that materialises, and the flattener, insert from."""
    parts, params = [], []
    for qs in layer_querysets(layers(table, moment)):
        sql, p = qs.order_by().values_list("key", "values", "size", "title").query.sql_with_params()
        parts.append(sql)
        params.extend(p)
    return " UNION ALL ".join(parts), params


def key_array(keys: list[str]) -> tuple[str, list]:
    """On PostgreSQL, an expression of the keys as one varchar[] and its parameter: the keys
    joined by spaces (which no key has, columns.KEY_RE) and split in the database, since
    psycopg quotes an array's every element in Python (about 30 ms for 4,000 keys)."""
    if any(" " in key for key in keys):
        return "%s::varchar[]", [list(keys)]
    return "string_to_array(%s, ' ')::varchar[]", [" ".join(keys)]


def keyed_sql(
    table: DataTable, moment: datetime.datetime | None, keys: list[str]
) -> tuple[str, list]:
    """One SELECT of the rows of `keys` in the table at `moment` through its layers: (key,
    table_id, values, size, title), each layer a primary-key probe per key. What a put-back
    compares and copies, server-side."""
    parts, params = [], []
    if connection.vendor == "postgresql":
        # One array parameter, not thousands: the statement is parsed (and its parameters
        # converted) in a fraction of the time, and each key is still a primary-key probe.
        array, array_params = key_array(keys)
        wanted = RawSQL(f"SELECT unnest({array})", array_params)
    else:
        wanted = keys
    for qs in layer_querysets(layers(table, moment)):
        sql, p = (
            qs.filter(key__in=wanted)
            .order_by()
            .values_list("key", "table_id", "values", "size", "title")
            .query.sql_with_params()
        )
        parts.append(sql)
        params.extend(p)
    return " UNION ALL ".join(parts), params
