"""What the API, the commands and the CSV exports read of an environment's data, now or as it
was at a moment: the moment checked against the restorable window, the tables with their row
counts then, a keyset page of rows (environments.row_pages: the data browser's paging and
search), one row, one row's history and the changes between two moments
(environments.changelog), and every row of a table in key order, a chunk at a time.

Who may read is asked first, by the caller (environments.lookups.environment_for_data)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Func, TextField
from django.db.models.functions import Upper
from django.http import Http404
from django.utils import timezone

from environments import changelog, lineage, row_history, row_pages, store
from environments import columns as cols
from environments.models import DataTable, Environment, RowVersion
from portal.errors import Refused

DEFAULT_RANGE = datetime.timedelta(hours=24)  # the changes of the last day, unless told
MAX_PAGE = 500  # rows or changes in one page of the API or a command
EXPORT_CHUNK = 2000  # rows an export reads in one statement
BAD_PAGE_LINK = "That page link is not valid; start from the first page."


class ReadRefused(Refused):
    """A moment or a page link that cannot be read, with a message fit to show."""


def when(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def latest(environment: Environment) -> datetime.datetime:
    """Now, or the environment's newest write when its timestamp is later: writes made in one
    microsecond take the next ones (store.next_timestamp), and are part of "now" all the same."""
    now = timezone.now()
    return max(now, environment.last_change_at) if environment.last_change_at else now


# -- the moment --------------------------------------------------------------------------------


def moment_to_read(
    environment: Environment,
    moment: datetime.datetime | None,
    *,
    now: datetime.datetime | None = None,
) -> datetime.datetime | None:
    """The moment asked for, if the environment's history can be read then: inside its
    restorable window (None stays None: the data as it is now)."""
    if moment is None:
        return None
    now = now or latest(environment)
    if moment > now:
        raise ReadRefused(
            f"{when(moment)} is in the future; {environment.name} can be read as it was up to now.",
            field="as_of",
        )
    window = environment.restorable_window(now=now)
    if moment < window.start:
        _refuse_unless_backed_up(environment, "its data can be read only as it is now")
        if moment < environment.created_at:
            raise ReadRefused(
                f"{environment.name} was created at {when(environment.created_at)}; choose a "
                "moment at or after it.",
                field="as_of",
            )
        raise ReadRefused(
            f"History before {when(window.start)} is no longer kept for {environment.name}; "
            "choose a moment at or after it.",
            field="as_of",
        )
    return moment


def _refuse_unless_backed_up(environment: Environment, so: str) -> None:
    """A trial keeps no history (the data browser says the same, environments.forms)."""
    if not environment.backed_up:
        raise ReadRefused(
            f"{environment.name} is a {environment.get_type_display().lower()} environment, "
            f"which is not backed up: {so}.",
            field="as_of",
        )


def snapshot(environment: Environment, moment: datetime.datetime | None) -> store.Snapshot:
    """The data now (None) or as it was at a moment already checked by moment_to_read."""
    return store.current(environment) if moment is None else store.as_of(environment, moment)


def _at(snap: store.Snapshot) -> str:
    return "now" if snap.moment is None else f"at {when(snap.moment)}"


# -- tables ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableAt:
    table: DataTable
    rows: int  # live at the moment: the store's kept count, never counted here


def tables(snap: store.Snapshot) -> list[TableAt]:
    """The tables live at the snapshot's moment, by display name, with their row counts then."""
    found = list(snap.tables())
    if snap.moment is None:
        return [TableAt(t, t.live_rows) for t in found]
    counts = store.rows_at(found, snap.moment)
    return [TableAt(t, counts.get(t.pk, 0)) for t in found]


def table(snap: store.Snapshot, name: str) -> DataTable:
    found = snap.table(name) if cols.NAME_RE.match(name) else None
    if found is None:
        raise Http404(f"{snap.environment.name} has no table {name[:100]!r} {_at(snap)}.")
    return found


# -- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowsPage:
    rows: list[RowVersion]
    next: str | None  # what to pass as `after` for the next page; None on the last one


def rows_page(
    snap: store.Snapshot,
    data_table: DataTable,
    *,
    after: str = "",
    q: str = "",
    size: int,
) -> RowsPage:
    """A page of the table's rows at the snapshot's moment after `after`, in key order; with
    `q`, the row whose key is q (first page only) and the rows whose title starts with q, in
    the search index's order. The next page's `after` is the last row's key (with q:
    key~TITLE, the search's cursor; a bare key is looked up)."""
    rows = snap.rows(data_table, by_title=bool(q)).only("key", "values", "title")
    if not q:
        page = row_pages.browse_page(rows, {"after": after}, size)
        shown = [] if page.past_the_end else page.rows
        return RowsPage(shown, shown[-1].key if page.has_next and shown else None)
    params = {}
    if after:
        key, _, title = after.partition("~")
        if not title:
            cursor_row = (
                rows.filter(key=key).annotate(title_upper=Upper("title")).first()
                if cols.KEY_RE.match(key)
                else None
            )
            if cursor_row is None:
                raise ReadRefused(BAD_PAGE_LINK, field="after")
            title = cursor_row.title_upper
        params = {"after": key, "after_title": title}
    page = row_pages.search_page(rows, data_table, q, params, size)
    shown = [] if page.past_the_end else page.rows
    last = shown[-1] if page.has_next and shown else None
    return RowsPage(
        ([page.exact] if page.exact else []) + shown,
        f"{last.key}~{last.title_upper}" if last else None,
    )


def row(snap: store.Snapshot, data_table: DataTable, key: str) -> RowVersion:
    found = (
        snap.rows(data_table).only("key", "values", "title").filter(key=key).first()
        if cols.KEY_RE.match(key)
        else None
    )
    if found is None:
        raise Http404(f"{data_table.display_name} has no row {key[:100]!r} {_at(snap)}.")
    return found


def each_row(
    data_table: DataTable, moment: datetime.datetime | None, *, chunk: int | None = None
) -> Iterator[list[str | None]]:
    """Every row of the table at `moment` as [key, each column's value as text, None when
    empty], in key order, `chunk` rows (EXPORT_CHUNK) a statement, each reading the primary
    key on from where the last one stopped (keyset), so memory stays the same at any size.

    The database writes each value out (_ValueText: text as it is, numbers as digits, booleans
    true / false), so rows never go through JSON in Python. A branch's layers are read in one
    statement each time: no pruning on the base's closed_until, which a write to the base could
    move meanwhile (environments.lineage)."""
    chunk = chunk or EXPORT_CHUNK
    names = [f"c{i}" for i in range(len(data_table.columns))]
    rows = (
        lineage.rows(data_table, moment)
        .annotate(
            **{
                name: _ValueText(c["name"])
                for name, c in zip(names, data_table.columns, strict=True)
            }
        )
        .values("key", *names)
    )
    booleans = [i + 1 for i, c in enumerate(data_table.columns) if c["type"] == "boolean"]
    last = None
    while True:
        found = list((rows if last is None else rows.filter(key__gt=last))[:chunk])
        for row in found:
            line = [row["key"], *(row[name] for name in names)]
            for i in booleans:
                line[i] = _BOOLEAN.get(line[i], line[i])
            yield line
        if len(found) < chunk:
            return
        last = found[-1]["key"]


_BOOLEAN = {1: "true", 0: "false"}  # True and False too: they hash as 1 and 0


class _ValueText(Func):
    """One column's value of a version's `values`, as the database writes it out: `->>` on
    PostgreSQL (text; booleans true / false; SQL NULL for a JSON null), json_extract on SQLite
    (the same, but booleans 1 / 0, which each_row turns into words). Django's KeyTextTransform
    gives SQLite's JSON null as the text 'null', which a text value can also be."""

    output_field = TextField()

    def __init__(self, column: str):
        super().__init__(F("values"))
        self.column = column

    def as_sql(self, compiler, connection, **extra):
        values, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"({values} ->> %s)", (*params, self.column)
        return f"json_extract({values}, %s)", (*params, f'$."{self.column}"')


# -- changes -----------------------------------------------------------------------------------


def changes_span(
    environment: Environment,
    start: datetime.datetime | None,
    end: datetime.datetime | None,
    *,
    now: datetime.datetime | None = None,
) -> changelog.Span:
    """The range asked for, checked (changelog.span_for); by default it ends now and starts a
    day before its end, or where the environment's history starts when that is later."""
    try:
        _refuse_unless_backed_up(environment, "it keeps no history of its changes")
    except ReadRefused as refusal:
        raise changelog.ChangesRefused(refusal.message) from None
    now = now or latest(environment)
    end = end or now
    if start is None:
        start = max(end - DEFAULT_RANGE, environment.restorable_window(now=now).start)
    return changelog.span_for(environment, start, end, now=now)


def change_counts(
    environment: Environment, span: changelog.Span, f: changelog.Filters
) -> list[changelog.TableChanges]:
    """changelog.counts, refusing a table the span never had as a page of changes does (the
    counts alone would say nothing about it)."""
    if f.table and f.table not in {t.name for t in changelog.tables_in(environment, span)}:
        raise changelog.ChangesRefused(
            f"{environment.name} had no table {f.table!r} in that range.", field="table"
        )
    return changelog.counts(environment, span, f)


def cursor(token: str | None) -> changelog.Cursor | None:
    return changelog.Cursor.parse(token) if token else None


def history(
    environment: Environment,
    table_name: str,
    key: str,
    *,
    moment: datetime.datetime | None = None,
    after: str | None = None,
    size: int = changelog.PAGE_SIZE,
) -> tuple[DataTable, row_history.History]:
    """One row's changes, newest first, as its page shows them (environments.row_history): each
    with when, who, its kind, the values before and after it and the fields that changed; a
    restored table's row goes on into the table it was restored from (a "restored" entry says
    where). The table is the one the environment has now, or had at `moment`. 404 for a table
    it has not, or a row with no history that does not exist either."""
    snap = snapshot(environment, moment_to_read(environment, moment))
    data_table = table(snap, table_name)
    if not cols.KEY_RE.match(key):
        raise Http404(f"{data_table.display_name} has no row {key[:100]!r} {_at(snap)}.")
    start = None
    if after is not None:
        start = row_history.parse_token(after)
        if start is None:
            raise ReadRefused(BAD_PAGE_LINK, field="after")
    found = row_history.history(data_table, key, size=size, start=start)
    if not found.changes and start is None and not snap.rows(data_table).filter(key=key).exists():
        raise Http404(
            f"There is no row {key!r} in {data_table.display_name}, now or in its history."
        )
    return data_table, found


@dataclass(frozen=True)
class FieldChange:
    column: str
    label: str
    before: Any
    after: Any


def changed_fields(change: changelog.Change) -> list[FieldChange]:
    """The columns whose stored values differ before and after the change (changelog's
    `fields` has the same ones as the browser shows them)."""
    before, after = change.before or {}, change.after or {}
    return [
        FieldChange(c["name"], c["label"], before.get(c["name"]), after.get(c["name"]))
        for c in change.table.columns
        if before.get(c["name"]) != after.get(c["name"])
    ]
