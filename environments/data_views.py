"""The data browser: an environment's tables and rows, for its admins and makers."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from environments import columns as cols
from environments import permissions, row_history, row_pages, store
from environments.forms import ColumnFormSet, RowListForm, TableForm
from environments.models import DataTable, Environment, RowVersion
from environments.viewing import Viewing, viewing
from portal import localtime
from portal.errors import Refused
from portal.http import HtmxHttpRequest, render_partial
from portal.templatetags.portal import when


def _get_environment_for_data(
    request: HtmxHttpRequest, slug: str, *, write: bool = False
) -> Environment:
    env = get_object_or_404(Environment, slug=slug)
    if not permissions.data_environments(request.user).filter(pk=env.pk).exists():
        raise Http404("No such environment")
    (permissions.can_write_data if write else permissions.can_read_data)(
        request.user, env
    ).require()
    return env


def _get_table(env: Environment, name: str) -> DataTable:
    table = store.current(env).table(name)
    if table is None:
        raise Http404("No such table")
    return table


def _base_context(request: HtmxHttpRequest, env: Environment, seen: Viewing | None = None) -> dict:
    can_write = permissions.can_write_data(request.user, env)
    return {
        "environment": env,
        "can_manage": permissions.can_manage_environment(request.user, env),
        "can_write": can_write,
        # At a moment, the data is read only: no link to a write.
        "offer_writes": bool(can_write) and not (seen and seen.moment),
        "viewing": seen,
        "at_query": seen.query if seen else "",
    }


def _viewing_context(request: HtmxHttpRequest, env: Environment, seen: Viewing) -> dict:
    """What the As of control and the banner show."""
    return {
        **_base_context(request, env, seen),
        "now_url": request.path,
        "zone_options": mark_safe(
            localtime.zone_datalist_html(localtime.viewer_zone(), timezone.now())
        ),
        "ambiguous": seen.ambiguous(),
    }


def _unviewable(
    request: HtmxHttpRequest, env: Environment, seen: Viewing, **context
) -> HttpResponse | None:
    """The answer when the page cannot show data at the moment asked for: to the address of
    the moment the As of control named, or the page saying why and nothing else (`context`
    names the page: its table, its row key)."""
    if seen.go_to:
        return redirect(f"{request.path}{seen.go_to}#as-of")
    if seen.shows_data:
        return None
    return render(
        request,
        "environments/data/unviewable.html",
        {**_viewing_context(request, env, seen), **context},
        status=seen.status,
    )


def _no_table(request: HtmxHttpRequest, env: Environment, seen: Viewing, name: str):
    """No table of that name in the data shown: not found; at a moment, a page that says so."""
    if seen.moment is None:
        raise Http404("No such table")
    problem = format_html(
        "{} had no table “{}” at {}: it was made later, or dropped before.",
        env.name,
        name,
        when(seen.moment, seconds=True),
    )
    context = {**_viewing_context(request, env, seen), "problem": problem, "table_name": name}
    return render(request, "environments/data/unviewable.html", context, status=404)


def _row_counts(tables: list[DataTable], seen: Viewing) -> dict[int, int]:
    """Each table's rows at the moment shown: stored figures, never a count of rows."""
    if seen.moment:
        return store.rows_at(tables, seen.moment)
    return {t.pk: t.live_rows for t in tables}


def _cells(data_table: DataTable, row: RowVersion) -> list[tuple[str, str]]:
    """(label, value as the browser shows it) of each column."""
    return [(c["label"], cols.display(c, row.values.get(c["name"]))) for c in data_table.columns]


@require_GET
def table_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug)
    seen = viewing(request, env)
    if (response := _unviewable(request, env, seen)) is not None:
        return response
    tables = list(seen.snapshot(env).tables())
    counts = _row_counts(tables, seen)
    context = {
        **_viewing_context(request, env, seen),
        "tables": [(t, counts.get(t.pk, 0)) for t in tables],
    }
    return render(request, "environments/data/tables.html", context)


@require_http_methods(["GET", "POST"])
def table_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """New table: a name and its columns (a schema change: the environment's admins only)."""
    env = _get_environment_for_data(request, slug, write=True)
    if not permissions.can_manage_environment(request.user, env):
        raise PermissionDenied("Only the environment's administrators can add tables.")
    data = request.POST if request.method == "POST" else None
    form, columns = TableForm(data), ColumnFormSet(data, prefix="columns")
    if request.method == "POST" and form.is_valid() and columns.is_valid():
        try:
            table = store.table_create(
                environment=env,
                name=form.cleaned_data["name"],
                display_name=form.cleaned_data["display_name"],
                columns=[c for c in (f.column() for f in columns) if c is not None],
                by=store.Author.person(request.user),
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        except Refused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Table {table.display_name} added.")
            return redirect("environments:rows", slug=env.slug, table=table.name)
    context = {**_base_context(request, env), "form": form, "columns": columns}
    return render(request, "environments/data/table_form.html", context)


# -- the row list (its pages: environments.row_pages) and a row's forms ---------------------


@require_GET
def row_list(request: HtmxHttpRequest, slug: str, table: str) -> HttpResponse:
    env = _get_environment_for_data(request, slug)
    seen = viewing(request, env, keep=("q",))
    if (response := _unviewable(request, env, seen, table_name=table)) is not None:
        return response
    snapshot = seen.snapshot(env)
    data_table = snapshot.table(table)
    if data_table is None:
        return _no_table(request, env, seen, table)
    form = RowListForm(request.GET)
    form.is_valid()  # what is not valid is left out of cleaned_data, and said in the page
    params = form.cleaned_data
    q = params.get("q", "")
    rows = snapshot.rows(data_table, by_title=bool(q)).only("key", "values")
    size, keep = settings.DATA_PAGE_SIZE, seen.params
    if q:
        page = row_pages.search_page(rows, data_table, q, params, size, keep=keep)
    else:
        page = row_pages.browse_page(rows, params, size, keep=keep)
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
        **_viewing_context(request, env, seen),
        "table": data_table,
        "row_count": _row_counts([data_table], seen)[data_table.pk],
        "columns": shown_columns,
        "page_rows": page_rows,
        "first_key": page.rows[0].key if page.rows else "",
        "last_key": page.rows[-1].key if page.rows else "",
        "page": page,
        "first_url": row_pages.query(q=q, **keep) if page.has_previous else "",
        "note": row_pages.past_the_end_note(page, q, params) if page.past_the_end else "",
        "form": form,
        "problems": form.problems(),
        "q": q,
        "start": params.get("from", ""),
        "search_scope": row_pages.search_scope(data_table),
    }
    return render_partial(request, "environments/data/rows.html", context, "rows-table")


@require_GET
def row_detail(request: HtmxHttpRequest, slug: str, table: str, key: str) -> HttpResponse:
    """One row, now or at a moment (read only), and its History."""
    env = _get_environment_for_data(request, slug)
    seen = viewing(request, env)
    if (response := _unviewable(request, env, seen, table_name=table, key=key)) is not None:
        return response
    snapshot = seen.snapshot(env)
    data_table = snapshot.table(table)
    if data_table is None:
        return _no_table(request, env, seen, table)
    if not cols.KEY_RE.match(key):  # e.g. a NUL byte, which PostgreSQL refuses in a query
        raise Http404("No such row")
    row = snapshot.rows(data_table).filter(key=key).first()
    start = row_history.start_of(request.GET)
    history = row_history.history(
        data_table, key, size=settings.DATA_PAGE_SIZE, start=start, shown=row
    )
    if row is None and not history.changes:
        raise Http404("No such row")
    keep = seen.params
    context = {
        **_viewing_context(request, env, seen),
        "table": data_table,
        "key": key,
        "row": row,
        "row_page": True,
        "cells": _cells(data_table, row) if row is not None else [],
        "history": history,
        "older_url": row_pages.query(**keep, **row_history.query_of(history.older))
        if history.older
        else "",
        "newest_url": "" if history.first else row_pages.query(**keep),
        "ignored_link": bool(request.GET.get("older")) and start is None,
    }
    return render_partial(request, "environments/data/row.html", context, "history")


def _row_form_page(request, env, data_table, form, *, key=None, status=200) -> HttpResponse:
    return render(
        request,
        "environments/data/row_form.html",
        {
            **_base_context(request, env),
            "editing": key is not None,
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
                environment=env,
                table_name=data_table.name,
                values=form.stored_values(),
                by=store.Author.person(request.user),
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
                environment=env,
                table_name=data_table.name,
                key=key,
                values=form.stored_values(),
                by=store.Author.person(request.user),
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
            store.row_delete(
                environment=env,
                table_name=data_table.name,
                key=key,
                by=store.Author.person(request.user),
            )
        except Refused as exc:
            error = exc.message
        else:
            messages.success(request, f"Row {key} deleted from {data_table.display_name}.")
            return redirect("environments:rows", slug=env.slug, table=data_table.name)
    cells = _cells(data_table, row)
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
