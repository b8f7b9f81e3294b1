"""The data browser: an environment's tables and rows, for its admins and makers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OrderBy, QuerySet
from django.db.models.expressions import ExpressionList
from django.db.models.functions import Upper
from django.db.models.lookups import GreaterThan, LessThan
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from environments import columns as cols
from environments import store
from environments.forms import RowListForm
from environments.models import DataTable, Environment, RowVersion
from portal import permissions
from portal.errors import Refused
from portal.http import HtmxHttpRequest, render_partial


def _get_environment_for_data(
    request: HtmxHttpRequest, slug: str, *, write: bool = False
) -> Environment:
    env = get_object_or_404(Environment, slug=slug)
    if not permissions.data_environments(request.user).filter(pk=env.pk).exists():
        raise Http404("No such environment")
    decision = (permissions.can_write_data if write else permissions.can_read_data)(
        request.user, env
    )
    if not decision:
        raise PermissionDenied(decision.reason)
    return env


def _get_table(env: Environment, name: str) -> DataTable:
    table = store.current(env).table(name)
    if table is None:
        raise Http404("No such table")
    return table


def _base_context(request: HtmxHttpRequest, env: Environment) -> dict:
    return {
        "environment": env,
        "can_manage": permissions.can_manage_environment(request.user, env),
        "can_write": permissions.can_write_data(request.user, env),
    }


@require_GET
def table_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug)
    tables = store.current(env).tables()
    return render(
        request, "environments/data/tables.html", {**_base_context(request, env), "tables": tables}
    )


# -- the row list: pages by key (keyset), never by OFFSET; the count is the stored figure ------


class _Bytewise:
    """On PostgreSQL, compare text in the order of the search index's text_pattern_ops, byte by
    byte (~<~, ~>~): the collation's < and > cannot use that index. SQLite's default (BINARY)
    comparison is already byte by byte, so both give the same rows."""

    operator = ""

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} {self.operator} {rhs}", (*lhs_params, *rhs_params)


class _TitleAbove(_Bytewise, GreaterThan):
    operator = "~>~"


class _TitleBelow(_Bytewise, LessThan):
    operator = "~<~"


class _TitleKeyOrder(OrderBy):
    """ORDER BY upper(title), key in the search index's order, so that PostgreSQL reads the
    matches off the index instead of sorting them all. It is one term for both columns
    because the title's `USING ~<~` takes the place of ASC, and Django's compiler expects each
    term to end in ASC or DESC."""

    def __init__(self, descending: bool = False) -> None:
        super().__init__(ExpressionList(Upper("title"), F("key")), descending=descending)

    def as_sql(self, compiler, connection, title_order: str = ""):
        direction = "DESC" if self.descending else "ASC"
        title, key = self.expression.get_source_expressions()
        title_sql, title_params = compiler.compile(title)
        key_sql, key_params = compiler.compile(key)
        sql = f"{title_sql} {title_order or direction}, {key_sql} {direction}"
        return sql, (*title_params, *key_params)

    def as_postgresql(self, compiler, connection):
        return self.as_sql(
            compiler, connection, title_order="USING ~>~" if self.descending else "USING ~<~"
        )


@dataclass
class _Page:
    rows: list[RowVersion]
    has_previous: bool
    has_next: bool
    past_the_end: bool = False  # nothing after the cursor: these are the last rows instead
    exact: RowVersion | None = None  # a search's row of that very key, shown first
    previous_url: str = ""
    next_url: str = ""


def _keyset_page(
    fetch: Callable[..., list[RowVersion]],
    cursor_of: Callable[[RowVersion], Any],
    *,
    after: Any = None,
    before: Any = None,
    inclusive: bool = False,
    size: int,
) -> _Page:
    """A page of `size` rows after (or before) a cursor. `fetch(cursor, forward, limit,
    inclusive)` reads rows in order from a cursor (None: from the start, or from the end when
    not forward); one row more than a page tells whether there is a next (previous) one."""
    if before is not None:
        found = fetch(before, False, size + 1)
        if len(found) > size:
            rows = found[:size][::-1]
            return _Page(rows, True, bool(fetch(cursor_of(rows[-1]), True, 1)))
        after, inclusive = None, False  # not a whole page before it: the first page
    found = fetch(after, True, size + 1, inclusive)
    rows = found[:size]
    if after is not None and not rows:
        found = fetch(None, False, size + 1)
        return _Page(found[:size][::-1], len(found) > size, False, past_the_end=True)
    has_previous = after is not None and bool(rows) and bool(fetch(cursor_of(rows[0]), False, 1))
    return _Page(rows, has_previous, len(found) > size)


def _browse_page(rows: QuerySet[RowVersion], params: dict, size: int) -> _Page:
    """Rows in key order: after or before a key, or from a key on (`from`, inclusive)."""

    def fetch(key, forward, limit, inclusive=False):
        found = rows.order_by("key" if forward else "-key")
        if key is not None:
            lookup = ("gt" if forward else "lt") + ("e" if inclusive else "")
            found = found.filter(**{f"key__{lookup}": key})
        return list(found[:limit])

    if params.get("from"):
        page = _keyset_page(fetch, _key_of, after=params["from"], inclusive=True, size=size)
    else:
        after, before = params.get("after") or None, params.get("before") or None
        page = _keyset_page(fetch, _key_of, after=after, before=before, size=size)
    if page.has_previous:
        page.previous_url = _query(before=page.rows[0].key)
    if page.has_next:
        page.next_url = _query(after=page.rows[-1].key)
    return page


def _search_page(
    rows: QuerySet[RowVersion], data_table: DataTable, q: str, params: dict, size: int
) -> _Page:
    """The row whose key is q, then the rows whose title starts with q (any case) in
    (upper(title), key) order: the order of the search index, read from the cursor on."""
    key_like = bool(cols.KEY_RE.match(q))
    matches = RowVersion.objects.none()
    if cols.title_column(data_table.columns) is not None:
        matches = rows.filter(title__istartswith=q).annotate(title_upper=Upper("title"))
        if key_like:  # the row of that key comes first, once
            matches = matches.exclude(key=q)

    def fetch(cursor, forward, limit, inclusive=False):
        order = _TitleKeyOrder(descending=not forward)
        if cursor is None:
            return list(matches.order_by(order)[:limit])
        title, key = cursor
        # Two index ranges: the rest of the cursor's title, then the titles beyond it. One OR
        # of both would read every row with that title (a common first name) on each page.
        found = list(
            matches.filter(
                title_upper=title, **{"key__gt" if forward else "key__lt": key}
            ).order_by("key" if forward else "-key")[:limit]
        )
        if len(found) < limit:
            beyond = (_TitleAbove if forward else _TitleBelow)(Upper("title"), title)
            found += matches.filter(beyond).order_by(order)[: limit - len(found)]
        return found

    def cursor(side: str) -> tuple[str, str] | None:
        return (params[f"{side}_title"], params[side]) if params.get(side) else None

    page = _keyset_page(
        fetch, _title_key_of, after=cursor("after"), before=cursor("before"), size=size
    )
    if key_like and not page.has_previous:
        page.exact = rows.filter(key=q).first()
    if page.has_previous:
        first = page.rows[0]
        page.previous_url = _query(q=q, before=first.key, before_title=first.title_upper)
    if page.has_next:
        last = page.rows[-1]
        page.next_url = _query(q=q, after=last.key, after_title=last.title_upper)
    return page


def _key_of(row: RowVersion) -> str:
    return row.key


def _title_key_of(row: RowVersion) -> tuple[str, str]:
    return (row.title_upper, row.key)


def _search_scope(data_table: DataTable) -> str:
    column = cols.title_column(data_table.columns)
    if column is None:
        return "Searches the key (exact); this table has no text column to search."
    return f"Searches the key (exact) and {column['label']} (starts with)."


def _past_the_end_note(page: _Page, q: str, params: dict) -> str:
    if q:
        return "No more rows match after that one; these are the last matches."
    if params.get("from"):
        return f"No row has a key at or after “{params['from']}”; these are the last rows."
    return "No rows come after that key any more; these are the last rows."


def _query(**params: str) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v})


@require_GET
def row_list(request: HtmxHttpRequest, slug: str, table: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug)
    data_table = _get_table(env, table)
    form = RowListForm(request.GET)
    form.is_valid()  # what is not valid is left out of cleaned_data, and said in the page
    params = form.cleaned_data
    q = params.get("q", "")
    rows = store.current(env).rows(data_table).only("key", "values")
    if q:
        page = _search_page(rows, data_table, q, params, settings.DATA_PAGE_SIZE)
    else:
        page = _browse_page(rows, params, settings.DATA_PAGE_SIZE)
    shown_columns = data_table.columns[:6]
    page_rows = [
        {
            "key": r.key,
            "key_match": r is page.exact,
            "cells": [
                (cols.display(c, r.values.get(c["name"])), c["type"] in ("integer", "decimal"))
                for c in shown_columns
            ],
        }
        for r in ([page.exact] if page.exact else []) + page.rows
    ]
    context = {
        **_base_context(request, env),
        "table": data_table,
        "columns": shown_columns,
        "page_rows": page_rows,
        "first_key": page.rows[0].key if page.rows else "",
        "last_key": page.rows[-1].key if page.rows else "",
        "page": page,
        "first_url": _query(q=q) if page.has_previous else "",
        "note": _past_the_end_note(page, q, params) if page.past_the_end else "",
        "form": form,
        "problems": form.problems(),
        "q": q,
        "start": params.get("from", ""),
        "search_scope": _search_scope(data_table),
    }
    return render_partial(request, "environments/data/rows.html", context, "rows-table")


def _row_form_page(request, env, data_table, form, *, key=None, status=200) -> HttpResponse:
    return render(
        request,
        "environments/data/row_form.html",
        {
            **_base_context(request, env),
            "table": data_table,
            "form": form,
            "key": key,
            "row_page": True,
        },
        status=status,
    )


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@require_http_methods(["GET", "POST"])
def row_create(request: HtmxHttpRequest, slug: str, table: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug, write=True)
    data_table = _get_table(env, table)
    form_class = cols.row_form_class(data_table.columns)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = store.row_create(
                environment=env, table_name=data_table.name, values=form.stored_values()
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Row {row.key} added to {data_table.display_name}.")
            return redirect("environments:rows", slug=env.slug, table=data_table.name)
    return _row_form_page(request, env, data_table, form)


def _current_row(env: Environment, data_table: DataTable, key: str) -> RowVersion:
    if not cols.KEY_RE.match(key):  # e.g. a NUL byte, which PostgreSQL refuses in a query
        raise Http404("No such row")
    row = store.current(env).rows(data_table).filter(key=key).first()
    if row is None:
        raise Http404("No such row")
    return row


@require_http_methods(["GET", "POST"])
def row_edit(request: HtmxHttpRequest, slug: str, table: str, key: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug, write=request.method == "POST")
    data_table = _get_table(env, table)
    row = _current_row(env, data_table, key)
    form_class = cols.row_form_class(data_table.columns)
    initial = {c["name"]: cols.from_json(c, row.values.get(c["name"])) for c in data_table.columns}
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            store.row_update(
                environment=env, table_name=data_table.name, key=key, values=form.stored_values()
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Row {key} of {data_table.display_name} saved.")
            return redirect("environments:rows", slug=env.slug, table=data_table.name)
    return _row_form_page(request, env, data_table, form, key=key)


@require_http_methods(["GET", "POST"])
def row_delete(request: HtmxHttpRequest, slug: str, table: str, key: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug, write=True)
    data_table = _get_table(env, table)
    row = _current_row(env, data_table, key)
    error = ""
    if request.method == "POST":
        try:
            store.row_delete(environment=env, table_name=data_table.name, key=key)
        except Refused as exc:
            error = exc.message
        else:
            messages.success(request, f"Row {key} deleted from {data_table.display_name}.")
            return redirect("environments:rows", slug=env.slug, table=data_table.name)
    cells = [(c["label"], cols.display(c, row.values.get(c["name"]))) for c in data_table.columns]
    return render(
        request,
        "environments/data/row_delete.html",
        {
            **_base_context(request, env),
            "table": data_table,
            "key": key,
            "cells": cells,
            "error": error,
            "row_page": True,
        },
    )
