"""Shared by the benchmarks (not a test): their own PostgreSQL database, and a store full of
history built with set-based SQL, written the way the store writes it.

`build_store` makes a production source whose tables hold N current rows in all, each row with
three older (closed) versions before its current one, spread over the retention window; as many
other environments of the same size; and an empty sandbox target. The versions are put on the
heap in the order in which the store would have written their tuples (a current version when it
was made, a closed one when it was closed: PostgreSQL writes an UPDATE as a new tuple), so that
one environment's rows lie scattered among everyone's, as after weeks of real writes, never in
key order. The write batches, hourly activity and the tables' stored figures are filled in as
the store keeps them (`store.recount`).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Every version takes one of this many write timestamps (one a minute over 27 days); a multiple
# of 4, so that version v of every row falls in the v-th quarter of the window.
BATCHES = 4 * 9720
VERSIONS_PER_ROW = 4  # three older versions, then the current one
HISTORY_DAYS = 27  # inside production's 28-day window (and never purged while the bench runs)
COLUMNS = [
    {"name": "name", "type": "text"},
    {"name": "email", "type": "email"},
    {"name": "city", "type": "text"},
    {"name": "status", "type": "text"},
    {"name": "notes", "type": "long_text"},
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the database --------------------------------------------------------------------------------


def split_url(database_url: str) -> tuple[str, str]:
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("The benchmarks run on PostgreSQL: pass a postgres:// --database-url.")
    base, name = database_url.rsplit("/", 1)
    return base, name


def ensure_database(database_url: str) -> None:
    """Create the benchmark's database if it is missing."""
    import psycopg

    base, name = split_url(database_url)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    import psycopg

    base, name = split_url(database_url)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(database_url: str) -> None:
    """Django on the benchmark's database, with the development settings, migrated."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["TASKS_BACKEND"] = "default"  # the database queue that a real worker reads
    os.environ.setdefault("DEBUG", "true")  # a development tool: the dev settings
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# -- the store -----------------------------------------------------------------------------------


@dataclass
class BenchStore:
    source: object  # Environment
    target: object  # Environment
    others: list = field(default_factory=list)
    source_tables: list = field(default_factory=list)  # DataTable, by name
    moment: datetime.datetime | None = None  # after every write: the source's rows are live
    rows: int = 0  # current rows of the source (and of each other environment)


def optional_layout():
    """environments.layout (the versions table partitioned by data table), if this tree has
    it; None otherwise."""
    try:
        from environments import layout
    except ImportError:
        return None
    return layout


def clear_store() -> None:
    """Empty every table of the portal's data (not the users), and record a purge, so that a
    running worker's housekeeping does not set out to purge while the data is being built."""
    from django.apps import apps
    from django.db import connection, transaction
    from django_tasks_db.models import DBTaskResult

    from backups import purge
    from portal.models import AuditEvent

    models = [
        *apps.get_app_config("environments").get_models(),
        *apps.get_app_config("backups").get_models(),
        AuditEvent,
        DBTaskResult,
    ]
    names = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {names} CASCADE")
        purge.backups_purge()
    layout = optional_layout()
    if layout is not None:  # the emptied partitions of the tables just deleted
        layout.drop_orphan_partitions()


def _check_row_version_columns() -> list[str]:
    """The columns a version is written with; fails on a column this builder does not know,
    rather than write versions the store would not."""
    from environments.models import RowVersion

    known = {"table", "key", "valid_from", "valid_to", "values", "size", "title"}
    fields = [f for f in RowVersion._meta.concrete_fields if f.column]
    unknown = [f.name for f in fields if f.name not in known]
    if unknown:
        sys.exit(
            f"bench/builders.py does not know RowVersion's field(s) {unknown}: teach it how the "
            "store fills them before benchmarking."
        )
    return [f.column for f in fields]


def _indexes(cursor, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(constraints with an index: name and definition, other indexes' definitions)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'x') ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass "
        "AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    return constraints, [row[0] for row in cursor.fetchall()]


def build_store(
    *, rows: int, tables: int, other_environments: int, admin, prefix: str = "bench"
) -> BenchStore:
    """Empty the store and build it afresh (see the module's docstring)."""
    from django.utils import timezone

    from environments import columns as cols
    from environments import services

    layout = optional_layout()
    from environments.models import (
        DataTable,
        Environment,
        Generation,
    )

    started = time.perf_counter()
    clear_store()
    now = timezone.now()
    created = now - datetime.timedelta(days=HISTORY_DAYS)

    def environment(slug: str, name: str, kind: str) -> Environment:
        return services.environment_insert(
            name=name,
            slug=slug,
            type=kind,
            region="unitedstates",
            created_by=admin,
            created_at=created,
        )

    source = environment(f"{prefix}-source", "Bench source", "production")
    target = environment(f"{prefix}-target", "Bench target", "sandbox")
    others = [
        environment(f"{prefix}-other-{i}", f"Bench other {i}", "production")
        for i in range(1, other_environments + 1)
    ]
    columns = cols.validate_columns(COLUMNS)
    per_table = [rows // tables + (1 if i < rows % tables else 0) for i in range(tables)]
    table_ids: list[int] = []
    table_rows: list[int] = []
    by_env: dict[int, list[DataTable]] = {}
    for env in [source, *others]:
        generation = Generation.objects.get(environment=env, valid_to__isnull=True)
        made = DataTable.objects.bulk_create(
            DataTable(
                generation=generation,
                name=f"table_{i:02d}",
                display_name=f"Table {i}",
                columns=columns,
                valid_from=created,
            )
            for i in range(tables)
        )
        by_env[env.pk] = made
        table_ids += [t.pk for t in made]
        table_rows += per_table
    if layout is not None:  # one partition of the versions table per data table
        layout.add_partitions(table_ids)

    load_versions(table_ids, table_rows, columns=columns, created=created, now=now)
    t0 = time.perf_counter()
    vacuum_analyze()
    checkpoint()
    log(f"  vacuumed and analysed in {time.perf_counter() - t0:.1f} s")
    for env in (source, target, *others):
        env.refresh_from_db()
    built = BenchStore(
        source=source,
        target=target,
        others=others,
        source_tables=sorted(by_env[source.pk], key=lambda t: t.name),
        moment=timezone.now(),
        rows=rows,
    )
    log(f"built the store in {time.perf_counter() - started:.1f} s")
    return built


def load_versions(
    table_ids: list[int],
    table_rows: list[int],
    *,
    columns: list[dict],
    created: datetime.datetime,
    now: datetime.datetime,
) -> None:
    """Fill the given (empty, partitioned) tables with their rows' versions in SQL, four a row
    over [created, now], as the store would have written them; then the write batches, the
    hourly activity, each environment's newest write and the tables' stored figures."""
    from django.db import connection, transaction

    from environments import columns as cols
    from environments import store
    from environments.models import (
        Activity,
        ChangeBatch,
        DataTable,
        Environment,
        Generation,
        RowVersion,
    )

    # Version v of a row takes a write batch in the v-th quarter of [first, last], at a place
    # that a hash of (table, row, v) picks: rows are changed in no particular order.
    first = created + datetime.timedelta(minutes=1)
    last = now - datetime.timedelta(minutes=1)
    step_us = int((last - first) / datetime.timedelta(microseconds=1)) // BATCHES
    quarter = BATCHES // VERSIONS_PER_ROW

    def batch(v: int) -> str:
        return (
            f"({v} * {quarter} + floor((hashint8extended(g, t.table_id * 4 + {v}) "
            f"& 281474976710655)::float8 / 281474976710656.0 * {quarter}))::bigint"
        )

    q = connection.ops.quote_name
    rv = RowVersion._meta.db_table
    columns_sql = _check_row_version_columns()
    # The figures the store fixes when it writes a version, computed the same way here.
    derived = {
        # store.version_size: bytes of the key and of the values' JSON text
        "size": "octet_length(key) + octet_length(vals::text)",
    }
    title_column = getattr(cols, "title_column", lambda columns: None)(columns)
    if title_column is not None:  # columns.title: the title column's value, cut
        length = getattr(cols, "TITLE_LENGTH", 100)
        derived["title"] = f"coalesce(substr(vals ->> '{title_column['name']}', 1, {length}), '')"
    else:
        derived["title"] = "''"
    extra = [c for c in columns_sql if c in derived]
    ts = "(%(first)s::timestamptz + interval '1 microsecond' * ({} * %(step)s))"
    insert = (
        f"INSERT INTO {rv} ({q('table_id')}, {q('key')}, {q('valid_from')}, {q('valid_to')}, "
        f"{q('values')}{''.join(', ' + q(c) for c in extra)}) "
        f"SELECT table_id, key, vf, vt, vals{''.join(', ' + derived[c] for c in extra)} FROM ("
        f"  SELECT s.table_id, s.key, {ts.format('s.b_from')} AS vf,"
        f"    CASE WHEN s.b_to IS NOT NULL THEN {ts.format('s.b_to')} END AS vt,"
        "    jsonb_build_object("
        "      'name', 'Company ' || s.g, 'email', 'contact' || s.g || '@example.com',"
        "      'city', md5(s.g::text),"
        "      'status', (ARRAY['Lead', 'Prospect', 'Customer', 'Active'])[s.v + 1],"
        "      'notes', repeat(md5((s.g * 7 + s.v)::text), 6)) AS vals"
        "  FROM ("
        "    SELECT t.table_id, g, v, lpad(g::text, 8, '0') AS key,"
        "      b.bs[v + 1] AS b_from, b.bs[v + 2] AS b_to"
        "    FROM unnest(%(tables)s::bigint[], %(rows)s::bigint[]) AS t(table_id, n)"
        "    CROSS JOIN LATERAL generate_series(1::bigint, t.n) AS g"
        f"    CROSS JOIN LATERAL (SELECT ARRAY[{batch(0)}, {batch(1)}, {batch(2)}, {batch(3)}])"
        "      AS b(bs)"
        "    CROSS JOIN generate_series(0, 3) AS v"
        # The order the store's tuples reach the heap: a closed version when it was closed.
        "    ORDER BY coalesce(b.bs[v + 2], b.bs[v + 1])"
        "  ) s"
        ") w"
    )
    env_of_table = (
        f"SELECT t.id AS table_id, g.environment_id FROM {DataTable._meta.db_table} t "
        f"JOIN {Generation._meta.db_table} g ON g.id = t.generation_id "
        "WHERE t.id = ANY(%(tables)s)"
    )
    params = {"tables": table_ids, "rows": table_rows, "first": first, "step": step_us}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '1GB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '2GB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        # The indexes are built once the heap is full (a sort), not row by row in heap order.
        constraints, indexes = _indexes(cursor, rv)
        for name, _ in constraints:
            cursor.execute(f"ALTER TABLE {rv} DROP CONSTRAINT {q(name)}")
        for definition in indexes:
            cursor.execute(f"DROP INDEX {definition.split(' ON ')[0].split()[-1]}")
        t0 = time.perf_counter()
        cursor.execute(insert, params)
        inserted = cursor.rowcount
        log(f"  {inserted:,} versions written in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {rv} ADD CONSTRAINT {q(name)} {definition}")
        for definition in indexes:
            # A partitioned table's index, made again on the parent, is made on every partition.
            cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
        log(f"  indexes built in {time.perf_counter() - t0:.1f} s")
        # The write batches (one per timestamp and environment), the hourly activity, and each
        # environment's newest write, as the store records them.
        cb, act, env_t = (
            ChangeBatch._meta.db_table,
            Activity._meta.db_table,
            Environment._meta.db_table,
        )
        cursor.execute(
            f"INSERT INTO {cb} ({q('environment_id')}, {q('at')}, {q('changes')}) "
            f"SELECT e.environment_id, r.{q('valid_from')}, count(*) FROM {rv} r "
            f"JOIN ({env_of_table}) e ON e.table_id = r.{q('table_id')} GROUP BY 1, 2",
            params,
        )
        cursor.execute(
            f"INSERT INTO {act} ({q('environment_id')}, {q('hour')}, {q('changes')}) "
            f"SELECT {q('environment_id')}, "
            f"date_trunc('hour', {q('at')} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', "
            f"sum({q('changes')}) FROM {cb} GROUP BY 1, 2"
        )
        cursor.execute(
            f"UPDATE {env_t} e SET {q('last_change_at')} = b.at FROM "
            f"(SELECT {q('environment_id')}, max({q('at')}) AS at FROM {cb} GROUP BY 1) b "
            f"WHERE e.id = b.{q('environment_id')}"
        )
    t0 = time.perf_counter()
    # Whatever figures the store keeps about its tables, rebuilt from the versions.
    if hasattr(store, "recount"):
        for env in Environment.objects.filter(generations__tables__in=table_ids).distinct():
            store.recount(env)
    log(f"  stored figures rebuilt in {time.perf_counter() - t0:.1f} s")


class Process:
    """A child process with its output in a file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def vacuum_analyze() -> None:
    """VACUUM (ANALYZE) the store's tables: what autovacuum would have done by now, done
    before timing rather than in the middle of it."""
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        for model in apps.get_app_config("environments").get_models():
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


def checkpoint() -> None:
    """Write out dirty buffers now, so that the next timed step does not pay for the last."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:  # not a superuser: leave it to the server
        pass
