"""The data browser's row list, one page at a time: by key (keyset), never by OFFSET, and the
search in the order of its index. The count is the table's stored figure, never counted here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import QuerySet, Value
from django.db.models.functions import Collate, Upper

from environments import columns as cols
from environments.models import DataTable, RowVersion


@dataclass
class Page:
    rows: list[RowVersion]
    has_previous: bool
    has_next: bool
    past_the_end: bool = False  # nothing after the cursor: these are the last rows instead
    exact: RowVersion | None = None  # a search's row of that very key, shown first
    previous_url: str = ""
    next_url: str = ""


def keyset_page(
    fetch: Callable[..., list[RowVersion]],
    cursor_of: Callable[[RowVersion], Any],
    *,
    after: Any = None,
    before: Any = None,
    inclusive: bool = False,
    size: int,
) -> Page:
    """A page of `size` rows after (or before) a cursor. `fetch(cursor, forward, limit,
    inclusive)` reads rows in order from a cursor (None: from the start, or from the end when
    not forward); one row more than a page tells whether there is a next (previous) one."""
    if before is not None:
        found = fetch(before, False, size + 1)
        if len(found) > size:
            rows = found[:size][::-1]
            return Page(rows, True, bool(fetch(cursor_of(rows[-1]), True, 1)))
        after, inclusive = None, False  # not a whole page before it: the first page
    if after is not None and not inclusive:
        # The cursor's own row too, when it is still there: then there is a row before this
        # page without asking again.
        found = fetch(after, True, size + 2, True)
        if found and cursor_of(found[0]) == after:
            return Page(found[1 : size + 1], True, len(found) > size + 1)
        found = found[: size + 1]
    else:
        found = fetch(after, True, size + 1, inclusive)
    rows = found[:size]
    if after is not None and not rows:
        found = fetch(None, False, size + 1)
        return Page(found[:size][::-1], len(found) > size, False, past_the_end=True)
    has_previous = after is not None and bool(rows) and bool(fetch(cursor_of(rows[0]), False, 1))
    return Page(rows, has_previous, len(found) > size)


def browse_page(
    rows: QuerySet[RowVersion], params: dict, size: int, *, keep: dict[str, str] | None = None
) -> Page:
    """Rows in key order: after or before a key, or from a key on (`from`, inclusive). The
    page's links keep the parameters in `keep` (the moment the rows are read at)."""
    keep = keep or {}

    def fetch(key, forward, limit, inclusive=False):
        found = rows.order_by("key" if forward else "-key")
        if key is not None:
            lookup = ("gt" if forward else "lt") + ("e" if inclusive else "")
            found = found.filter(**{f"key__{lookup}": key})
        return list(found[:limit])

    if params.get("from"):
        page = keyset_page(fetch, _key_of, after=params["from"], inclusive=True, size=size)
    else:
        after, before = params.get("after") or None, params.get("before") or None
        page = keyset_page(fetch, _key_of, after=after, before=before, size=size)
    if page.has_previous:
        page.previous_url = query(before=page.rows[0].key, **keep)
    if page.has_next:
        page.next_url = query(after=page.rows[-1].key, **keep)
    return page


def _bytewise(expression) -> Collate:
    """Text compared byte by byte, as the search index orders upper(title) on PostgreSQL
    (COLLATE "C", migration 0010): only that collation's <, > and LIKE 'X%' read the index.
    SQLite compares that way by default (BINARY), so both give the same rows in the same order."""
    return Collate(expression, "C" if connection.vendor == "postgresql" else "BINARY")


def search_page(
    rows: QuerySet[RowVersion],
    data_table: DataTable,
    q: str,
    params: dict,
    size: int,
    *,
    keep: dict[str, str] | None = None,
) -> Page:
    """The row whose key is q, then the rows whose title starts with q (any case) in
    (upper(title), key) order: the order of the search index, read from the cursor on."""
    keep = keep or {}
    key_like = bool(cols.KEY_RE.match(q))
    # The database upper-cases q as it does the titles (Python's "ß".upper() is "SS").
    matches = rows.annotate(title_upper=_bytewise(Upper("title"))).filter(
        title_upper__startswith=Upper(Value(q))
    )
    if cols.title_column(data_table.columns) is None:
        matches = matches.none()
    elif key_like:  # the row of that key comes first, once
        matches = matches.exclude(key=q)

    def fetch(cursor, forward, limit, inclusive=False):
        order = ("title_upper", "key") if forward else ("-title_upper", "-key")
        if cursor is None:
            return list(matches.order_by(*order)[:limit])
        title, key = cursor
        # Two index ranges: the rest of the cursor's title, then the titles beyond it. One OR
        # of both would read every row with that title (a common first name) on each page.
        lookup = ("key__gt" if forward else "key__lt") + ("e" if inclusive else "")
        found = list(matches.filter(title_upper=title, **{lookup: key}).order_by(order[1])[:limit])
        if len(found) < limit:
            beyond = {"title_upper__gt" if forward else "title_upper__lt": title}
            found += matches.filter(**beyond).order_by(*order)[: limit - len(found)]
        return found

    def cursor(side: str) -> tuple[str, str] | None:
        return (params[f"{side}_title"], params[side]) if params.get(side) else None

    page = keyset_page(
        fetch, _title_key_of, after=cursor("after"), before=cursor("before"), size=size
    )
    if key_like and not page.has_previous:
        page.exact = rows.filter(key=q).first()
    if page.has_previous:
        first = page.rows[0]
        page.previous_url = query(q=q, before=first.key, before_title=first.title_upper, **keep)
    if page.has_next:
        last = page.rows[-1]
        page.next_url = query(q=q, after=last.key, after_title=last.title_upper, **keep)
    return page


def _key_of(row: RowVersion) -> str:
    return row.key


def _title_key_of(row: RowVersion) -> tuple[str, str]:
    return (row.title_upper, row.key)


def search_scope(data_table: DataTable) -> str:
    column = cols.title_column(data_table.columns)
    if column is None:
        return "Searches the key (exact); this table has no text column to search."
    return f"Searches the key (exact) and {column['label']} (starts with)."


def past_the_end_note(page: Page, q: str, params: dict) -> str:
    if q:
        return "No more rows match after that one; these are the last matches."
    if params.get("from"):
        return f"No row has a key at or after “{params['from']}”; these are the last rows."
    return "No rows come after that key any more; these are the last rows."


def query(**params: str) -> str:
    """A page's link: the query string of the parameters that have a value."""
    return "?" + urlencode({k: v for k, v in params.items() if v})
