"""CSV exports of an environment's data: a table as it was at a moment, and the Changes list.
The browser (environments/export_views.py), the API and `manage.py data` write the same bytes.

The format: UTF-8 (no byte-order mark), RFC 4180 (commas, double quotes where a value needs
them, CRLF line ends), a header row first. Values are written as stored: text as it is, numbers
and decimals as digits, booleans `true`/`false`, dates `YYYY-MM-DD`, nothing for an empty value;
moments in UTC, ISO 8601.

- A table: `Key`, then one column per column of the table, in its order, headed by its label.
- The changes: one line per changed field of each change (`table, key, title, kind, when, who,
  field, label, before, after`; `field` is the column's name, `label` its label), newest change
  first; a change that changed no field (a row added empty) is one line with the last four
  empty. A deletion lists the fields the row had, an addition those it was given.

Streamed at constant memory whatever the size: the rows are read a chunk at a time by key
(data_reads.each_row), the changes a page at a time (changelog.each), and written out in pieces
of about 64 KB. Everything that can refuse (the moment, the table, the filters) is checked
before the first byte, so a refusal is an answer of its own, never a broken download.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

from environments import changelog, data_reads
from environments.models import DataTable, Environment

PIECE_BYTES = 64 * 1024
CHANGE_HEADER = [
    "table",
    "key",
    "title",
    "kind",
    "when",
    "who",
    "field",
    "label",
    "before",
    "after",
]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat()


def stamp(moment: datetime.datetime) -> str:
    """A moment in a file name."""
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


# -- the lines ---------------------------------------------------------------------------------


def table_lines(
    data_table: DataTable, rows: Iterable[list[str | None]]
) -> Iterator[list[str | None]]:
    """The header, then the rows as data_reads.each_row gives them (the csv module writes
    None as nothing)."""
    yield ["Key", *(c["label"] for c in data_table.columns)]
    yield from rows


def change_lines(changes: Iterable[changelog.Change]) -> Iterator[list[str]]:
    yield CHANGE_HEADER
    for change in changes:
        head = [
            change.table.name,
            change.key,
            change.title,
            change.kind,
            utc(change.at),
            change.who,
        ]
        fields = data_reads.changed_fields(change)
        if not fields:
            yield [*head, "", "", "", ""]
        for f in fields:
            yield [*head, f.column, f.label, cell(f.before), cell(f.after)]


def encoded(lines: Iterable[list[str]]) -> Iterator[bytes]:
    """The lines as CSV, UTF-8, in pieces of about PIECE_BYTES."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: minimal quoting, CRLF
    for line in lines:
        writer.writerow(line)
        if buffer.tell() >= PIECE_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


# -- the exports: checked at once, then read as they are written ---------------------------------


class Export:
    """A CSV file to stream: its name and its lines (read as they are written)."""

    def __init__(self, filename: str, lines: Iterator[list[str]]):
        self.filename = filename
        self.lines = lines

    def chunks(self) -> Iterator[bytes]:
        return encoded(self.lines)

    def response(self) -> StreamingHttpResponse:
        response = StreamingHttpResponse(self.chunks(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.filename}"'
        return response


def table_export(
    environment: Environment,
    table_name: str,
    moment: datetime.datetime | None,
    *,
    now: datetime.datetime | None = None,
) -> Export:
    """Every row of a table as it was at `moment` (checked against the window), or as it is
    now: then as of the moment the export starts, so that rows changed while it runs do not
    make it a mix of two states."""
    now = now or data_reads.latest(environment)
    moment = data_reads.moment_to_read(environment, moment, now=now) or now
    snap = data_reads.snapshot(environment, moment)
    data_table = data_reads.table(snap, table_name)
    return Export(
        f"{environment.slug}-{data_table.name}-{stamp(moment)}.csv",
        table_lines(data_table, data_reads.each_row(data_table, moment)),
    )


def changes_export(
    environment: Environment, span: changelog.Span, filters: changelog.Filters
) -> Export:
    """Every change of the span that matches the filters, newest first."""
    changes = changelog.each(environment, span, filters)
    # The first page is read now: a filter the span refuses (a table it never had) is refused
    # here, before the response starts.
    first = list(itertools.islice(changes, 1))
    return Export(
        f"{environment.slug}-changes-{stamp(span.start)}-{stamp(span.end)}.csv",
        change_lines(itertools.chain(first, changes)),
    )
