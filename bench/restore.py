"""Restore benchmark on PostgreSQL (not a test): restore N rows across 10 tables and compare with
two baselines over the same rows, `CREATE TABLE ... AS SELECT` and `pg_dump -Fc` + `pg_restore`.

    .venv/bin/python bench/restore.py --rows 100000
    .venv/bin/python bench/restore.py --rows 1000000

It uses its own database (default envportal_bench on 127.0.0.1, created and migrated if
missing), runs the restore in a real `manage.py db_worker` process, and prints a Markdown table
for docs/benchmarks.md. The worker's peak memory is its maximum resident set size.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the source (N)")
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/envportal_bench"
    )
    return parser.parse_args()


def psql(url_db: str, sql: str) -> None:
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url_db, "-c", sql], check=True)


def main() -> None:
    args = parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("The benchmark runs on PostgreSQL: pass a postgres:// --database-url.")
    base, dbname = args.database_url.rsplit("/", 1)
    exists = subprocess.run(
        [
            "psql",
            "-d",
            f"{base}/postgres",
            "-Atc",
            f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        psql(f"{base}/postgres", f'CREATE DATABASE "{dbname}"')
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "true")  # a development tool: the dev settings
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args)


def run(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.utils import timezone

    from backups import restores
    from backups.models import RestoreOperation
    from environments import services as env_services
    from environments import store
    from environments.models import RowVersion
    from portal.models import User

    # A clean slate for each run.
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE environments_rowversion, environments_datatable, "
            "environments_generation, backups_restoreoperation, "
            "backups_manualbackup, portal_auditevent, environments_membership, "
            "environments_environment, django_tasks_database_dbtaskresult CASCADE"
        )
        cursor.execute("DROP TABLE IF EXISTS bench_ctas, bench_equivalent")
    admin, _ = User.objects.get_or_create(
        username="bench", defaults={"tenant_role": "global_admin"}
    )
    created = timezone.now() - datetime.timedelta(days=1)
    source = env_services.environment_create(
        name="Bench source",
        slug="bench-source",
        type="production",
        region="unitedstates",
        created_by=admin,
        created_at=created,
    )
    target = env_services.environment_create(
        name="Bench target",
        slug="bench-target",
        type="sandbox",
        region="unitedstates",
        created_by=admin,
        created_at=created,
    )
    columns = [{"name": n, "type": "text"} for n in ("name", "email", "city", "notes", "status")]
    with store.changes(source) as cs:
        tables = [
            cs.create_table(name=f"table_{i:02d}", display_name=f"Table {i}", columns=columns)
            for i in range(args.tables)
        ]
    per_table = args.rows // args.tables
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables:
            # About 360 bytes of JSON a row, like the measurements in the foundation issue.
            cursor.execute(
                """
                INSERT INTO environments_rowversion (table_id, key, valid_from, valid_to, values)
                SELECT %s, lpad(g::text, 8, '0'), %s, NULL, jsonb_build_object(
                    'name', 'Company ' || g, 'email', 'contact' || g || '@example.com',
                    'city', md5(g::text), 'status', 'Active',
                    'notes', repeat(md5((g * 7)::text), 6))
                FROM generate_series(1, %s) AS g
                """,
                [table.pk, created + datetime.timedelta(minutes=1), per_table],
            )
        cursor.execute("ANALYZE environments_rowversion")
    total = per_table * len(tables)
    print(f"built source: {total} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    moment = timezone.now()

    # The worker's own start-up (Django, imports), timed on an empty queue, is subtracted: a
    # running worker does not pay it per restore.
    worker_env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "ALLOWED_HOSTS": "localhost",
    }
    worker_cmd = [
        sys.executable,
        "manage.py",
        "db_worker",
        "--batch",
        "--no-startup-delay",
        "--no-reload",
    ]
    t0 = time.perf_counter()
    subprocess.run(worker_cmd, cwd=ROOT, env=worker_env, check=True, capture_output=True)
    startup = time.perf_counter() - t0

    # The restore, through a real worker process.
    t0 = time.perf_counter()
    op = restores.restore_start(source=source, target=target, moment=moment, requested_by=admin)
    connection.close()  # let on_commit enqueue happen (autocommit) and free the connection
    worker = subprocess.run(worker_cmd, cwd=ROOT, env=worker_env, capture_output=True, text=True)
    wall = time.perf_counter() - t0 - startup
    if worker.returncode:
        sys.exit(worker.stdout + worker.stderr)
    worker_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    op = RestoreOperation.objects.get(pk=op.pk)
    if op.status != "succeeded":
        sys.exit(f"restore failed: {op.error}")
    engine_s = (op.finished_at - op.started_at).total_seconds()
    copied = RowVersion.objects.filter(table__generation=op.generation).count()
    assert copied == total, (copied, total)

    # Baseline 1: CREATE TABLE AS SELECT of the same rows.
    ids = [t.pk for t in tables]
    live = "table_id = ANY(%s) AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)"
    with connection.cursor() as cursor:
        t0 = time.perf_counter()
        cursor.execute(
            f"CREATE TABLE bench_ctas AS SELECT table_id, key, valid_from, valid_to, "
            f"values FROM environments_rowversion WHERE {live}",
            [ids, moment, moment],
        )
        ctas_s = time.perf_counter() - t0
        cursor.execute("ALTER TABLE bench_ctas RENAME TO bench_equivalent")

    # Baseline 2: pg_dump -Fc of an equivalent table, pg_restore into a fresh database.
    base, dbname = args.database_url.rsplit("/", 1)
    restore_db = f"{dbname}_restore"
    psql(f"{base}/postgres", f'DROP DATABASE IF EXISTS "{restore_db}"')
    psql(f"{base}/postgres", f'CREATE DATABASE "{restore_db}"')
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "equivalent.dump"
        t0 = time.perf_counter()
        subprocess.run(
            ["pg_dump", "-Fc", "-t", "bench_equivalent", "-f", str(dump), args.database_url],
            check=True,
        )
        subprocess.run(["pg_restore", "-d", f"{base}/{restore_db}", str(dump)], check=True)
        dump_s = time.perf_counter() - t0
    psql(f"{base}/postgres", f'DROP DATABASE IF EXISTS "{restore_db}"')
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_equivalent")

    print(
        "\n| rows | restore_start to finished | rows/s | in the engine | "
        "CREATE TABLE AS | pg_dump + pg_restore | restore / CTAS | dump+restore / restore | "
        "worker peak RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {total:,} | {wall:.2f} s | {total / wall:,.0f} | {engine_s:.2f} s | "
        f"{ctas_s:.2f} s | {dump_s:.2f} s | {wall / ctas_s:.2f}x | "
        f"{dump_s / wall:.1f}x | {worker_rss_mb:.0f} MB |"
    )
    print(f"(worker start-up of {startup:.2f} s subtracted)", file=sys.stderr)


if __name__ == "__main__":
    main()
