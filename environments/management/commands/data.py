"""manage.py data: an environment's data, now or as it was at a moment, as the acting user
reads it (the API's reads, environments.data_reads; `--json` prints what the API answers).

    manage.py data tables ENV [--at ISO]                       the tables and their rows then
    manage.py data rows ENV TABLE [--at ISO] [--after KEY] [--search Q] [--limit N]
    manage.py data row ENV TABLE KEY [--at ISO]                one row
    manage.py data history ENV TABLE KEY [--at ISO] [--after TOKEN]   its changes, newest first
    manage.py data changes ENV [--from ISO] [--to ISO] [--table T] [--kind K] [--who USER]
                               [--search Q] [--after TOKEN]    the changes between two moments
    manage.py data counts ENV [the same filters]               per table: added, changed, deleted
    manage.py data export ENV TABLE [--at ISO] [--output FILE]         CSV of a table
    manage.py data export-changes ENV [filters] [--output FILE]        CSV of the changes

Pages print the `--after` that reads the next one. Exports write CSV (environments.csv_export)
to stdout, or to FILE (written whole or not at all). Exit 0 done, 1 refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from environments import changelog, csv_export, data_api, data_reads, row_history
from environments import columns as cols
from environments.lookups import environment_for_data
from portal import cli

SHOWN_COLUMNS = 5  # in a page of rows; --json has them all
CELL_WIDTH = 40
FIELDS_WIDTH = 80


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= data_reads.MAX_PAGE:
        raise argparse.ArgumentTypeError(f"a number from 1 to {data_reads.MAX_PAGE}")
    return value


def _cut(text: str, width: int = CELL_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Command(BaseCommand):
    help = (
        "Read an environment's data now or at a moment, its history and changes, and export "
        "them as CSV (exit 0 done, 1 refused, 2 bad usage)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{tables,rows,row,history,changes,counts,export,export-changes}",
        )

        def action(name: str, help: str, *positional: str) -> argparse.ArgumentParser:
            sub = actions.add_parser(name, help=help)
            sub.add_argument("environment", help="slug or id")
            for arg in positional:
                sub.add_argument(arg, help={"table": "the table's name", "key": "a row's key"}[arg])
            cli.add_actor_argument(sub)
            return sub

        def at(sub) -> None:
            sub.add_argument(
                "--at", metavar="ISO", help="a moment of the restorable window (default: now)"
            )

        def page(sub, default: int, after: str) -> None:
            sub.add_argument("--after", metavar="TOKEN", default="", help=after)
            sub.add_argument("--limit", type=_limit, default=default, metavar="N")

        def json_flag(sub) -> None:
            sub.add_argument("--json", action="store_true", help="print what the API answers")

        def filters(sub) -> None:
            sub.add_argument("--from", dest="start", metavar="ISO", help="default: a day before")
            sub.add_argument("--to", dest="end", metavar="ISO", help="default: now")
            sub.add_argument("--table", default="", help="a table's name")
            sub.add_argument("--kind", default="", choices=changelog.KINDS)
            sub.add_argument(
                "--who", default="", help=f"a user name, or {changelog.UNKNOWN_AUTHOR}"
            )
            sub.add_argument("--search", default="", help="a row's key or the start of its title")

        def output(sub) -> None:
            sub.add_argument("--output", "-o", metavar="FILE", help="default: stdout")

        tables = action("tables", "the tables and their row counts")
        at(tables)
        json_flag(tables)
        rows = action("rows", "a page of a table's rows, by key", "table")
        at(rows)
        page(rows, 25, "the key the page before ended at (printed with it)")
        rows.add_argument("--search", default="", help="a key, or the start of the rows' title")
        json_flag(rows)
        row = action("row", "one row", "table", "key")
        at(row)
        json_flag(row)
        history = action("history", "one row's changes, newest first", "table", "key")
        at(history)
        page(history, changelog.PAGE_SIZE, "printed at the end of the page before")
        json_flag(history)
        changes = action("changes", "the changes between two moments, newest first")
        filters(changes)
        page(changes, changelog.PAGE_SIZE, "printed at the end of the page before")
        json_flag(changes)
        counts = action("counts", "per table, the rows added, changed and deleted")
        filters(counts)
        json_flag(counts)
        export = action("export", "every row of a table, as CSV", "table")
        at(export)
        output(export)
        export_changes = action("export-changes", "every matching change, as CSV")
        filters(export_changes)
        output(export_changes)

    def handle(self, *args, **options):
        for option, flag in (("at", "--at"), ("start", "--from"), ("end", "--to")):
            if options.get(option):
                options[option] = cli.parse_moment(options[option], flag)
        user = cli.actor(options)
        try:
            env = environment_for_data(user, options["environment"])
            getattr(self, "_" + options["action"].replace("-", "_"))(env, options)
        except CommandError:
            raise
        except Exception as exc:
            raise cli.refusal(exc) from None

    # -- output --

    def _json(self, schema, value: dict) -> None:
        self.stdout.write(
            json.dumps(
                schema.model_validate(value).model_dump(by_alias=True, mode="json"), indent=2
            )
        )

    def _more(self, token: str | None) -> None:
        if token:
            self.stdout.write(f"More: --after {token}")

    def _heading(self, env, moment) -> str:
        return f"{env.name}, " + (
            "as it is now" if moment is None else f"as it was at {cli.when(moment)}"
        )

    def _changes_table(self, changes: list[changelog.Change], *, with_row: bool) -> str:
        lines = []
        for c in changes:
            fields = "; ".join(
                f"{label}: {before!r} -> {after!r}" for label, before, after in c.fields
            )
            line = [cli.when(c.at), c.kind, c.who, _cut(fields, FIELDS_WIDTH)]
            if with_row:
                line[1:1] = [c.table.name, c.key, _cut(c.title)]
            lines.append(line)
        headers = ["WHEN", "KIND", "WHO", "FIELDS"]
        if with_row:
            headers[1:1] = ["TABLE", "KEY", "TITLE"]
        return cli.table(lines, headers)

    # -- reads --

    def _tables(self, env, options):
        moment = data_reads.moment_to_read(env, options["at"])
        found = data_reads.tables(data_reads.snapshot(env, moment))
        if options["json"]:
            tables = [data_api.table_out(t.table, t.rows) for t in found]
            return self._json(
                data_api.TablesOut,
                {"environment_id": env.pk, "as_of_date_time": moment, "tables": tables},
            )
        self.stdout.write(self._heading(env, moment) + ":")
        rows = [
            [t.table.name, t.table.display_name, f"{t.rows:,}", str(len(t.table.columns))]
            for t in found
        ]
        self.stdout.write(
            cli.table(rows, ["TABLE", "NAME", "ROWS", "COLUMNS"]) if rows else "No tables."
        )

    def _rows(self, env, options):
        moment = data_reads.moment_to_read(env, options["at"])
        snap = data_reads.snapshot(env, moment)
        table = data_reads.table(snap, options["table"])
        page = data_reads.rows_page(
            snap, table, after=options["after"], q=options["search"], size=options["limit"]
        )
        if options["json"]:
            value = {
                "as_of_date_time": moment,
                "table": table.name,
                "rows": [data_api.row_out(r) for r in page.rows],
                "next": page.next,
            }
            return self._json(data_api.RowPageOut, value)
        self.stdout.write(f"{table.display_name} in {self._heading(env, moment)}:")
        columns = table.columns[:SHOWN_COLUMNS]
        rows = [
            [r.key, *(_cut(cols.display(c, r.values.get(c["name"]))) for c in columns)]
            for r in page.rows
        ]
        headers = ["KEY", *(c["label"].upper() for c in columns)]
        self.stdout.write(cli.table(rows, headers) if rows else "No rows.")
        self._more(page.next)

    def _row(self, env, options):
        snap = data_reads.snapshot(env, data_reads.moment_to_read(env, options["at"]))
        table = data_reads.table(snap, options["table"])
        found = data_reads.row(snap, table, options["key"])
        if options["json"]:
            return self._json(data_api.RowOut, data_api.row_out(found))
        self.stdout.write(f"{table.display_name} {found.key}, {self._heading(env, snap.moment)}:")
        self.stdout.write(
            cli.table(
                [[c["label"], cols.display(c, found.values.get(c["name"]))] for c in table.columns],
                ["COLUMN", "VALUE"],
            )
        )

    def _history(self, env, options):
        table, found = data_reads.history(
            env, options["table"], options["key"], moment=options["at"],
            after=options["after"] or None, size=options["limit"],
        )  # fmt: skip
        value = data_api.history_out(table, options["key"], found)
        if options["json"]:
            return self._json(data_api.HistoryOut, value)
        self.stdout.write(f"{table.display_name} {options['key']} in {env.name}, newest first:")
        lines = []
        for change in found.changes:
            if change.kind == row_history.RESTORED:
                what = f"restored from {change.source} as it was at {cli.when(change.source_at)}"
                lines.append([cli.when(change.at), change.kind, "", what])
                continue
            fields = "; ".join(f"{f.label}: {f.before!r} -> {f.after!r}" for f in change.fields)
            lines.append(
                [cli.when(change.at), change.kind, change.author, _cut(fields, FIELDS_WIDTH)]
            )
        self.stdout.write(
            cli.table(lines, ["WHEN", "KIND", "WHO", "FIELDS"]) if lines else "No changes."
        )
        self._more(value["next"])

    def _span_and_filters(self, env, options):
        span = data_reads.changes_span(env, options["start"], options["end"])
        f = changelog.Filters(
            table=options["table"], kind=options["kind"], who=options["who"], q=options["search"]
        )
        return span, f

    def _changes(self, env, options):
        span, f = self._span_and_filters(env, options)
        page = changelog.page(
            env, span, f, after=data_reads.cursor(options["after"]), size=options["limit"]
        )
        next_token = page.next.token() if page.next else None
        restores = changelog.restores_in(env, span)
        if options["json"]:
            value = {
                "from_date_time": span.start,
                "to_date_time": span.end,
                "changes": [data_api.change_out(c) for c in page.changes],
                "next": next_token,
                "restores": [{"date_time": r.at, "reason": r.reason} for r in restores],
            }
            return self._json(data_api.ChangesOut, value)
        self.stdout.write(
            f"Changes in {env.name} after {cli.when(span.start)} up to {cli.when(span.end)}:"
        )
        for r in restores:
            self.stdout.write(f"{cli.when(r.at)}: {r.reason} (the data was replaced)")
        self.stdout.write(
            self._changes_table(page.changes, with_row=True) if page.changes else "No changes."
        )
        self._more(next_token)

    def _counts(self, env, options):
        span, f = self._span_and_filters(env, options)
        found = data_reads.change_counts(env, span, f)
        if options["json"]:
            value = {
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
                    for c in found
                ],
            }
            return self._json(data_api.ChangeCountsOut, value)
        self.stdout.write(
            f"Changes in {env.name} after {cli.when(span.start)} up to {cli.when(span.end)}:"
        )
        rows = [
            [c.table.name, f"{c.added:,}", f"{c.changed:,}", f"{c.deleted:,}", f"{c.total:,}"]
            for c in found
        ]
        self.stdout.write(
            cli.table(rows, ["TABLE", "ADDED", "CHANGED", "DELETED", "TOTAL"])
            if rows
            else "No changes."
        )

    # -- exports --

    def _export(self, env, options):
        self._write(csv_export.table_export(env, options["table"], options["at"]), options)

    def _export_changes(self, env, options):
        span, f = self._span_and_filters(env, options)
        self._write(csv_export.changes_export(env, span, f), options)

    def _write(self, export: csv_export.Export, options) -> None:
        """To stdout, or to a file that holds the whole export or nothing (a .part beside it,
        renamed once complete)."""
        if not options["output"]:
            for piece in export.chunks():
                self.stdout.write(piece.decode(), ending="")
            return
        path = Path(options["output"])
        partial = path.with_name(path.name + ".part")
        try:
            with partial.open("wb") as file:
                for piece in export.chunks():
                    file.write(piece)
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(
                f"Cannot write {path}: {exc.strerror or exc}.", returncode=cli.REFUSED
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stderr.write(f"Wrote {export.filename} to {path}.")
