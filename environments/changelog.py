"""What changed in an environment's data between two moments, row by row.

Every write closes a version (`valid_to = ts`) and opens one (`valid_from = ts`), so the changes
in a span (start, end] are found from the versions themselves, per table:

- a version that *starts* in the span is a row **added**, or **changed** when the key had a
  value just before: a version of the table ending at that very moment (an update), or, in a
  restored table (a branch) that has no version of the key of its own before it, a row its
  base still showed (environments.lineage);
- a version that *ends* in the span with none of the key starting at the same moment is a row
  **deleted** (a branch's tombstone, live at no moment, is the deletion of a base row).

Two index ranges per table serve it: the versions by when they start (table_id, valid_from)
and by when they end (table_id, valid_to); each change's kind is a probe of the primary key.
The cost follows the changes in the span, never the size of the table. A page is keyset-paged
newest first by (moment, table, key), which names each change once (a key changes at most once
per write transaction). Rows a table was born with when a restore made it (copied, or made its
own by flattening) are the restore, not a change: they are left out, and the restores in the
span are listed apart.

Who made a change is its write transaction's ChangeBatch (the one at the change's moment).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import F, Q

from environments import columns as cols
from environments import lineage
from environments.models import (
    ChangeBatch,
    DataTable,
    Environment,
    RowVersion,
    author_label,
)
from portal.errors import Refused

TICK = datetime.timedelta(microseconds=1)
KINDS = ("added", "changed", "deleted")
PAGE_SIZE = 50
UNKNOWN_AUTHOR = "unknown"  # the `who` filter's value for changes nobody was recorded for


class ChangesRefused(Refused):
    """A span or a filter that cannot be read, with a message fit to show."""


@dataclass(frozen=True)
class Span:
    """The changes after `start`, up to and including `end`."""

    start: datetime.datetime
    end: datetime.datetime


def span_for(
    environment: Environment,
    start: datetime.datetime,
    end: datetime.datetime,
    *,
    now: datetime.datetime,
) -> Span:
    """Check a span an admin asked for: in order, not in the future, inside the window."""
    if start >= end:
        raise ChangesRefused("The start of the range must be before its end.", field="start")
    if end > now:
        raise ChangesRefused("The end of the range cannot be in the future.", field="end")
    window = environment.restorable_window(now=now)
    if start < window.start:
        raise ChangesRefused(
            f"History before {window.start:%Y-%m-%d %H:%M:%S} UTC is no longer kept for "
            f"{environment.name}; start the range at or after it.",
            field="start",
        )
    return Span(start, end)


@dataclass(frozen=True)
class Filters:
    table: str = ""  # a table's name; "" for every table
    kind: str = ""  # one of KINDS; "" for every kind
    who: str = ""  # an author's user name, UNKNOWN_AUTHOR, or "" for anyone
    q: str = ""  # a key, or the start of a row's title
    key: str = ""  # exactly this row (one row's history)

    def __post_init__(self):
        if self.kind and self.kind not in KINDS:
            raise ChangesRefused(f"There is no kind of change {self.kind!r}.", field="kind")


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the next page starts after this change."""

    at: datetime.datetime
    table_id: int
    key: str

    def token(self) -> str:
        return f"{self.at.isoformat()}~{self.table_id}~{self.key}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            at, table_id, key = token.split("~", 2)
            moment = datetime.datetime.fromisoformat(at)
            if moment.tzinfo is None or not cols.KEY_RE.match(key):
                raise ValueError(token)
            return cls(moment.astimezone(datetime.UTC), int(table_id), key)
        except ValueError:
            raise ChangesRefused(
                "That page link is not valid; start from the first page."
            ) from None


@dataclass
class Change:
    table: DataTable
    key: str
    at: datetime.datetime
    kind: str
    title: str = ""
    who: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    # (column label, before, after) as the data browser shows values
    fields: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.table.pk, self.key)


@dataclass(frozen=True)
class TableChanges:
    table: DataTable
    added: int
    changed: int
    deleted: int

    @property
    def total(self) -> int:
        return self.added + self.changed + self.deleted


@dataclass(frozen=True)
class Replaced:
    """A restore in the span: the environment's data was replaced at one moment."""

    at: datetime.datetime
    reason: str


# -- which tables ------------------------------------------------------------------------------


def tables_in(environment: Environment, span: Span) -> list[DataTable]:
    """The environment's tables that were live at some moment of the span, in name order
    (a table name can appear twice: before and after a restore in the span)."""
    return list(
        DataTable.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=span.start),
            generation__environment=environment,
            valid_from__lte=span.end,
        )
        .filter(
            Q(generation__valid_to__isnull=True) | Q(generation__valid_to__gt=span.start),
            generation__valid_from__lte=span.end,
        )
        .select_related("base", "generation")
        .order_by("name", "valid_from")
    )


def restores_in(environment: Environment, span: Span) -> list[Replaced]:
    """The restores in the span: of the whole environment (its data replaced at one moment),
    or of one table; said apart from the row changes."""
    found = (
        DataTable.objects.filter(
            generation__environment=environment,
            valid_from__gt=span.start,
            valid_from__lte=span.end,
        )
        .exclude(made_by="")
        .order_by("valid_from")
        .values_list("valid_from", "made_by")
        .distinct()
    )
    return [Replaced(at, reason) for at, reason in found]


# -- the SQL of one table's changes ------------------------------------------------------------


class _Sql:
    """Builds one table's statements; `p` collects the parameters in order."""

    def __init__(self, table: DataTable):
        self.table = table
        self.q = connection.ops.quote_name
        self.rv = self.q(RowVersion._meta.db_table)
        self.p: list[Any] = []

    def param(self, value: Any) -> str:
        if isinstance(value, datetime.datetime):
            value = connection.ops.adapt_datetimefield_value(value)
        self.p.append(value)
        return "%s"

    def visible_in_base(self, key: str) -> str:
        """SQL true when the key shows through the table's base layers (at their moments):
        a layer shows the key if its version live at the layer's moment has it, or if it has
        no version of the key by then and the layer below shows it."""
        layers = lineage.layers(self.table, None)[1:]
        adapt = connection.ops.adapt_datetimefield_value

        def shows(i: int) -> tuple[str, list]:
            if i == len(layers):
                return "1 = 0", []
            table_id, m = layers[i].table_id, adapt(layers[i].moment)
            below, below_params = shows(i + 1)
            sql = (
                f"(EXISTS (SELECT 1 FROM {self.rv} x WHERE x.table_id = %s AND x.key = {key} "
                "AND x.valid_from <= %s AND (x.valid_to IS NULL OR x.valid_to > %s)) "
                f"OR (NOT EXISTS (SELECT 1 FROM {self.rv} y WHERE y.table_id = %s "
                f"AND y.key = {key} AND y.valid_from <= %s) AND {below}))"
            )
            return sql, [table_id, m, m, table_id, m, *below_params]

        sql, params = shows(0)
        self.p += params
        return sql

    def before_values(self) -> str:
        """The values of the key's own version that ended as `v` began (a row's value just
        before it was changed or deleted), or NULL (a row new then, or a base row)."""
        return (
            f"(SELECT p.{self.q('values')} FROM {self.rv} p "
            f"WHERE p.table_id = {self.param(self.table.pk)} AND p.key = v.key "
            "AND p.valid_to = v.valid_from AND p.valid_from < p.valid_to)"
        )

    def kind_of_start(self) -> str:
        t = self.table.pk
        updated = (
            f"EXISTS (SELECT 1 FROM {self.rv} p WHERE p.table_id = {self.param(t)} "
            "AND p.key = v.key AND p.valid_to = v.valid_from AND p.valid_from < p.valid_to)"
        )
        if self.table.base_id is None:
            return f"CASE WHEN {updated} THEN 'changed' ELSE 'added' END"
        own_before = (
            f"EXISTS (SELECT 1 FROM {self.rv} o WHERE o.table_id = {self.param(t)} "
            f"AND o.key = v.key AND o.valid_from < v.valid_from)"
        )
        shown = self.visible_in_base("v.key")
        return (
            f"CASE WHEN {updated} THEN 'changed' WHEN {own_before} THEN 'added' "
            f"WHEN {shown} THEN 'changed' ELSE 'added' END"
        )

    def filters(
        self, environment: Environment, span: Span, f: Filters, column: str = "valid_from"
    ) -> str:
        sql = ""
        if f.who:
            # Parameters go in the order their placeholders stand in the text.
            sql += (
                f" AND v.{column} IN (SELECT at FROM {self.q(ChangeBatch._meta.db_table)} "
                f"WHERE environment_id = {self.param(environment.pk)} AND "
            )
            if f.who == UNKNOWN_AUTHOR:
                sql += "via = 'unknown'"
            else:
                sql += f"author_name = {self.param(f.who)}"
            sql += f" AND at > {self.param(span.start)} AND at <= {self.param(span.end)})"
        if f.key:
            sql += f" AND v.key = {self.param(f.key)}"
        if f.q:
            escaped = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql += (
                f" AND (v.key = {self.param(f.q)} "
                f"OR v.title LIKE {self.param(escaped + '%')} ESCAPE '\\')"
            )
        return sql

    def in_span(self, span: Span) -> str:
        return (
            f"v.table_id = {self.param(self.table.pk)} "
            f"AND v.valid_from > {self.param(span.start)} "
            f"AND v.valid_from <= {self.param(span.end)}"
        )

    def starts(self, environment: Environment, span: Span, f: Filters) -> str:
        """Rows added or changed: the versions (not tombstones) that start in the span."""
        kind = self.kind_of_start()
        before = self.before_values()
        sql = (
            f"SELECT v.key AS key, v.valid_from AS at, v.title AS title, {kind} AS kind, "
            f"{before} AS before_values, v.{self.q('values')} AS after_values "
            f"FROM {self.rv} v WHERE {self.in_span(span)} "
            "AND (v.valid_to IS NULL OR v.valid_to > v.valid_from)"
        )
        if self.table.made_by:  # the rows a restore made it with
            sql += f" AND v.valid_from <> {self.param(self.table.valid_from)}"
        return sql + self.filters(environment, span, f)

    def tombstones(self, environment: Environment, span: Span, f: Filters) -> str:
        """Rows deleted: the tombstones made in the span (their own index)."""
        before = self.before_values()
        sql = (
            f"SELECT v.key AS key, v.valid_from AS at, v.title AS title, 'deleted' AS kind, "
            f"{before} AS before_values, NULL AS after_values "
            f"FROM {self.rv} v WHERE {self.in_span(span)} AND v.valid_to = v.valid_from"
        )
        return sql + self.filters(environment, span, f)

    def parts(self, environment: Environment, span: Span, f: Filters) -> list[tuple[str, list]]:
        """The table's changes as one or two SELECTs of (key, at, title, kind, before_values,
        after_values), each with its parameters."""
        found = []
        if f.kind in ("", "added", "changed"):
            self.p = []
            starts = self.starts(environment, span, f)
            if f.kind:
                starts = f"SELECT * FROM ({starts}) s WHERE s.kind = {self.param(f.kind)}"
            found.append((starts, self.p))
        if f.kind in ("", "deleted"):
            self.p = []
            found.append((self.tombstones(environment, span, f), self.p))
        self.p = []
        return found

    def count(
        self, environment: Environment, span: Span, f: Filters, column: str, where: str
    ) -> tuple[str, list]:
        """COUNT(*) of the versions whose `column` falls in the span and that meet `where`,
        with the author filter on that moment."""
        self.p = []
        sql = (
            f"SELECT COUNT(*) FROM {self.rv} v WHERE v.table_id = {self.param(self.table.pk)} "
            f"AND v.{column} > {self.param(span.start)} AND v.{column} <= {self.param(span.end)} "
            f"AND {where}"
        )
        sql += self.filters(environment, span, Filters(who=f.who), column=column)
        return sql, self.p


def _tables(environment: Environment, span: Span, f: Filters) -> list[DataTable]:
    tables = tables_in(environment, span)
    if f.table:
        tables = [t for t in tables if t.name == f.table]
        if not tables:
            raise ChangesRefused(
                f"{environment.name} had no table {f.table!r} in that range.", field="table"
            )
    return tables


# -- counts ------------------------------------------------------------------------------------


def counts(environment: Environment, span: Span, f: Filters = Filters()) -> list[TableChanges]:
    """Per table, the rows added, changed and deleted in the span (with the filters); tables
    with no change are left out. Grows with the changes in the span: of a table that stores
    all its rows, with no filter on titles or kinds, from three index-only counts (below);
    otherwise a probe per change."""
    found = []
    for table in _tables(environment, span, f):
        if table.base_id is None and not (f.q or f.key or f.kind):
            added, changed, deleted = _counted(environment, table, span, f)
        else:
            parts = _Sql(table).parts(environment, span, f)
            union = " UNION ALL ".join(part for part, _ in parts)
            params = [p for _, part_params in parts for p in part_params]
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT c.kind, COUNT(*) FROM ({union}) c GROUP BY c.kind", params)
                per_kind = dict(cursor.fetchall())
            added, changed, deleted = (per_kind.get(k, 0) for k in KINDS)
        if added or changed or deleted:
            found.append(TableChanges(table, added, changed, deleted))
    return found


def _counted(
    environment: Environment, table: DataTable, span: Span, f: Filters
) -> tuple[int, int, int]:
    """(added, changed, deleted) of a table that stores all its rows, from counts of index
    ranges: every version of it that ends in the span ends because of an update (a version
    of its key starts then), a deletion (a tombstone starts then) or its table's drop. So
    changed = ended - deleted - dropped, added = started - changed, deleted = tombstones."""
    sql = _Sql(table)
    statements = [
        sql.count(
            environment, span, f, "valid_from", "(v.valid_to IS NULL OR v.valid_to > v.valid_from)"
        ),
        sql.count(environment, span, f, "valid_from", "v.valid_to = v.valid_from"),
        sql.count(environment, span, f, "valid_to", "v.valid_to > v.valid_from"),
    ]
    figures = []
    for statement, params in statements:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            figures.append(cursor.fetchone()[0])
    started, deleted, ended = figures
    if table.made_by and span.start < table.valid_from <= span.end:
        started -= _count_at(table, "valid_from", table.valid_from)
    if table.valid_to is not None and span.start < table.valid_to <= span.end:
        ended -= _count_at(table, "valid_to", table.valid_to)  # closed by its drop
    changed = ended - deleted
    return started - changed, changed, deleted


def _count_at(table: DataTable, column: str, moment: datetime.datetime) -> int:
    return (
        RowVersion.objects.filter(table_id=table.pk, **{column: moment})
        .exclude(valid_from=F("valid_to"))
        .count()
    )


# -- a page of changes -------------------------------------------------------------------------


def _after(sql: _Sql, cursor: Cursor | None) -> str:
    """The keyset condition of one table's part: the changes after the cursor, in the order
    (moment, table, key), all descending."""
    if cursor is None:
        return ""
    t = sql.table.pk
    if t > cursor.table_id:
        return f" AND c.at < {sql.param(cursor.at)}"
    if t < cursor.table_id:
        return f" AND c.at <= {sql.param(cursor.at)}"
    return (
        f" AND (c.at < {sql.param(cursor.at)} "
        f"OR (c.at = {sql.param(cursor.at)} AND c.key < {sql.param(cursor.key)}))"
    )


@dataclass
class Page:
    changes: list[Change]
    next: Cursor | None


def page(
    environment: Environment,
    span: Span,
    f: Filters = Filters(),
    *,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """The changes of the span, newest first (ties: table, then key, descending), `size` at a
    time after `after`: each table's part reads at most size + 1 changes, in the order of its
    index, with the values before and after each."""
    rows: list[tuple] = []
    tables = {t.pk: t for t in _tables(environment, span, f)}
    for table in tables.values():
        sql = _Sql(table)
        for part, params in sql.parts(environment, span, f):
            sql.p = params
            limited = (
                "SELECT c.key, c.at, c.title, c.kind, c.before_values, c.after_values "
                f"FROM ({part}) c WHERE 1 = 1{_after(sql, after)} "
                f"ORDER BY c.at DESC, c.key DESC LIMIT {int(size) + 1}"
            )
            with connection.cursor() as cursor:
                cursor.execute(limited, sql.p)
                rows += [(table.pk, *row) for row in cursor.fetchall()]
    rows = [(t, k, _moment(at), *rest) for t, k, at, *rest in rows]
    rows.sort(key=lambda r: (r[2], r[0], r[1]), reverse=True)
    more = len(rows) > size
    changes = [
        Change(tables[t], key, at, kind, title, before=_json(before), after=_json(after_))
        for t, key, at, title, kind, before, after_ in rows[:size]
    ]
    describe(environment, changes)
    return Page(changes, changes[-1].cursor if more and changes else None)


def _json(value) -> dict | None:
    """JSON values as a raw query hands them back (Django leaves them as text)."""
    if value is None or isinstance(value, dict):
        return value
    return json.loads(value)


def _moment(value) -> datetime.datetime:
    """A moment as the database handed it back (SQLite: text, from a raw query)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value


def each(environment: Environment, span: Span, f: Filters = Filters()) -> Iterator[Change]:
    """Every change of the span with the filters, newest first, a page at a time (for an
    export or for "Restore all matching"): constant memory at any number."""
    after = None
    while True:
        found = page(environment, span, f, after=after, size=500)
        yield from found.changes
        if found.next is None:
            return
        after = found.next


def describe(environment: Environment, changes: list[Change]) -> None:
    """Fill in who made each change (one query for the page) and the fields that differ.
    A change's values before and after come with it from the page's query; only a change to
    a row a restored table read from its base needs the base's value (a lineage read)."""
    authors = {
        at: (via, name)
        for at, via, name in ChangeBatch.objects.filter(
            environment=environment, at__in={c.at for c in changes}
        ).values_list("at", "via", "author_name")
    }
    _fill_base_values(changes)
    for change in changes:
        via, name = authors.get(change.at, ("unknown", ""))
        change.who = author_label(via, name)
        if change.before is None and change.kind != "added":
            change.before = _value_at(change.table, change.key, change.at - TICK)
        if not change.title:
            change.title = cols.title(change.table.columns, change.before or {})
        before, after = change.before or {}, change.after or {}
        change.fields = [
            (
                column["label"],
                cols.display(column, before.get(column["name"])),
                cols.display(column, after.get(column["name"])),
            )
            for column in change.table.columns
            if before.get(column["name"]) != after.get(column["name"])
        ]


def _fill_base_values(changes: list[Change]) -> None:
    """A restored table's first change to a row it read from its base has no version of its
    own before it: the value before is the base's at the branch's moment. One read of the
    base's layers per table for the whole page."""
    wanted: dict[int, list[Change]] = {}
    for change in changes:
        if change.before is None and change.kind != "added" and change.table.base_id:
            wanted.setdefault(change.table.pk, []).append(change)
    for found in wanted.values():
        table = found[0].table
        rows = lineage.rows(table.base, table.base_at).filter(key__in=[c.key for c in found])
        values = {v.key: v.values for v in rows}
        for change in found:
            change.before = values.get(change.key)


def _value_at(table: DataTable, key: str, moment: datetime.datetime) -> dict | None:
    if moment < table.valid_from:
        return None
    version = lineage.rows(table, moment).filter(key=key).first()
    return None if version is None else version.values


def keys_changed(environment: Environment, span: Span, f: Filters) -> Iterator[str]:
    """The keys of the rows of table `f.table` that the span's changes matching the filters
    touched, each once, in key order (for "Restore all matching"): one statement per table
    part, its cost growing with the changes in the span."""
    if not f.table:
        raise ChangesRefused("Choose a table to restore the rows of.", field="table")
    keys: set[str] = set()
    for table in _tables(environment, span, f):
        for part, params in _Sql(table).parts(environment, span, f):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT DISTINCT c.key FROM ({part}) c", params)
                keys.update(key for (key,) in cursor.fetchall())
    yield from sorted(keys)


def changed_after(table: DataTable, keys: list[str], moment: datetime.datetime) -> set[str]:
    """Of `keys`, those the table has changed after `moment` (a version of its own starting or
    ending later): a primary-key range per key, in chunks."""
    found: set[str] = set()
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        found.update(
            RowVersion.objects.filter(table_id=table.pk, key__in=chunk)
            .filter(Q(valid_from__gt=moment) | Q(valid_to__gt=moment))
            .values_list("key", flat=True)
            .distinct()
        )
    return found
