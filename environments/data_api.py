"""API: an environment's data, now or as it was at a moment of its restorable window (the
tables and their row counts, a keyset page of rows, one row), one row's history, the changes
between two moments with their per-table counts, and CSV exports of a table and of the changes.
Read-only; for those who may read the environment's data (environments.lookups). The reads are
environments.data_reads', the files environments.csv_export's."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Path, Query, Router

from environments import changelog, csv_export, data_reads, row_history
from environments import columns as cols
from environments.lookups import environment_for_data
from environments.models import DataTable, RowVersion
from portal.api.errors import error_responses
from portal.api.schemas import ENVIRONMENT_REF, CamelSchema, Moment, Text

router = Router(tags=["data"], by_alias=True)

EnvRef = Path(..., description=ENVIRONMENT_REF, max_length=100)
TableRef = Path(..., description="The table's name, e.g. `accounts`.", max_length=100)
KeyRef = Path(..., description="The row's key.", max_length=100)
AS_OF = (
    "A moment of the restorable window, ISO 8601 with its offset; without it, the data as it "
    "is now. Outside the window (or in the future): 422."
)
READ_ERRORS = error_responses(403, 404, 422)
CSV_ANSWER = {
    "responses": {
        200: {
            "description": "CSV, UTF-8 with a header row, streamed (see the description).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


# -- what the answers hold ---------------------------------------------------------------------


class ColumnOut(CamelSchema):
    name: str
    label: str
    type: Literal[cols.COLUMN_TYPES]  # type: ignore[valid-type]


class TableOut(CamelSchema):
    name: str
    display_name: str
    rows: int = Field(description="Its rows at the moment (the store's kept count).")
    columns: list[ColumnOut]


class TablesOut(CamelSchema):
    environment_id: int
    as_of_date_time: datetime.datetime | None = Field(
        description="The moment read; null: the data as it is now."
    )
    tables: list[TableOut]


class RowOut(CamelSchema):
    key: str
    title: str = Field(description="The value of the table's first text column (searched by q).")
    values: dict[str, Any] = Field(description="Column name to value, as stored.")


class RowPageOut(CamelSchema):
    as_of_date_time: datetime.datetime | None
    table: str
    rows: list[RowOut]
    next: str | None = Field(
        description="Pass it as `after` (with the same `q`) for the next page; null on the last."
    )


class FieldChangeOut(CamelSchema):
    column: str
    label: str
    before: Any
    after: Any


class ChangeOut(CamelSchema):
    table: str
    key: str
    title: str
    kind: Literal[changelog.KINDS]  # type: ignore[valid-type]
    date_time: datetime.datetime
    who: str = Field(description='Who made it, e.g. "alex", "alex (API)", or "Unknown".')
    before: dict[str, Any] | None = Field(description="The row's values before; null if added.")
    after: dict[str, Any] | None = Field(description="The row's values after; null if deleted.")
    changed_fields: list[FieldChangeOut]


class RestoredFromOut(CamelSchema):
    environment: str = Field(description="The environment the table was restored from.")
    date_time: datetime.datetime = Field(description="...as it was at this moment.")


class HistoryEntryOut(CamelSchema):
    kind: Literal[row_history.KINDS]  # type: ignore[valid-type]
    date_time: datetime.datetime
    who: str | None = Field(
        description='Who made it, e.g. "alex", "alex (API)", or "Unknown"; null for "restored".'
    )
    before: dict[str, Any] | None = Field(description="The row's values before; null if added.")
    after: dict[str, Any] | None = Field(description="The row's values after; null if deleted.")
    changed_fields: list[FieldChangeOut]
    restored_from: RestoredFromOut | None = Field(
        description='For "restored": the table was restored here; the older entries are the '
        "row's changes in the environment it was restored from, up to that moment."
    )


class HistoryOut(CamelSchema):
    table: str
    key: str
    entries: list[HistoryEntryOut] = Field(description="Newest first.")
    next: str | None = Field(description="Pass it as `after` for older entries; null: none.")


class RestoreInRangeOut(CamelSchema):
    date_time: datetime.datetime
    reason: str


class ChangesOut(CamelSchema):
    from_date_time: datetime.datetime
    to_date_time: datetime.datetime
    changes: list[ChangeOut] = Field(description="Newest first.")
    next: str | None = Field(description="Pass it as `after` for the next page; null: none.")
    restores: list[RestoreInRangeOut] = Field(
        description="Restores that replaced the data in the range: not listed as changes."
    )


class TableCountsOut(CamelSchema):
    table: str
    display_name: str
    added: int
    changed: int
    deleted: int
    total: int


class ChangeCountsOut(CamelSchema):
    from_date_time: datetime.datetime
    to_date_time: datetime.datetime
    tables: list[TableCountsOut] = Field(description="Tables with no matching change left out.")


# -- what the requests say ---------------------------------------------------------------------


class AsOfQuery(CamelSchema):
    as_of: Moment | None = Field(None, description=AS_OF)


class RowsQuery(AsOfQuery):
    after: Text(200) | None = Field(
        None, description="The `next` of the page before (a row's key; with q, key~TITLE)."
    )
    q: Text(100) | None = Field(
        None, description="A key (exact), or the start of the rows' title (any case)."
    )
    limit: int = Field(settings.DATA_PAGE_SIZE, ge=1, le=data_reads.MAX_PAGE)


class PageQuery(CamelSchema):
    after: Text(200) | None = Field(None, description="The `next` of the page before.")
    limit: int = Field(changelog.PAGE_SIZE, ge=1, le=data_reads.MAX_PAGE)


class HistoryQuery(AsOfQuery, PageQuery):
    pass


class ChangeFilters(CamelSchema):
    start: Moment | None = Field(
        None,
        alias="from",
        description="The changes after this moment; default: a day before `to` (or where the "
        "kept history starts, if later).",
    )
    end: Moment | None = Field(
        None, alias="to", description="...up to and including this one; default: now."
    )
    table: Text(63) | None = Field(None, description="A table's name.")
    kind: Literal[changelog.KINDS] | None = None  # type: ignore[valid-type]
    who: Text(150) | None = Field(
        None, description=f"A user name, or `{changelog.UNKNOWN_AUTHOR}` for changes nobody "
        "was recorded for."
    )  # fmt: skip
    q: Text(100) | None = Field(None, description="A row's key, or the start of its title.")

    def filters(self) -> changelog.Filters:
        return changelog.Filters(
            table=self.table or "", kind=self.kind or "", who=self.who or "", q=self.q or ""
        )


class ChangesQuery(ChangeFilters, PageQuery):
    pass


# -- translations ------------------------------------------------------------------------------


def table_out(data_table: DataTable, rows: int) -> dict:
    return {
        "name": data_table.name,
        "display_name": data_table.display_name,
        "rows": rows,
        "columns": [
            {"name": c["name"], "label": c["label"], "type": c["type"]} for c in data_table.columns
        ],
    }


def row_out(row: RowVersion) -> dict:
    return {"key": row.key, "title": row.title, "values": row.values}


def change_out(change: changelog.Change) -> dict:
    return {
        "table": change.table.name,
        "key": change.key,
        "title": change.title,
        "kind": change.kind,
        "date_time": change.at,
        "who": change.who,
        "before": change.before,
        "after": change.after,
        "changed_fields": [vars(f) for f in data_reads.changed_fields(change)],
    }


def history_out(table: DataTable, key: str, found: row_history.History) -> dict:
    def entry(change: row_history.Change) -> dict:
        restored = change.kind == row_history.RESTORED
        return {
            "kind": change.kind,
            "date_time": change.at,
            "who": None if restored else change.author,
            "before": change.before,
            "after": change.after,
            "changed_fields": [
                {
                    "column": f.column,
                    "label": f.label,
                    "before": f.stored_before,
                    "after": f.stored_after,
                }
                for f in change.fields
            ],  # fmt: skip
            "restored_from": {"environment": change.source, "date_time": change.source_at}
            if restored
            else None,
        }

    return {
        "table": table.name,
        "key": key,
        "entries": [entry(c) for c in found.changes],
        "next": row_history.token(found.older) if found.older else None,
    }


def _next(page: changelog.Page) -> str | None:
    return page.next.token() if page.next else None


def _span(env, query: ChangeFilters) -> changelog.Span:
    """The range the query asks for; a refusal names the query's parameter (`from`, `to`)."""
    try:
        return data_reads.changes_span(env, query.start, query.end)
    except changelog.ChangesRefused as refusal:
        refusal.field = {"start": "from", "end": "to"}.get(refusal.field, refusal.field)
        raise


# -- the routes --------------------------------------------------------------------------------


@router.get(
    "/environments/{environment}/tables",
    response={200: TablesOut, **READ_ERRORS},
    summary="The tables of an environment, now or at a moment, with their row counts then",
)
def data_tables(request: HttpRequest, query: Query[AsOfQuery], environment: str = EnvRef):
    env = environment_for_data(request.auth, environment)
    moment = data_reads.moment_to_read(env, query.as_of)
    return {
        "environment_id": env.pk,
        "as_of_date_time": moment,
        "tables": [
            table_out(t.table, t.rows) for t in data_reads.tables(data_reads.snapshot(env, moment))
        ],
    }


@router.get(
    "/environments/{environment}/tables/{table}/rows",
    response={200: RowPageOut, **READ_ERRORS},
    summary="A page of a table's rows, now or at a moment (by key; or searched)",
    description="Rows in key order, `limit` at a time: pass the answer's `next` as `after` for "
    "the next page (keyset paging: every page costs the same). With `q`: the row whose key is "
    "q first, then the rows whose title (the first text column) starts with q, any case.",
)
def data_rows(
    request: HttpRequest,
    query: Query[RowsQuery],
    environment: str = EnvRef,
    table: str = TableRef,
):
    env = environment_for_data(request.auth, environment)
    moment = data_reads.moment_to_read(env, query.as_of)
    snap = data_reads.snapshot(env, moment)
    data_table = data_reads.table(snap, table)
    page = data_reads.rows_page(
        snap, data_table, after=query.after or "", q=query.q or "", size=query.limit
    )
    return {
        "as_of_date_time": moment,
        "table": data_table.name,
        "rows": [row_out(r) for r in page.rows],
        "next": page.next,
    }


@router.get(
    "/environments/{environment}/tables/{table}/rows.csv",
    response=READ_ERRORS,
    openapi_extra=CSV_ANSWER,
    summary="Export a table, now or as it was at a moment, as CSV",
    description="Every row, streamed: `Key`, then the table's columns in their order headed "
    "by their labels; values as stored (booleans `true`/`false`, empty for none). Without "
    "`asOf`, the table as of the moment the export starts.",
)
def data_rows_csv(request: HttpRequest, query: Query[AsOfQuery], environment: str = EnvRef,
                  table: str = TableRef):  # fmt: skip
    env = environment_for_data(request.auth, environment)
    return csv_export.table_export(env, table, query.as_of).response()


@router.get(
    "/environments/{environment}/tables/{table}/rows/{key}",
    response={200: RowOut, **READ_ERRORS},
    summary="One row, now or at a moment",
)
def data_row(
    request: HttpRequest,
    query: Query[AsOfQuery],
    environment: str = EnvRef,
    table: str = TableRef,
    key: str = KeyRef,
):
    env = environment_for_data(request.auth, environment)
    snap = data_reads.snapshot(env, data_reads.moment_to_read(env, query.as_of))
    return row_out(data_reads.row(snap, data_reads.table(snap, table), key))


@router.get(
    "/environments/{environment}/tables/{table}/rows/{key}/history",
    response={200: HistoryOut, **READ_ERRORS},
    summary="One row's history: its changes, newest first",
    description="When, who, added / changed / deleted, the values before and after, and the "
    "fields that changed: the entries the row's page in the browser shows. A table restored "
    "from another environment (or from a moment of its own) has a `restored` entry, and the "
    "row's changes there follow it. `asOf` reads the table the environment had at that moment "
    "(e.g. one deleted since). 404 for a row with no history that does not exist either.",
)
def data_row_history(
    request: HttpRequest,
    query: Query[HistoryQuery],
    environment: str = EnvRef,
    table: str = TableRef,
    key: str = KeyRef,
):
    env = environment_for_data(request.auth, environment)
    found_table, found = data_reads.history(
        env, table, key, moment=query.as_of, after=query.after, size=query.limit
    )
    return history_out(found_table, key, found)


@router.get(
    "/environments/{environment}/changes",
    response={200: ChangesOut, **READ_ERRORS},
    summary="The changes between two moments, row by row",
    description="Every row added, changed or deleted after `from` up to `to` (default: the "
    "last 24 hours), newest first, `limit` at a time (pass `next` as `after`), with the "
    "filters. Each page costs the same however many changes the range holds; the per-table "
    "counts are a request of their own (`/changes/counts`, same filters), made once rather "
    "than with every page.",
)
def data_changes(request: HttpRequest, query: Query[ChangesQuery], environment: str = EnvRef):
    env = environment_for_data(request.auth, environment)
    span = _span(env, query)
    page = changelog.page(
        env, span, query.filters(), after=data_reads.cursor(query.after), size=query.limit
    )
    return {
        "from_date_time": span.start,
        "to_date_time": span.end,
        "changes": [change_out(c) for c in page.changes],
        "next": _next(page),
        "restores": [
            {"date_time": r.at, "reason": r.reason} for r in changelog.restores_in(env, span)
        ],
    }


@router.get(
    "/environments/{environment}/changes/counts",
    response={200: ChangeCountsOut, **READ_ERRORS},
    summary="Per table, the rows added, changed and deleted between two moments",
    description="The same range and filters as `/changes` (the table filter narrows the "
    "answer to that table).",
)
def data_change_counts(
    request: HttpRequest, query: Query[ChangeFilters], environment: str = EnvRef
):
    env = environment_for_data(request.auth, environment)
    span = _span(env, query)
    return {
        "from_date_time": span.start,
        "to_date_time": span.end,
        "tables": [
            {
                "table": c.table.name,
                "display_name": c.table.display_name,
                "added": c.added,
                "changed": c.changed,
                "deleted": c.deleted,
                "total": c.total,
            }
            for c in data_reads.change_counts(env, span, query.filters())
        ],
    }


@router.get(
    "/environments/{environment}/changes.csv",
    response=READ_ERRORS,
    openapi_extra=CSV_ANSWER,
    summary="Export the changes between two moments as CSV",
    description="Every change matching the filters (as `/changes`), newest first, streamed: "
    "one line per changed field, `table, key, title, kind, when, who, field, label, before, "
    "after` (`when` in UTC, ISO 8601; a change of no field is one line with the last four "
    "empty).",
)
def data_changes_csv(request: HttpRequest, query: Query[ChangeFilters], environment: str = EnvRef):
    env = environment_for_data(request.auth, environment)
    span = _span(env, query)
    return csv_export.changes_export(env, span, query.filters()).response()
