"""Export archives on PostgreSQL (issue 23; not a test): writing an environment's archive beside
PostgreSQL's own `COPY (SELECT ...) TO` of the same rows, the archive's size beside the rows'
size, the exporting process's peak memory, and restoring the archive into a new sandbox beside
`COPY ... FROM` of the same rows.

    .venv/bin/python bench/archive.py                        # 1,000,000 rows, 3 rounds
    .venv/bin/python bench/archive.py --rows 100000          # the memory figure at 100,000
    .venv/bin/python bench/archive.py --reuse                # the same data, already built
    .venv/bin/python bench/archive.py --rows 3000 --runs 1   # the test suite's run

In a database of its own (default envportal_archive on 127.0.0.1, created and migrated if
missing):

1. builds (bench/builders.py) a production source of --rows current rows in one table, each row
   with three older versions spread over 27 days, and one other environment as big in the
   same store;
2. at two moments, the latest and 7 days back (rows read through the history), runs --runs
   interleaved rounds of: the portal's archive (backups.archives.write, to a local file, as the
   worker writes it before storing it); `COPY (SELECT key, values::text ... at the moment ORDER
   BY key) TO STDOUT` written to a file as it comes; and the same COPY compressed as it comes
   with gzip at the archive's level (the same work as the archive, minus the portal); medians;
3. runs one more export in a fresh child process and reports its peak resident memory
   (ru_maxrss), which must not grow with --rows;
4. restores the latest archive into a new sandbox (backups.imports: the full check, then the
   load in one transaction: COPY into a new partition, indexes, ANALYZE, the stored figures)
   and compares it with COPY FROM STDIN of the same rows (table_id, key, valid_from, values,
   size, title) into a table shaped like the versions table, without and with the same indexes;
5. checks, outside the timings, that the new sandbox holds exactly the source's rows at the
   moment (a digest of key and values of both, in key order) and that the archive verifies.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders  # noqa: E402
from bench.builders import log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/envportal_archive"
PREFIX = "archive"
TABLE = "table_00"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="current rows of the table")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds per moment")
    parser.add_argument("--reuse", action="store_true", help="keep the data if it matches")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    # The child process of step 3: one export, then its peak memory on stdout.
    parser.add_argument(
        "--child-export", nargs=2, metavar=("SLUG", "MOMENT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.rows < 10 or args.runs < 1:
        parser.error("--rows at least 10, --runs at least 1")
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def existing(args):
    from environments import store
    from environments.models import Environment

    source = Environment.objects.filter(slug=f"{PREFIX}-source").first()
    if source is None or source.last_change_at is None:
        return None
    table = store.current(source).table(TABLE)
    if table is None or table.live_rows != args.rows:
        return None
    return source, source.last_change_at


def build(args, admin):
    if args.reuse and (found := existing(args)) is not None:
        log("reusing the data built before")
        return found
    log(f"building the store: {args.rows:,} rows, one other environment as big")
    built = builders.build_store(
        rows=args.rows, tables=1, other_environments=1, admin=admin, prefix=PREFIX
    )
    return built.source, built.moment


# -- writing -------------------------------------------------------------------------------------


def portal_export(source, moment: datetime.datetime, path: Path):
    from backups import archives

    with open(path, "wb") as out:
        return archives.write(source, moment, out, written_at=moment)


def live_rows_sql(source, moment: datetime.datetime, columns: str):
    from psycopg import sql

    from environments import store
    from environments.models import RowVersion

    table = store.as_of(source, moment).table(TABLE)
    assert table.base_id is None, "the bench's table stores all its rows"
    return sql.SQL(
        "SELECT {columns} FROM {versions} WHERE table_id = {table} AND valid_from <= {moment} "
        "AND (valid_to IS NULL OR valid_to > {moment}) ORDER BY key"
    ).format(
        columns=sql.SQL(columns),
        versions=sql.Identifier(RowVersion._meta.db_table),
        table=sql.Literal(table.pk),
        moment=sql.Literal(moment),
    )


def copy_to(statement, path: Path, *, compress: bool) -> None:
    from django.db import connection
    from psycopg import sql

    from backups import archives

    connection.ensure_connection()
    with open(path, "wb") as raw:
        out = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=archives.COMPRESS_LEVEL, mtime=0)
            if compress
            else raw
        )
        query = sql.SQL("COPY ({}) TO STDOUT").format(statement)
        with connection.connection.cursor() as cursor, cursor.copy(query) as copy:
            for data in copy:
                out.write(data)
        if compress:
            out.close()


def timed(fn, *args, **kwargs) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def measure_export(source, moment, args, scratch: Path) -> dict:
    statement = live_rows_sql(source, moment, "key, values::text")
    ours, copies, gzipped = [], [], []
    archive = scratch / "archive.tar"
    for i in range(args.runs):
        builders.checkpoint()
        ours.append(timed(portal_export, source, moment, archive))
        builders.checkpoint()
        copies.append(timed(copy_to, statement, scratch / "copy.txt", compress=False))
        builders.checkpoint()
        gzipped.append(timed(copy_to, statement, scratch / "copy.txt.gz", compress=True))
        log(
            f"  round {i + 1}: archive {ours[-1]:.2f} s, COPY TO {copies[-1]:.2f} s, "
            f"COPY TO + gzip {gzipped[-1]:.2f} s"
        )
    return {
        "archive": statistics.median(ours),
        "copy": statistics.median(copies),
        "copy_gz": statistics.median(gzipped),
        "archive_bytes": archive.stat().st_size,
        "copy_bytes": (scratch / "copy.txt").stat().st_size,
        "copy_gz_bytes": (scratch / "copy.txt.gz").stat().st_size,
    }


def child_peak(args, source, moment) -> float:
    """An export in a fresh process: its peak resident memory, in MB."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--database-url",
            args.database_url,
            "--rows",
            str(args.rows),
            "--child-export",
            source.slug,
            moment.isoformat(),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def run_child(args) -> int:
    from environments.models import Environment

    slug, moment = args.child_export
    source = Environment.objects.get(slug=slug)
    with tempfile.TemporaryDirectory() as scratch:
        portal_export(source, datetime.datetime.fromisoformat(moment), Path(scratch) / "a.tar")
    print(f"{peak_rss_mb():.1f}")
    return 0


# -- restoring -----------------------------------------------------------------------------------


def portal_import(admin, archive: Path, n: int) -> tuple[float, float, object]:
    """Store the archive, ask for the restore, run it here; (its seconds, the full check's
    seconds, the new sandbox)."""
    from backups import archive_storage, archives, imports
    from backups.models import ArchiveImport

    name = archive_storage.save(f"bench/{archive.name}", archive)
    with open(archive, "rb") as f:
        check = timed(archives.verify, f)
    op = imports.import_start(
        requested_by=admin,
        file_name=name,
        name=f"Bench import {n} {time.time_ns()}",
        slug=f"{PREFIX}-import-{time.time_ns()}",
    )
    seconds = timed(imports.import_run, op.pk)
    op.refresh_from_db()
    if op.status != ArchiveImport.Status.SUCCEEDED:
        sys.exit(f"FAILED: the restore from the file failed: {op.error}")
    return seconds, check, op.target


def copy_from(source, moment, scratch: Path) -> tuple[float, float]:
    """COPY FROM STDIN of the same rows into a fresh table shaped like the versions table:
    (seconds without indexes, seconds with the versions table's primary key and indexes built
    after the load, as the import builds them)."""
    from django.db import connection, transaction
    from psycopg import sql

    from environments.models import RowVersion

    path = scratch / "rows.txt"
    copy_to(
        live_rows_sql(source, moment, "table_id, key, valid_from, values, size, title"),
        path,
        compress=False,
    )
    parent = RowVersion._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'CREATE TEMP TABLE bench_copy (LIKE "{parent}" INCLUDING DEFAULTS)')
        started = time.perf_counter()
        query = sql.SQL(
            "COPY bench_copy (table_id, key, valid_from, values, size, title) FROM STDIN"
        )
        with cursor.copy(query) as copy, open(path, "rb") as f:
            while data := f.read(1 << 20):
                copy.write(data)
        loaded = time.perf_counter() - started
        cursor.execute("ALTER TABLE bench_copy ADD PRIMARY KEY (table_id, key, valid_from)")
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            [parent],
        )
        for (definition,) in cursor.fetchall():
            cursor.execute("CREATE INDEX ON bench_copy" + definition[definition.index(" USING ") :])
        cursor.execute("ANALYZE bench_copy")
        indexed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    return loaded, indexed


def digest(env, moment) -> tuple[str, int]:
    from django.db import connection

    from environments import store

    snap = store.as_of(env, moment) if moment else store.current(env)
    table = snap.table(TABLE)
    found, n = hashlib.sha256(), 0
    rows = snap.rows(table).values_list("key", "values")
    with connection.cursor():
        for key, values in rows.iterator(chunk_size=10_000):
            found.update(key.encode() + b"\x1f" + json.dumps(values, sort_keys=True).encode())
            n += 1
    return found.hexdigest(), n


# -- the run -------------------------------------------------------------------------------------


def report(args, versions, results, live_bytes, peak, restore) -> str:
    from backups import archives

    lines = [
        f"## Export archives ({args.rows:,} rows; {versions:,} versions in the store)\n",
        f"Medians of {args.runs} interleaved round(s), each written to a local file. gzip level "
        f"{archives.COMPRESS_LEVEL} for the archive and for COPY + gzip.\n",
        "| moment | archive (s) | archive rows/s | COPY TO (s) | COPY rows/s | archive / COPY "
        "| COPY + gzip (s) | archive / (COPY + gzip) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['archive']:.2f} | {args.rows / r['archive']:,.0f} | {r['copy']:.2f} "
            f"| {args.rows / r['copy']:,.0f} | {r['archive'] / r['copy']:.2f}x "
            f"| {r['copy_gz']:.2f} | {r['archive'] / r['copy_gz']:.2f}x |"
        )
    latest = results["latest"]
    lines += [
        "",
        f"Sizes: the live rows {live_bytes / 1e6:.1f} MB (the store's figure: key and values); "
        f"the archive {latest['archive_bytes'] / 1e6:.1f} MB "
        f"({latest['archive_bytes'] / live_bytes:.0%} of them); COPY's text "
        f"{latest['copy_bytes'] / 1e6:.1f} MB, gzipped {latest['copy_gz_bytes'] / 1e6:.1f} MB.",
        f"Peak resident memory of a process that does one export (ru_maxrss, a fresh child "
        f"process): {peak:.0f} MB.",
        "",
        "| restore into a new sandbox | seconds | rows/s |",
        "|---|---:|---:|",
        f"| the portal: check, then load (COPY into a partition, indexes, ANALYZE, figures) "
        f"| {restore['import']:.2f} | {args.rows / restore['import']:,.0f} |",
        f"| of which the full check before the load | {restore['check']:.2f} "
        f"| {args.rows / restore['check']:,.0f} |",
        f"| COPY FROM STDIN, no index | {restore['copy']:.2f} "
        f"| {args.rows / restore['copy']:,.0f} |",
        f"| COPY FROM STDIN, then the same primary key, indexes and ANALYZE "
        f"| {restore['copy_indexed']:.2f} | {args.rows / restore['copy_indexed']:,.0f} |",
        "",
        "Rows checked: the new sandbox holds exactly the source's rows at the moment (digest), "
        "and the archive verifies.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    builders.setup_django(args.database_url)
    if args.child_export:
        return run_child(args)
    from django.conf import settings

    from environments.models import RowVersion
    from portal.models import User

    scratch_root = tempfile.TemporaryDirectory(prefix="bench-archive-")
    scratch = Path(scratch_root.name)
    settings.STORAGES["backups"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(scratch / "storage")},
    }
    admin, _ = User.objects.get_or_create(
        username="archive-admin", defaults={"tenant_role": User.TenantRole.GLOBAL_ADMIN}
    )
    source, latest = build(args, admin)
    versions = RowVersion.objects.count()
    moments = {"latest": latest, "7 days back": latest - datetime.timedelta(days=7)}
    results = {}
    for name, moment in moments.items():
        log(f"{name}: {moment:%Y-%m-%d %H:%M:%S} UTC")
        results[name] = measure_export(source, moment, args, scratch)
    from environments import store

    live_bytes = store.current(source).table(TABLE).live_bytes
    log("one export in a fresh process, for its peak memory")
    peak = child_peak(args, source, latest)
    log("restoring the latest archive into a new sandbox")
    archive = scratch / "latest.tar"
    portal_export(source, latest, archive)
    builders.checkpoint()
    seconds, check, sandbox = portal_import(admin, archive, 1)
    builders.checkpoint()
    loaded, indexed = copy_from(source, latest, scratch)
    restore = {"import": seconds, "check": check, "copy": loaded, "copy_indexed": indexed}
    if digest(source, latest) != digest(sandbox, None):
        sys.exit("FAILED: the new sandbox's rows differ from the source's at the moment")
    print(report(args, versions, results, live_bytes, peak, restore), flush=True)
    scratch_root.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
