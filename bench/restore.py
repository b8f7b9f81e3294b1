"""Restore benchmark on PostgreSQL (not a test): a restore of N rows, from the request to its
committed success, against baselines over the same rows.

    .venv/bin/python bench/restore.py --rows 100000 1000000 --runs 3
    .venv/bin/python bench/restore.py --rows 3000000 --runs 3

For each N it builds a store (bench/builders.py: a production source of N current rows over
--tables tables, each row with three older versions spread over 27 days; --other-environments
as big; an empty sandbox target) in its own database (default envportal_bench on 127.0.0.1,
created and migrated if missing; emptied and filled again for each N). One real worker
(`manage.py worker --no-reload`, production settings) is started once and kept running; each
restore is timed from `restores.restore_start` (the service behind the API) until this
process's own connection sees the operation Succeeded, polling every 5 ms: nothing is
subtracted. Each restore is checked: the target's rows must equal the source's at the moment,
or the script exits non-zero. Then, per round, over the very same rows:
  - CREATE TABLE ... AS SELECT of them (JIT off) and ADD PRIMARY KEY with RowVersion's key
    columns, in one transaction;
  - pg_dump -Fc of that table, then pg_restore of the dump into a fresh table (the same
    database, after dropping the dumped one): pg_restore alone, and pg_dump + pg_restore.
The rounds are interleaved (restore, CTAS, dump, pg_restore; again); the table shows medians,
and "of which queued" how long the restore waited for the worker's next poll of the queue (its
--interval, 1 s unless --worker-interval says otherwise). Each timed step starts after a
CHECKPOINT. Between rounds the target's replaced generation is removed (as the purge would in
time) and the store vacuumed, so that every round sees the same store. Since issue 12 a restore
branches (copies no row, environments.lineage): its time should not depend on N. It also prints
the plan of the engine's copy statement, which a restore from a table already
lineage.MAX_DEPTH deep still runs. Building 3M rows (plus the others) takes about 15 minutes and
~25 GB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders  # noqa: E402
from bench.builders import log  # noqa: E402

POLL = 0.005  # seconds between two reads of the operation's status
RESTORE_TIMEOUT = 3600.0
WORKER_READY_TIMEOUT = 60.0


class BenchFailure(Exception):
    """A restore that failed or restored the wrong data, or a baseline that went wrong."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000], help="current rows in the source (N)"
    )
    parser.add_argument("--tables", type=int, default=10, help="tables the rows are spread over")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds per size")
    parser.add_argument(
        "--other-environments",
        type=int,
        default=2,
        help="other environments in the store, each as big as the source",
    )
    parser.add_argument(
        "--worker-interval",
        type=float,
        default=None,
        help="the worker's --interval (seconds between polls of an empty queue); default: "
        "the worker's own default, as `make run` starts it",
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/envportal_bench"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.tables < 1 or args.other_environments < 0 or min(args.rows) < 1:
        parser.error("--runs, --tables and --rows must be positive, --other-environments >= 0")
    if args.rows != sorted(set(args.rows)):
        args.rows = sorted(set(args.rows))
    return args


# -- the worker ----------------------------------------------------------------------------------


class WorkerDied(Exception):
    """The worker process ended while a restore waited for it or ran (someone killed it)."""

    def __init__(self, message: str, operation_id: int | None = None):
        super().__init__(message)
        self.operation_id = operation_id


class Worker(builders.Process):
    """One `manage.py worker --no-reload` process, with the production settings."""

    started = 0

    def __init__(self, database_url: str, interval: float | None, log_dir: Path):
        Worker.started += 1
        command = [sys.executable, "manage.py", "worker", "--no-reload"]
        if interval is not None:
            command += ["--interval", str(interval)]
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-" + "x" * 40,
            "ALLOWED_HOSTS": "localhost",
            "TASKS_BACKEND": "default",
            # Its housekeeping's hourly purge must not start in the middle of a timing (each
            # build records a purge); the stale-restore sweep runs as always.
            "PURGE_INTERVAL_SECONDS": "86400",
        }
        super().__init__(f"worker-{Worker.started}", command, env, log_dir)

    def describe_end(self) -> str:
        code = self.process.poll()
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        return f"worker {self.process.pid} ended ({how}); its output:\n{self.output()}"

    def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> float:
        """Until the worker says it polls the queue (bounded)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise BenchFailure(f"the worker exited at start-up: {self.describe_end()}")
            if "Starting worker" in self.output():
                return time.monotonic() - started
            time.sleep(0.05)
        raise BenchFailure(f"the worker was not ready after {timeout:.0f} s:\n{self.output()}")

    def peak_rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None


class Workers:
    """The one running worker; started again (and said so) only if something kills it."""

    MAX_RESTARTS = 3

    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args, self.log_dir = args, log_dir
        self.current: Worker | None = None
        self.restarts = 0

    def ensure(self) -> Worker:
        if self.current is not None and self.current.alive():
            return self.current
        if self.current is not None:
            self.restarts += 1
            log(f"WARNING: {self.current.describe_end()}")
            self.current.stop()
            if self.restarts > self.MAX_RESTARTS:
                raise BenchFailure(f"the worker was killed {self.restarts} times")
        self.current = Worker(self.args.database_url, self.args.worker_interval, self.log_dir)
        log(f"worker {self.current.process.pid} ready after {self.current.wait_ready():.1f} s")
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()


# -- one restore ---------------------------------------------------------------------------------


@dataclass
class Timing:
    seconds: float  # restore_start called -> Succeeded seen committed
    queued: float  # of which the operation waited for the worker to take it
    engine: float  # the worker's own start to finish (started_at -> finished_at)
    rows: int


def timed_restore(built: builders.BenchStore, admin, worker: Worker) -> Timing:
    from django.db import connection

    from backups import restores
    from backups.models import RestoreOperation

    started = time.perf_counter()
    op = restores.restore_start(
        restores.RestoreRequest(
            source=built.source, target=built.target, moment=built.moment, requested_by=admin
        )
    )
    deadline = started + RESTORE_TIMEOUT
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"SELECT status FROM {RestoreOperation._meta.db_table} WHERE id = %s", [op.pk]
            )
            status = cursor.fetchone()[0]
            if status == RestoreOperation.Status.SUCCEEDED:
                seconds = time.perf_counter() - started
                break
            if status == RestoreOperation.Status.FAILED:
                op.refresh_from_db()
                raise BenchFailure(f"restore {op.pk} failed: {op.error}")
            if not worker.alive():
                raise WorkerDied(f"restore {op.pk} is {status}", op.pk)
            if time.perf_counter() > deadline:
                raise BenchFailure(f"restore {op.pk} is {status}; worker:\n{worker.output()}")
            time.sleep(POLL)
    op.refresh_from_db()
    if op.status != RestoreOperation.Status.SUCCEEDED:
        raise BenchFailure(f"restore {op.pk}: {op.status} {op.error}")
    verify_restore(built, op)
    return Timing(
        seconds=seconds,
        queued=(op.started_at - op.created_at).total_seconds(),
        engine=(op.finished_at - op.started_at).total_seconds(),
        rows=op.rows_copied,
    )


def verify_restore(built: builders.BenchStore, op) -> None:
    """The target's live data must be the source's as of the moment: the same tables (names,
    columns), the same keys and the same values; and nothing else."""
    from django.db import connection

    from environments import lineage, store
    from environments.models import DataTable, Generation

    built.target.refresh_from_db()
    live = Generation.objects.get(environment=built.target, valid_to__isnull=True)
    if live.pk != op.generation_id:
        raise BenchFailure(f"the target's live generation is not restore {op.pk}'s")
    source_tables = list(store.as_of(built.source, built.moment).tables())
    target_tables = list(DataTable.objects.filter(generation=live, valid_to__isnull=True))

    def shape(tables) -> list:
        return sorted((t.name, t.display_name, t.columns) for t in tables)

    if shape(source_tables) != shape(target_tables):
        raise BenchFailure(f"restore {op.pk}: the target's tables differ from the source's")
    # Each side through its layers (environments.lineage): a restored table reads its source.
    q = connection.ops.quote_name
    differ = in_source = in_target = 0
    by_name = {t.name: t for t in target_tables}
    for table in source_tables:
        source_sql, source_params = lineage.copy_sql(table, built.moment)
        target_sql, target_params = lineage.copy_sql(by_name[table.name], None)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE s.{q('key')} IS NULL OR t.{q('key')} IS NULL "
                f"  OR s.{q('values')} IS DISTINCT FROM t.{q('values')}), count(s.{q('key')}), "
                f"  count(t.{q('key')}) FROM ({source_sql}) s FULL JOIN ({target_sql}) t "
                f"ON s.{q('key')} = t.{q('key')}",
                [*source_params, *target_params],
            )
            table_differ, table_source, table_target = cursor.fetchone()
        differ += table_differ
        in_source += table_source
        in_target += table_target
    if differ or in_source != built.rows or in_target != built.rows:
        raise BenchFailure(
            f"restore {op.pk} restored the wrong data: {differ} rows differ; the source had "
            f"{in_source} at the moment (expected {built.rows}), the target has {in_target}"
        )


def drop_replaced_generations(built: builders.BenchStore) -> None:
    """Delete the versions and tables of the target's generations that restores replaced (as
    the purge does once they leave the window), so that every round sees the same store."""
    from django.db import connection

    from environments.models import DataTable, RowVersion

    old = DataTable.objects.filter(
        generation__environment=built.target, generation__valid_to__isnull=False
    )
    ids = list(old.values_list("pk", flat=True))
    if not ids:
        return
    layout = builders.optional_layout()
    if layout is not None:  # as the purge does: empty the partitions, drop them once unused
        layout.empty_partitions(ids)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {RowVersion._meta.db_table} WHERE table_id = ANY(%s)", [ids]
            )
    DataTable.objects.filter(pk__in=ids).delete()
    if layout is not None:
        layout.drop_orphan_partitions()
    builders.vacuum_analyze()


# -- the baselines -------------------------------------------------------------------------------


def live_rows_select(built: builders.BenchStore) -> tuple[str, list]:
    from django.db import connection

    from environments.models import RowVersion

    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in RowVersion._meta.concrete_fields)
    return (
        f"SELECT {columns} FROM {RowVersion._meta.db_table} WHERE {q('table_id')} = ANY(%s) "
        f"AND {q('valid_from')} <= %s AND ({q('valid_to')} IS NULL OR {q('valid_to')} > %s)",
        [[t.pk for t in built.source_tables], built.moment, built.moment],
    )


def primary_key_columns() -> str:
    from django.db import connection

    from environments.models import RowVersion

    pk = RowVersion._meta.pk
    fields = getattr(pk, "fields", None) or [pk]
    return ", ".join(connection.ops.quote_name(f.column) for f in fields)


CTAS_TABLE = "bench_ctas"


def timed_ctas(built: builders.BenchStore) -> float:
    """CREATE TABLE AS SELECT of the source's rows at the moment, JIT off, and the same
    primary key as the versions table: one transaction, timed to its commit. Leaves the
    table for the dump."""
    from django.db import connection, transaction

    select, params = live_rows_select(built)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {CTAS_TABLE}")
    builders.checkpoint()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"CREATE TABLE {CTAS_TABLE} AS {select}", params)
        copied = cursor.rowcount
        cursor.execute(f"ALTER TABLE {CTAS_TABLE} ADD PRIMARY KEY ({primary_key_columns()})")
    seconds = time.perf_counter() - started
    if copied != built.rows:
        raise BenchFailure(f"CREATE TABLE AS copied {copied} rows, not {built.rows}")
    return seconds


def timed_dump_restore(built: builders.BenchStore, database_url: str) -> tuple[float, float]:
    """pg_dump -Fc of the CTAS table (exactly the restored rows, with its primary key), then,
    once it is dropped, pg_restore of the dump into a fresh table. (dump s, pg_restore s)"""
    from django.db import connection

    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "rows.dump"
        builders.checkpoint()
        started = time.perf_counter()
        subprocess.run(
            ["pg_dump", "-Fc", "-t", f"public.{CTAS_TABLE}", "-f", str(dump), database_url],
            check=True,
        )
        dump_s = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {CTAS_TABLE}")
        builders.checkpoint()
        started = time.perf_counter()
        subprocess.run(["pg_restore", "--exit-on-error", "-d", database_url, str(dump)], check=True)
        restore_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {CTAS_TABLE}")
        restored = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
            [CTAS_TABLE],
        )
        has_pk = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {CTAS_TABLE}")
    if restored != built.rows or not has_pk:
        raise BenchFailure(f"pg_restore gave {restored} rows (primary key: {bool(has_pk)})")
    return dump_s, restore_s


# -- the copy statement's plan -------------------------------------------------------------------


def copy_plan(built: builders.BenchStore, *, analyze: bool) -> tuple[str, str]:
    """EXPLAIN of the engine's copy statement for the source's first table (what a restore from a
    table lineage.MAX_DEPTH deep runs instead of branching), as the engine runs it (JIT off,
    into a new table's own partition where the versions table is partitioned).
    With `analyze` it really runs, in a transaction that is rolled back. Returns the statement
    and its plan, and what it scans sequentially."""
    import re

    from django.db import connection, transaction
    from django.utils import timezone

    from environments import generations
    from environments.models import DataTable, RowVersion

    adapt = connection.ops.adapt_datetimefield_value
    table = built.source_tables[0]
    new_table = (DataTable.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    options = "(ANALYZE, BUFFERS, TIMING OFF)" if analyze else ""
    layout = builders.optional_layout()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        into = (
            layout.Loader().target(new_table)
            if layout is not None
            else connection.ops.quote_name(RowVersion._meta.db_table)
        )
        sql, tail = generations.copy_rows_sql(into, table, built.moment)
        params = [new_table, adapt(timezone.now()), *tail]
        if sql.count("%s") != len(params):
            return f"(the copy statement takes {sql.count('%s')} parameters)\n{sql}", "unknown"
        cursor.execute(f"EXPLAIN {options} {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    versions = RowVersion._meta.db_table
    scanned = set(re.findall(rf"Seq Scan on ({versions}\w*)", plan))
    if not scanned:
        verdict = "no"
    elif versions in scanned or len(scanned) > 1:
        verdict = f"YES, the whole versions table ({', '.join(sorted(scanned))})"
    else:
        verdict = f"only the source table's own partition ({scanned.pop()})"
    return f"{sql}\n\n{plan}", verdict


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class SizeResult:
    rows: int
    source_versions: int
    store_versions: int
    restore: list[float] = field(default_factory=list)
    queued: list[float] = field(default_factory=list)
    ctas: list[float] = field(default_factory=list)
    dump: list[float] = field(default_factory=list)
    pg_restore: list[float] = field(default_factory=list)
    worker_rss_mb: float | None = None
    seq_scan: str = ""


def count_versions(table_ids: list[int] | None = None) -> int:
    from django.db import connection

    from environments.models import RowVersion

    sql = f"SELECT count(*) FROM {RowVersion._meta.db_table}"
    params: list = []
    if table_ids is not None:
        sql += " WHERE table_id = ANY(%s)"
        params = [table_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def settle(operation_id: int, built: builders.BenchStore, workers: Workers) -> None:
    """After a worker was killed: let the new one finish (or the sweep fail) the restore that
    was under way, then put the store back as every round expects it."""
    from backups.models import RestoreOperation

    deadline = time.monotonic() + 300
    while RestoreOperation.objects.filter(
        pk=operation_id, status__in=RestoreOperation.ACTIVE
    ).exists():
        if time.monotonic() > deadline:
            raise BenchFailure(f"restore {operation_id} never ended after its worker was killed")
        workers.ensure()
        time.sleep(0.5)
    op = RestoreOperation.objects.get(pk=operation_id)
    if op.status == RestoreOperation.Status.SUCCEEDED:
        verify_restore(built, op)
    drop_replaced_generations(built)


def restore_with_worker(built: builders.BenchStore, admin, workers: Workers) -> Timing | None:
    """A timed restore through the running worker; None if the worker was killed meanwhile
    (then a new one is running, and the store is as before: the round must be done again)."""
    try:
        return timed_restore(built, admin, workers.ensure())
    except WorkerDied as died:
        workers.ensure()
        if died.operation_id is not None:
            settle(died.operation_id, built, workers)
        return None


def bench_size(rows: int, args: argparse.Namespace, admin, workers: Workers) -> SizeResult:
    log(f"\n== {rows:,} rows: building the store")
    built = builders.build_store(
        rows=rows, tables=args.tables, other_environments=args.other_environments, admin=admin
    )
    # One restore before the timed ones: it proves the worker takes work, and leaves the target
    # holding N rows, as it will before every timed restore.
    while (warm := restore_with_worker(built, admin, workers)) is None:
        pass
    drop_replaced_generations(built)
    log(f"untimed first restore: {warm.seconds:.2f} s (in the worker {warm.engine:.2f} s)")
    result = SizeResult(
        rows=rows,
        source_versions=count_versions([t.pk for t in built.source_tables]),
        store_versions=count_versions(),
    )
    while len(result.restore) < args.runs:
        builders.checkpoint()
        timing = restore_with_worker(built, admin, workers)
        if timing is None:
            log("the round is done again with the new worker")
            continue
        drop_replaced_generations(built)
        ctas = timed_ctas(built)
        dump, pg_restore = timed_dump_restore(built, args.database_url)
        result.restore.append(timing.seconds)
        result.queued.append(timing.queued)
        result.ctas.append(ctas)
        result.dump.append(dump)
        result.pg_restore.append(pg_restore)
        log(
            f"round {len(result.restore)}: restore {timing.seconds:.3f} s (queued "
            f"{timing.queued:.3f} s, in the worker {timing.engine:.3f} s), CTAS+PK {ctas:.3f} s, "
            f"pg_dump {dump:.3f} s, pg_restore {pg_restore:.3f} s"
        )
    worker = workers.ensure()
    result.worker_rss_mb = worker.peak_rss_mb()
    plan, result.seq_scan = copy_plan(built, analyze=rows == args.rows[0])
    print(f"\nThe restore's copy statement at {rows:,} rows (source's first table):\n")
    print("```")
    print(plan)
    print("```")
    print(f"Seq scan of the versions table: {result.seq_scan}", flush=True)
    return result


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(results: list[SizeResult], args: argparse.Namespace) -> str:
    base = results[0]
    base_per_row = median(base.restore) / base.rows
    lines = [
        f"\n{args.tables} tables; {args.other_environments} other environment(s) as big as the "
        f"source; medians of {args.runs} interleaved round(s).\n",
        "| rows | versions in source | versions in store | restore (s) | of which queued (s) "
        "| CTAS + PK (s) | restore / CTAS | pg_restore (s) | pg_dump + pg_restore (s) "
        "| worker peak RSS | time per row vs smallest |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        restore, ctas = median(r.restore), median(r.ctas)
        both = [d + p for d, p in zip(r.dump, r.pg_restore, strict=True)]
        rss = f"{r.worker_rss_mb:.0f} MB" if r.worker_rss_mb is not None else "n/a"
        lines.append(
            f"| {r.rows:,} | {r.source_versions:,} | {r.store_versions:,} | {restore:.3f} "
            f"| {median(r.queued):.3f} | {ctas:.3f} | {restore / ctas:.2f}x "
            f"| {median(r.pg_restore):.3f} | {median(both):.3f} | {rss} "
            f"| {restore / r.rows / base_per_row:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    builders.setup_django(args.database_url)
    from portal.models import User

    admin, _ = User.objects.get_or_create(
        username="bench", defaults={"tenant_role": "global_admin"}
    )
    results = []
    with tempfile.TemporaryDirectory() as log_dir:
        workers = Workers(args, Path(log_dir))
        try:
            for rows in args.rows:
                results.append(bench_size(rows, args, admin, workers))
        except BenchFailure as failure:
            print(f"FAILED: {failure}", file=sys.stderr)
            return 1
        finally:
            workers.stop()
    if workers.restarts:
        print(f"\n(The worker was killed {workers.restarts} time(s) and started again.)")
    print(report(results, args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
