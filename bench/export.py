"""CSV export of a table at a moment, on PostgreSQL (issue 22; not a test): rows per second of
the portal's export beside PostgreSQL's own `COPY (SELECT ...) TO STDOUT` of the same rows in
the same run, and the process's peak memory.

    .venv/bin/python bench/export.py                       # 1,000,000 rows, 3 rounds
    .venv/bin/python bench/export.py --reuse               # the same data, already built
    .venv/bin/python bench/export.py --rows 3000 --runs 1  # the test suite's run

In a database of its own (default envportal_export on 127.0.0.1, created and migrated if
missing):

1. builds (bench/builders.py) a production source of --rows current rows in one table, each row
   with three older versions spread over 27 days (4 x rows versions), and --other-environments
   as big in the same store (--reuse keeps what is there when its figures match --rows);
2. for two moments, the latest (every row in its current version) and 7 days back (every row
   then in an older version, read through the history), runs --runs interleaved rounds of:
   - the portal's export (environments.csv_export.table_export: what the browser's download,
     the API's rows.csv and `manage.py data export` stream), read to its end as a client
     would, its bytes counted and dropped;
   - COPY (SELECT the key and each column's value as text ... at the moment ORDER BY key) TO
     STDOUT (FORMAT csv, HEADER), through psycopg on the same connection, read to its end;
   and reports the medians, rows per second and the ratio;
3. checks, outside the timings, that both give the same rows: each output parsed back as CSV,
   row by row, into a digest (constant memory), and --rows rows;
4. reports the process's peak resident memory (getrusage ru_maxrss) after the build and after
   every export: an export holds one chunk of rows (data_reads.EXPORT_CHUNK, --chunk) and one
   piece of output (csv_export.PIECE_BYTES) at a time, so the peak should not grow with --rows.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders  # noqa: E402
from bench.builders import log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/envportal_export"
PREFIX = "export"
TABLE = "table_00"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="current rows of the table")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds per moment")
    parser.add_argument(
        "--other-environments", type=int, default=1, help="others as big in the same store"
    )
    parser.add_argument("--chunk", type=int, default=None, help="rows an export reads at once")
    parser.add_argument("--reuse", action="store_true", help="keep the data if it matches")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if args.rows < 10 or args.runs < 1 or args.other_environments < 0:
        parser.error("--rows at least 10, --runs at least 1, --other-environments not negative")
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- the data ----------------------------------------------------------------------------------


def existing(args) -> tuple[object, datetime.datetime] | None:
    """The source built by an earlier run, if it has --rows rows and the others are there."""
    from environments import store
    from environments.models import Environment

    source = Environment.objects.filter(slug=f"{PREFIX}-source").first()
    if source is None or source.last_change_at is None:
        return None
    others = Environment.objects.filter(slug__startswith=f"{PREFIX}-other-").count()
    table = store.current(source).table(TABLE)
    if table is None or table.live_rows != args.rows or others != args.other_environments:
        return None
    return source, source.last_change_at


def build(args, admin) -> tuple[object, datetime.datetime]:
    if args.reuse:
        found = existing(args)
        if found is not None:
            log("reusing the data built before")
            return found
    log(f"building the store: {args.rows:,} rows, {args.other_environments} other(s) as big")
    built = builders.build_store(
        rows=args.rows,
        tables=1,
        other_environments=args.other_environments,
        admin=admin,
        prefix=PREFIX,
    )
    return built.source, built.moment


# -- the two ways to export ----------------------------------------------------------------------


def portal_export(source, moment: datetime.datetime) -> Iterator[bytes]:
    from environments import csv_export

    return csv_export.table_export(source, TABLE, moment).chunks()


def copy_statement(source, moment: datetime.datetime):
    """COPY of the same rows as the export: the table's versions live at the moment (a table
    that stores all its rows: one range of its partition), the key then each column's value as
    text, in key order."""
    from psycopg import sql

    from environments import store
    from environments.models import RowVersion

    table = store.as_of(source, moment).table(TABLE)
    assert table.base_id is None, "the bench's table stores all its rows"
    values = [
        sql.SQL("{} ->> {}").format(sql.Identifier("values"), sql.Literal(c["name"]))
        for c in table.columns
    ]
    return sql.SQL(
        "COPY (SELECT {key}, {values} FROM {versions} WHERE {table_id} = {table} "
        "AND {valid_from} <= {moment} AND ({valid_to} IS NULL OR {valid_to} > {moment}) "
        "ORDER BY {key}) TO STDOUT (FORMAT csv, HEADER)"
    ).format(
        key=sql.Identifier("key"),
        values=sql.SQL(", ").join(values),
        versions=sql.Identifier(RowVersion._meta.db_table),
        table_id=sql.Identifier("table_id"),
        table=sql.Literal(table.pk),
        valid_from=sql.Identifier("valid_from"),
        valid_to=sql.Identifier("valid_to"),
        moment=sql.Literal(moment),
    )


def copy_export(statement) -> Iterator[bytes]:
    from django.db import connection

    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            yield bytes(data)


def timed(chunks: Iterator[bytes]) -> tuple[float, int]:
    """Seconds to read the output to its end, and its bytes."""
    started = time.perf_counter()
    size = sum(len(piece) for piece in chunks)
    return time.perf_counter() - started, size


# -- the check -----------------------------------------------------------------------------------


class ChunkStream(io.RawIOBase):
    """A generator of bytes as a file, for csv.reader to read a line at a time."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.left = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.left:
            self.left = next(self.chunks, b"")
            if not self.left:
                return 0
        n = min(len(buffer), len(self.left))
        buffer[:n], self.left = self.left[:n], self.left[n:]
        return n


def digest(chunks: Iterator[bytes]) -> tuple[str, int]:
    """A digest of the rows (after the header) as CSV parses them back, and how many."""
    text = io.TextIOWrapper(io.BufferedReader(ChunkStream(chunks)), encoding="utf-8", newline="")
    rows = csv.reader(text)
    next(rows)  # the headers differ: labels against column names
    found, n = hashlib.sha256(), 0
    for row in rows:
        found.update("\x1f".join(row).encode() + b"\x1e")
        n += 1
    return found.hexdigest(), n


# -- the run -------------------------------------------------------------------------------------


def measure(source, moment: datetime.datetime, args) -> dict:
    statement = copy_statement(source, moment)
    ours, theirs, sizes = [], [], ()
    for i in range(args.runs):
        builders.checkpoint()
        seconds, size = timed(portal_export(source, moment))
        ours.append(seconds)
        builders.checkpoint()
        copy_seconds, copy_size = timed(copy_export(statement))
        theirs.append(copy_seconds)
        sizes = (size, copy_size)
        log(f"  round {i + 1}: export {seconds:.2f} s, COPY {copy_seconds:.2f} s")
    mine, copied = digest(portal_export(source, moment)), digest(copy_export(statement))
    if mine != copied or mine[1] != args.rows:
        sys.exit(
            f"FAILED: the export gave {mine[1]:,} rows and COPY {copied[1]:,} (want "
            f"{args.rows:,}), digests {'equal' if mine[0] == copied[0] else 'differ'}"
        )
    return {
        "export": statistics.median(ours),
        "copy": statistics.median(theirs),
        "bytes": sizes,
        "rss": peak_rss_mb(),
    }


def report(args, versions: int, results: dict, built_rss: float) -> str:
    from environments import csv_export, data_reads

    lines = [
        f"## CSV export of a table ({args.rows:,} rows; {versions:,} versions in the store)\n",
        f"Medians of {args.runs} interleaved round(s); each read to its end, nothing kept. The "
        f"export reads {data_reads.EXPORT_CHUNK:,} rows a statement and writes pieces of "
        f"{csv_export.PIECE_BYTES // 1024} KB.\n",
        "| moment | export (s) | export rows/s | COPY TO STDOUT (s) | COPY rows/s "
        "| export / COPY | export size | COPY size | peak RSS after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['export']:.2f} | {args.rows / r['export']:,.0f} | {r['copy']:.2f} "
            f"| {args.rows / r['copy']:,.0f} | {r['export'] / r['copy']:.1f}x "
            f"| {r['bytes'][0] / 1e6:.1f} MB | {r['bytes'][1] / 1e6:.1f} MB "
            f"| {r['rss']:.0f} MB |"
        )
    last = list(results.values())[-1]["rss"]
    lines.append(
        f"\nPeak resident memory of this process (ru_maxrss): {built_rss:.0f} MB after the "
        f"build, {last:.0f} MB after every export and check ({last - built_rss:+.0f} MB)."
    )
    lines.append("Rows checked: both outputs parse back to the same rows (digest), every moment.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    builders.setup_django(args.database_url)
    from environments import data_reads
    from environments.models import RowVersion
    from portal.models import User

    if args.chunk:
        data_reads.EXPORT_CHUNK = args.chunk
    admin, _ = User.objects.get_or_create(
        username="export-admin", defaults={"tenant_role": User.TenantRole.GLOBAL_ADMIN}
    )
    source, latest = build(args, admin)
    versions = RowVersion.objects.count()
    built_rss = peak_rss_mb()
    moments = {
        "latest": latest,
        "7 days back": latest - datetime.timedelta(days=7),
    }
    results = {}
    for name, moment in moments.items():
        log(f"{name}: {moment:%Y-%m-%d %H:%M:%S} UTC")
        results[name] = measure(source, moment, args)
    print(report(args, versions, results, built_rss), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
