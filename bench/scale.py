"""Every page at real sizes, on PostgreSQL (issues 11 and 12; not a test).

    .venv/bin/python bench/scale.py                  # builds 1,000,000 rows (minutes), then times
    .venv/bin/python bench/scale.py --reuse          # the same data, already built: time only
    .venv/bin/python bench/scale.py --rows 2000 --duration 3 --repeat 3   # the test suite's run

It works in a database of its own (default envportal_scale on 127.0.0.1, created and migrated
if missing) and does, in order:

1. Data, in set-based SQL, each version written as the store writes it (as bench/builders.py
   does): a large production environment of --rows current rows over 10 tables, each row with
   three older versions over 27 days (4 x rows versions); a small one with a tenth of that; four
   others of a tenth each, so that the store holds 6 x rows versions; a sandbox with a little
   data (the restore panel's target); a few manual backups; a global admin. --reuse keeps what
   is there when its figures match --rows.
2. Server time of every page and partial, large and small environment interleaved, signed in
   as the global admin (Django's test client, in-process): --repeat runs after 2 warm-ups,
   median and p95. Target: each under 50 ms on the large environment, large / small under 1.5x.
3. Plans: EXPLAIN (ANALYZE, BUFFERS) of every query of each page that reads the versions table
   (on the large environment) and of the restore's copy of its largest table. A plan fails the
   run when it scans the versions table as a whole, reads more than one of its partitions, reads
   the partition of a table other than the page's own, or (a page) scans a partition
   sequentially for more than 10,000 versions.
4. Load: gunicorn as `make serve` runs it (production settings, DEBUG off) beside a real task
   worker; --clients signed-in clients (sessions made server-side) loop over a shuffled mix of
   the pages for --duration seconds (client timeout 10 s). Then the same load while a restore of
   the large environment (all its rows) runs through the worker, into a sandbox made for it and
   deleted at the end. Targets: p95 under 250 ms, no errors; during the restore p95 no more
   than 1.3x.

5. Lineage (issue 12): the large environment restored into a new sandbox (a branch: no row
   copied) and 1% of its browsed table's rows updated there through the store; the same
   into a second sandbox, which is then flattened (every base row copied into it, chunk by
   chunk: rows per second); the store vacuumed and analysed (as autovacuum would be after
   those writes); the environment's pages timed on both, in turns, and their plans on the
   branch checked. Target: each page on the branch within 1.25x of the flattened one, and
   under 50 ms. Under load (4.), one more round: while another process flattens the restore
   that ran under load.

Exit status 1 when a plan check fails, a page answers other than 200, a request under load
errors or times out, or the restore fails; a missed target is reported ("no") and fails the run
only with --strict.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders  # noqa: E402
from bench.builders import log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/envportal_scale"
LARGE, SMALL = "scale-large", "scale-small"
SANDBOX = "scale-sandbox"  # the restore panel's target
RESTORE_TARGET = "scale-restore-target"  # what the restore under load overwrites
BRANCH = "scale-branch"  # the large environment restored (a branch), then changed
FLATTENED = "scale-flattened"  # the same restore and changes, then flattened
FLATTEN_WAIT = 300  # seconds a flattening may go on after the load, before the bench gives up
CHANGED_SHARE = 0.01  # of the browsed table's rows, updated on the branch
OTHER_TYPES = ("production", "sandbox", "trial", "production")  # each a tenth of the large one
TABLES = 10
SANDBOX_TABLES, SANDBOX_ROWS = 2, 100
REGION = "unitedstates"
# The data is written as bench/builders.py writes it (its history, versions and columns).
HISTORY_DAYS = builders.HISTORY_DAYS
VERSIONS_PER_ROW = builders.VERSIONS_PER_ROW
COLUMNS = builders.COLUMNS
# Targets (issue 11)
PAGE_MS, RATIO = 50.0, 1.5
LOAD_P95_MS, DURING_RESTORE = 250.0, 1.3
# Targets (issue 12): a branch's pages against the same pages once it is flattened
BRANCH_RATIO = 1.25
CLIENT_TIMEOUT = 10.0
SEQ_SCAN_LIMIT = 10_000  # versions a page may read in a sequential scan of a partition


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="current rows of the large environment"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the data if already built")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each page")
    parser.add_argument("--warmups", type=int, default=2, help="untimed runs before them")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=20, help="client threads under load")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn worker processes (default, as make serve: 2 x cores + 1)",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="DB_CONN_MAX_AGE for gunicorn (default: unset, the portal's default of 0: a new "
        "database connection for every request)",
    )
    parser.add_argument("--no-load", action="store_true", help="time and explain only")
    parser.add_argument("--strict", action="store_true", help="a missed target fails the run")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if args.rows < 10 * TABLES or args.repeat < 1 or args.warmups < 0 or args.clients < 1:
        parser.error(f"--rows must be at least {10 * TABLES}; --repeat, --clients positive")
    return args


# -- the data ------------------------------------------------------------------------------------


def small_rows(rows: int) -> int:
    return rows // 10


def expected_versions(rows: int) -> int:
    return VERSIONS_PER_ROW * (rows + small_rows(rows) * (1 + len(OTHER_TYPES)))


def current_rows(slug: str) -> int:
    from django.db.models import Sum

    from environments.models import DataTable

    return (
        DataTable.objects.filter(
            generation__environment__slug=slug,
            generation__valid_to__isnull=True,
            valid_to__isnull=True,
        ).aggregate(n=Sum("live_rows"))["n"]
        or 0
    )


def built_already(rows: int) -> bool:
    """The marker of --reuse: the large and small environments hold the rows asked for, the
    sandbox is there and the store holds at least the versions a build makes."""
    from django.db.models import F, Sum

    from environments.models import DataTable, Environment

    if not Environment.objects.filter(slug=SANDBOX).exists():
        return False
    if current_rows(LARGE) != rows or current_rows(SMALL) != small_rows(rows):
        return False
    total = DataTable.objects.aggregate(n=Sum(F("live_rows") + F("closed_versions")))["n"] or 0
    return total >= expected_versions(rows)


def build(rows: int, admin) -> None:
    """Empty the store and fill it (see the module's docstring)."""
    from django.utils import timezone

    from backups.models import ManualBackup
    from environments import columns as cols
    from environments import layout, services
    from environments.models import (
        DataTable,
        Environment,
        Generation,
    )

    started = time.perf_counter()
    builders.clear_store()
    now = timezone.now()
    created = now - datetime.timedelta(days=HISTORY_DAYS)
    small = small_rows(rows)
    plan = [  # slug, name, type, tables, current rows in all
        (LARGE, "Scale large", "production", TABLES, rows),
        (SMALL, "Scale small", "production", TABLES, small),
        *(
            (f"scale-other-{i}", f"Scale other {i}", kind, TABLES, small)
            for i, kind in enumerate(OTHER_TYPES, start=1)
        ),
        (SANDBOX, "Scale sandbox", "sandbox", SANDBOX_TABLES, SANDBOX_TABLES * SANDBOX_ROWS),
    ]
    columns = cols.validate_columns(COLUMNS)
    table_ids: list[int] = []
    table_rows: list[int] = []
    envs: dict[str, Environment] = {}
    for slug, name, kind, tables, total in plan:
        env = services.environment_insert(
            name=name,
            slug=slug,
            type=kind,
            region=REGION,
            created_by=admin,
            created_at=created,
        )
        envs[slug] = env
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
        table_ids += [t.pk for t in made]
        table_rows += [total // tables + (1 if i < total % tables else 0) for i in range(tables)]
    layout.add_partitions(table_ids)

    builders.load_versions(table_ids, table_rows, columns=columns, created=created, now=now)
    for slug in (LARGE, SMALL):
        env = envs[slug]
        retention = env.manual_retention
        for days in (20, 9, 2):
            at = now - datetime.timedelta(days=days, hours=3)
            ManualBackup.objects.create(
                environment=env,
                label=f"Before release {days}",
                backup_at=at,
                created_by=admin,
                created_at=at,
                expires_at=at + retention,
            )
    t0 = time.perf_counter()
    builders.vacuum_analyze()
    builders.checkpoint()
    log(f"  vacuumed and analysed in {time.perf_counter() - t0:.1f} s")
    log(f"built the store in {time.perf_counter() - started:.1f} s")


def drop_environment(slug: str) -> None:
    """Delete an environment made by this script, its versions (their partitions) included."""
    from django.db.models import Q

    from backups.models import RestoreOperation
    from environments import layout
    from environments.models import DataTable, Environment

    env = Environment.objects.filter(slug=slug).first()
    if env is None:
        return
    ids = list(DataTable.objects.filter(generation__environment=env).values_list("pk", flat=True))
    layout.empty_partitions(ids)
    RestoreOperation.objects.filter(Q(target=env) | Q(source=env)).delete()
    env.delete()
    layout.drop_orphan_partitions()


def fresh_restore_target(admin):
    from django.utils import timezone

    from environments import services

    drop_environment(RESTORE_TARGET)
    return services.environment_insert(
        name="Scale restore target",
        slug=RESTORE_TARGET,
        type="sandbox",
        region=REGION,
        created_by=admin,
        created_at=timezone.now() - datetime.timedelta(days=1),
    )


def finished_restore(source, target, admin):
    """A small restore (the sandbox's little data), run in-process: the operation the API's
    operation page shows."""
    from django.utils import timezone

    from backups import engine, restores
    from backups.models import RestoreOperation

    op = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            requested_by=admin,
            moment=timezone.now(),
            idempotency_key=f"scale-{uuid.uuid4().hex}",
        )
    )
    status = engine.restore_run(op.pk)
    if status != RestoreOperation.Status.SUCCEEDED:
        raise BenchFailure(f"the small restore {op.pk} ended {status}")
    op.refresh_from_db()
    return op


class BenchFailure(Exception):
    pass


# -- the pages -----------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str  # with its query string
    form: dict | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Subject:
    """One environment the pages are about, and what they ask of it."""

    label: str
    env: object  # Environment
    table: object  # DataTable: its first table
    table_ids: set[int]
    deep_key: str
    search: str
    moment: datetime.datetime


@dataclass
class Page:
    name: str
    request: Callable[[Subject], Request]
    scope: str = "environment"  # "table": the page's own partition is its table's
    shared: bool = False  # the same page whichever environment


def subject(label: str, slug: str, moment: datetime.datetime) -> Subject:
    from environments import store
    from environments.models import Environment

    env = Environment.objects.get(slug=slug)
    tables = list(store.current(env).tables().order_by("name"))
    table = tables[0]
    n = table.live_rows
    return Subject(
        label=label,
        env=env,
        table=table,
        table_ids={t.pk for t in tables},
        deep_key=f"{max(n - 30, 1):08d}",  # keys are the row numbers, zero-padded
        search=f"Company {n}",  # a title prefix only the table's last row has
        moment=moment,
    )


def pages(sandbox, operation, token: str) -> list[Page]:
    from django.urls import reverse

    htmx = {"HX-Request": "true"}
    api = {"Authorization": f"Bearer {token}"}

    def url(name: str, s: Subject | None = None, query: dict | None = None, **kwargs) -> str:
        if s is not None:
            kwargs["slug"] = s.env.slug
        path = reverse(name, kwargs=kwargs or None)
        return f"{path}?{urlencode(query)}" if query else path

    def pick(s: Subject) -> str:
        return f"at:{s.moment.isoformat()}"

    def rows(s: Subject, **query) -> str:
        return url("environments:rows", s, query, table=s.table.name)

    def panel(s: Subject) -> dict:
        return {"pick": pick(s), "target": sandbox.slug}

    return [
        Page(
            "environment page (storage figures)",
            lambda s: Request("GET", url("environments:detail", s)),
        ),
        Page("data browser: table list", lambda s: Request("GET", url("environments:tables", s))),
        Page("data browser: rows, page 1", lambda s: Request("GET", rows(s)), "table"),
        Page(
            "data browser: deep page (?after=, keyset)",
            lambda s: Request("GET", rows(s, after=s.deep_key)),
            "table",
        ),
        Page(
            "data browser: search, one match (?q=)",
            lambda s: Request("GET", rows(s, q=s.search)),
            "table",
        ),
        Page(
            "restore panel with What will be overwritten (page)",
            lambda s: Request("GET", url("backups:restore", s, panel(s))),
        ),
        Page(
            "restore panel with What will be overwritten (partial)",
            lambda s: Request("GET", url("backups:restore", s, panel(s)), headers=htmx),
        ),
        Page(
            "overwrite confirmation (partial)",
            lambda s: Request(
                "POST",
                url("backups:restore", s),
                {**panel(s), "idempotency_key": "scale-bench", "step": "review"},
                htmx,
            ),
        ),
        Page("environments list", lambda s: Request("GET", url("environments:list")), shared=True),
        Page("System tab (page)", lambda s: Request("GET", url("backups:system", s))),
        Page(
            "Continue: candidates (partial)",
            lambda s: Request(
                "GET",
                url(
                    "backups:system",
                    s,
                    {"date": f"{s.moment:%Y-%m-%d}", "time": f"{s.moment:%H:%M:%S}", "tz": "UTC"},
                ),
                headers=htmx,
            ),
        ),
        Page("Manual tab (page)", lambda s: Request("GET", url("backups:manual", s))),
        Page(
            "API: environments list",
            lambda s: Request("GET", "/api/v1/environments", headers=api),
            shared=True,
        ),
        Page(
            "API: backups list",
            lambda s: Request("GET", f"/api/v1/environments/{s.env.slug}/backups", headers=api),
        ),
        Page(
            "API: one operation",
            lambda s: Request("GET", f"/api/v1/operations/{operation.pk}", headers=api),
            shared=True,
        ),
    ]


def send(client, request: Request):
    headers = dict(request.headers)
    if request.method == "POST":
        return client.post(request.path, request.form, headers=headers)
    return client.get(request.path, headers=headers)


@dataclass
class Timing:
    page: str
    large: list[float]
    small: list[float] | None


def p95(samples: list[float]) -> float:
    return percentile(samples, 0.95)


def time_pages(
    client, page_list: list[Page], large: Subject, small: Subject, args, failures: list[str]
) -> list[Timing]:
    results = []
    for page in page_list:
        requests = {"large": page.request(large)}
        if not page.shared:
            requests["small"] = page.request(small)

        def run(which: str, request: Request, page: Page = page) -> float:
            started = time.perf_counter()
            response = send(client, request)
            seconds = time.perf_counter() - started
            if response.status_code != 200:
                failures.append(
                    f"{page.name} ({which}): {request.method} {request.path} answered "
                    f"{response.status_code}"
                )
            return seconds * 1000

        for _ in range(args.warmups):
            for which, request in requests.items():
                run(which, request)
        samples: dict[str, list[float]] = {which: [] for which in requests}
        for _ in range(args.repeat):  # large and small in turns
            for which, request in requests.items():
                samples[which].append(run(which, request))
        results.append(Timing(page.name, samples["large"], samples.get("small")))
        log(f"  {page.name}: {statistics.median(samples['large']):.1f} ms")
    return results


def timing_table(
    results: list[Timing], sides=("large", "small"), limit: float = RATIO, missed_as: str = ""
) -> tuple[str, list[str]]:
    """The table of timings: each page's two sides, their ratio (met when under `limit`, and
    the first side under PAGE_MS), and the pages that missed (named with `missed_as` first)."""
    first, second = sides
    lines = [
        f"| page or partial | {first}: median | {first}: p95 | {second}: median "
        f"| {second}: p95 | {first} / {second} | target met? |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    missed = []
    for r in results:
        large = statistics.median(r.large)
        if r.small is None:
            small_cells, ratio, ratio_ok = "(same page) | ", "—", True
        else:
            small = statistics.median(r.small)
            ratio_value = large / small if small else float("inf")
            small_cells = f"{small:.1f} ms | {p95(r.small):.1f} ms"
            ratio, ratio_ok = f"{ratio_value:.2f}x", ratio_value < limit
        met = large < PAGE_MS and ratio_ok
        if not met:
            missed.append(missed_as + r.page)
        lines.append(
            f"| {r.page} | {large:.1f} ms | {p95(r.large):.1f} ms | {small_cells} | {ratio} "
            f"| {'yes' if met else 'no'} |"
        )
    return "\n".join(lines), missed


# -- the plans -----------------------------------------------------------------------------------


def versions_table() -> str:
    from environments.models import RowVersion

    return RowVersion._meta.db_table


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def check_plan(
    plan: dict, own: set[int], *, page: bool, partitions: int = 1
) -> tuple[list[str], list[str]]:
    """(problems, notes) of one plan (EXPLAIN ANALYZE, FORMAT JSON). A query of a restored
    table's layers (environments.lineage) may read `partitions` partitions: its own and its
    base's."""
    parent = versions_table()
    partition = re.compile(rf"{re.escape(parent)}_t(\d+)")
    problems, notes = [], []
    read: set[int] = set()
    for node in _nodes(plan):
        # What a plan reads (a ModifyTable node names the table it writes: not a read).
        relation = node.get("Relation Name", "") if "Scan" in node["Node Type"] else ""
        if relation == parent:
            problems.append(f"{node['Node Type']} of the whole versions table {parent}")
            continue
        match = partition.fullmatch(relation)
        if not match:
            continue
        read.add(int(match[1]))
        if node["Node Type"] == "Seq Scan":
            rows = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * max(
                node.get("Actual Loops", 1), 1
            )
            what = f"Seq Scan on {relation} (reads {rows:,} versions)"
            if page and rows > SEQ_SCAN_LIMIT:
                problems.append(what)
            else:
                notes.append(what)
    if len(read) > partitions:
        problems.append(f"reads {len(read)} partitions of the versions table: {sorted(read)}")
    foreign = read - own
    if foreign:
        problems.append(f"reads the partitions of other tables than its own: {sorted(foreign)}")
    return problems, notes


def explain(sql: str | Callable[[], str], params=None) -> tuple[str, dict, float]:
    """(text plan, JSON plan, execution ms) of a statement, run (ANALYZE) in a transaction
    that is rolled back, JIT off as in the portal's heavy statements. `sql` may be a function
    that makes the statement inside that transaction."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        if callable(sql):
            sql = sql()
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        value = cursor.fetchone()[0]
        document = (json.loads(value) if isinstance(value, str) else value)[0]
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        text = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return text, document["Plan"], float(document.get("Execution Time", 0.0))


@dataclass
class PlanReport:
    name: str
    problems: list[str]
    notes: list[str]
    shown: str  # the heaviest query and its plan


def plan_pages(
    client,
    page_list: list[Page],
    large: Subject,
    sandbox,
    bases: frozenset[int] = frozenset(),
    partitions: int = 1,
) -> list[PlanReport]:
    """The plans of each page's queries on the versions; `bases`: the tables the subject's
    restored tables read from (and may read, `partitions` partitions per query)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from environments import store

    sandbox_tables = {t.pk for t in store.current(sandbox).tables()}
    reports = []
    for page in page_list:
        request = page.request(large)
        with CaptureQueriesContext(connection) as captured:
            send(client, request)
        own = {large.table.pk} if page.scope == "table" else large.table_ids | sandbox_tables
        own |= bases
        problems: list[str] = []
        notes: list[str] = []
        selects = [
            q["sql"]
            for q in captured.captured_queries
            if q["sql"].lstrip().upper().startswith("SELECT")
        ]
        on_versions = [sql for sql in selects if versions_table() in sql]
        heaviest: tuple[float, str, str] | None = None
        for sql in on_versions or selects:
            text, plan, ms = explain(sql)
            if on_versions:
                found, noted = check_plan(plan, own, page=True, partitions=partitions)
                problems += found
                notes += noted
            if heaviest is None or ms > heaviest[0]:
                heaviest = (ms, sql, text)
        reads_versions = len(on_versions)
        if heaviest is None:
            shown = "(no SELECT)"
        else:
            what = "its heaviest query on the versions" if reads_versions else "its heaviest query"
            shown = f"{what}:\n{heaviest[1]}\n\n{heaviest[2]}"
        notes.insert(
            0, f"{len(captured.captured_queries)} queries, {reads_versions} on the versions"
        )
        reports.append(PlanReport(page.name, problems, notes, shown))
    return reports


def plan_copy(large: Subject) -> list[PlanReport]:
    """The restore's copy of the large environment's first table for a restore of the latest
    moment: the whole statement as the engine runs it (JIT off, into a new table's own bare
    partition; rolled back), and its SELECT alone."""
    from django.db.models import Max
    from django.utils import timezone

    from environments import generations, layout
    from environments.models import DataTable

    now = timezone.now()
    new_table = (DataTable.objects.aggregate(n=Max("pk"))["n"] or 0) + 1000
    _, select_params = generations.copy_rows_sql("t", large.table, now)
    params = [new_table, now, *select_params]
    name = f"restore copy of {large.table.display_name} ({large.table.live_rows:,} rows)"
    text, plan, _ = explain(
        lambda: generations.copy_rows_sql(layout.Loader().target(new_table), large.table, now)[0],
        params,
    )
    problems, notes = check_plan(plan, {large.table.pk}, page=False)
    statement, _ = generations.copy_rows_sql(
        f'"{layout.partition_name(new_table)}"', large.table, now
    )
    reports = [
        PlanReport(f"{name}, as the engine runs it", problems, notes, f"{statement}\n\n{text}")
    ]
    start = statement.find("SELECT %s, ")
    if start < 0:
        reports.append(PlanReport(f"{name}: its SELECT", ["no SELECT found"], [], statement))
        return reports
    end = statement.find(" RETURNING ", start)  # PostgreSQL: the figures come back
    select = statement[start : end if end > 0 else len(statement)]
    text, plan, _ = explain(select, params)
    problems, notes = check_plan(plan, {large.table.pk}, page=False)
    if "Parallel" in text:
        notes.append("alone, the SELECT gets a parallel plan, which the INSERT never uses")
    reports.append(PlanReport(f"{name}: its SELECT alone", problems, notes, text))
    return reports


# -- the load ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(args, static_root: Path) -> dict:
    env = dict(os.environ)
    if args.conn_max_age is not None:
        env["DB_CONN_MAX_AGE"] = str(args.conn_max_age)
    return {
        **env,
        "DEBUG": "false",
        "SECRET_KEY": os.environ["SECRET_KEY"],  # the one the sessions are signed with
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database_url,
        "STATIC_ROOT": str(static_root),
        "TASKS_BACKEND": "default",
        # The build recorded a purge: none may start while the load runs.
        "PURGE_INTERVAL_SECONDS": str(10 * 365 * 86400),
    }


def wait_for(predicate, timeout: float, what: str, process: builders.Process | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise BenchFailure(f"{process.name} exited: {process.output()[-3000:]}")
        if value := predicate():
            return value
        time.sleep(0.05)
    raise BenchFailure(f"timed out after {timeout:.0f} s waiting for {what}")


def answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/login/")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def sessions(admin, count: int) -> list[str]:
    """Signed-in sessions of the admin, made server-side (as a sign-in would make them)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for _ in range(count):
        session = store()
        session[SESSION_KEY] = admin._meta.pk.value_to_string(admin)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = admin.get_session_auth_hash()
        session.save()
        keys.append(session.session_key)
    return keys


@dataclass
class Sample:
    page: str
    started: float
    ms: float
    status: int  # 0: no answer
    error: str = ""
    timeout: bool = False


def one_request(port: int, cookie: str, csrf: str, name: str, request: Request) -> Sample:
    headers = {"Cookie": cookie, **request.headers}
    body = None
    if request.method == "POST":
        body = urlencode(request.form or {})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["X-CSRFToken"] = csrf
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
        try:
            conn.request(request.method, request.path, body, headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        finally:
            conn.close()
    except TimeoutError:
        ms = (time.perf_counter() - started) * 1000
        return Sample(name, started, ms, 0, "timeout", timeout=True)
    except (OSError, http.client.HTTPException) as exc:
        ms = (time.perf_counter() - started) * 1000
        return Sample(name, started, ms, 0, f"{exc.__class__.__name__}: {exc}")
    ms = (time.perf_counter() - started) * 1000
    return Sample(name, started, ms, status, "" if status == 200 else f"HTTP {status}")


def drive(port: int, mix: list[tuple[str, Request]], keys: list[str], stop: Callable[[], bool]):
    """One thread per session, each over the whole mix, shuffled, again and again."""
    from django.utils.crypto import get_random_string

    samples: list[Sample] = []
    lock = threading.Lock()

    def client(number: int, key: str) -> None:
        rng = random.Random(number)
        csrf = get_random_string(32)
        cookie = f"sessionid={key}; csrftoken={csrf}"
        mine = []
        while not stop():
            order = mix[:]
            rng.shuffle(order)
            for name, request in order:
                if stop():
                    break
                mine.append(one_request(port, cookie, csrf, name, request))
        with lock:
            samples.extend(mine)

    threads = [
        threading.Thread(target=client, args=(i, key), name=f"client-{i}")
        for i, key in enumerate(keys)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def machine_cpu() -> tuple[int, int]:
    """(busy, all) CPU jiffies of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


@dataclass
class Cpu:
    """What a phase of load cost: gunicorn's CPU per request, and how busy the machine was
    (every process: the portal, PostgreSQL, this client, anything else running)."""

    gunicorn_ms_per_request: float
    client_ms_per_request: float
    machine_busy: float


class CpuMeter:
    def __init__(self, master_pid: int):
        self.pids = children(master_pid)
        self.gunicorn = cpu_seconds(self.pids)
        self.client = cpu_seconds([os.getpid()])
        self.machine = machine_cpu()

    def stop(self, requests: int) -> Cpu:
        gunicorn = cpu_seconds(self.pids) - self.gunicorn
        client = cpu_seconds([os.getpid()]) - self.client
        busy, total = (a - b for a, b in zip(machine_cpu(), self.machine, strict=True))
        per = 1000 / max(requests, 1)
        return Cpu(gunicorn * per, client * per, busy / total if total else 0.0)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def machine_load() -> str:
    """The machine's 1-minute load average (2 cores: above 2, something waits for a CPU)."""
    return f"{os.getloadavg()[0]:.1f}"


@dataclass
class LoadResult:
    label: str
    samples: list[Sample]
    seconds: float
    cpu: Cpu | None = None
    load_average: str = field(default_factory=machine_load)  # at the end of the phase

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if s.error and not s.timeout]

    @property
    def timeouts(self) -> list[Sample]:
        return [s for s in self.samples if s.timeout]

    def p(self, fraction: float, page: str | None = None) -> float:
        return percentile([s.ms for s in self.samples if page is None or s.page == page], fraction)


def load_table(results: list[LoadResult]) -> str:
    lines = [
        "| load | requests | requests/s | errors | timeouts | p50 | p95 | p99 | max "
        "| CPU per request: gunicorn | this client | machine CPU busy "
        "| load average at the end |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {len(r.samples):,} | {len(r.samples) / r.seconds:.1f} "
            f"| {len(r.errors)} | {len(r.timeouts)} | {r.p(0.5):.0f} ms | {r.p(0.95):.0f} ms "
            f"| {r.p(0.99):.0f} ms | {max((s.ms for s in r.samples), default=0):.0f} ms "
            f"| {r.cpu.gunicorn_ms_per_request:.1f} ms | {r.cpu.client_ms_per_request:.1f} ms "
            f"| {r.cpu.machine_busy:.0%} "
            f"| {r.load_average} |"
        )
    return "\n".join(lines)


def ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0f} ms"


def load_pages_table(results: list[LoadResult], names: list[str]) -> str:
    head = " | ".join(f"{r.label}: p50 | p95" for r in results)
    lines = [f"| page | {head} |", "|---|" + "---:|" * (2 * len(results))]
    for name in names:
        cells = " | ".join(f"{ms(r.p(0.5, name))} | {ms(r.p(0.95, name))}" for r in results)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def run_load(args, admin, page_list, large: Subject, small: Subject, log_dir: Path) -> tuple:
    """(load results, restore summary, failures)"""
    from django.db import connections
    from django.utils import timezone

    from backups import restores
    from backups.models import RestoreOperation
    from environments.models import Environment

    failures: list[str] = []
    static_root = log_dir / "static"
    env = server_env(args, static_root)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    log(f"  static files collected in {time.perf_counter() - t0:.1f} s")
    port = free_port()
    processes: list[builders.Process] = []
    try:
        worker = builders.Process(
            "worker", [sys.executable, "manage.py", "worker", "--no-reload"], env, log_dir
        )
        processes.append(worker)
        server = builders.Process(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "portal/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "portal.wsgi",
            ],
            env,
            log_dir,
        )
        processes.append(server)
        wait_for(lambda: "Starting worker" in worker.output(), 60, "the worker", worker)
        wait_for(lambda: answers(port), 60, "gunicorn", server)
        keys = sessions(admin, args.clients)
        mix = [(p.name, p.request(large)) for p in page_list]
        mix += [(p.name, p.request(small)) for p in page_list if not p.shared]
        # Every page answers 200 through gunicorn before the clock starts.
        for name, request in mix:
            sample = one_request(
                port, f"sessionid={keys[0]}; csrftoken={'x' * 32}", "x" * 32, name, request
            )
            if sample.status != 200:
                raise BenchFailure(f"{name}: {request.method} {request.path} gave {sample.error}")

        # One client first: the time of each request through gunicorn with nobody waiting.
        alone = min(args.duration / 4, 15.0)
        log(f"  one client for {alone:.0f} s")
        deadline = time.monotonic() + alone
        meter = CpuMeter(server.process.pid)
        samples, seconds = drive(port, mix, keys[:1], lambda: time.monotonic() > deadline)
        single = LoadResult("one client (reference)", samples, seconds, meter.stop(len(samples)))

        log(f"  load: {args.clients} clients for {args.duration:.0f} s")
        deadline = time.monotonic() + args.duration
        meter = CpuMeter(server.process.pid)
        samples, seconds = drive(port, mix, keys, lambda: time.monotonic() > deadline)
        steady = LoadResult(f"{args.clients} clients", samples, seconds, meter.stop(len(samples)))

        target = Environment.objects.get(slug=RESTORE_TARGET)
        op = restores.restore_start(
            restores.RestoreRequest(
                source=large.env,
                target=target,
                requested_by=admin,
                moment=timezone.now(),
                idempotency_key=f"scale-{uuid.uuid4().hex}",
            )
        )
        active = {RestoreOperation.Status.QUEUED, RestoreOperation.Status.RUNNING}

        def status() -> str:
            return RestoreOperation.objects.filter(pk=op.pk).values_list("status", flat=True)[0]

        wait_for(lambda: status() != RestoreOperation.Status.QUEUED, 120, "the restore", worker)
        log(f"  load while restore {op.pk} of {large.env.slug} runs")
        running_since = time.perf_counter()
        ended: list[float] = []
        deadline = time.monotonic() + args.duration

        def restore_over() -> bool:
            if time.monotonic() > deadline:
                return True
            if status() not in active:
                ended.append(time.perf_counter())
                return True
            return False

        # One thread watches the restore (its own connection) and flags its end for all.
        over = threading.Event()

        def watch() -> None:
            try:
                while not over.is_set():
                    if restore_over():
                        over.set()
                        return
                    time.sleep(0.05)
            finally:
                connections.close_all()

        watcher = threading.Thread(target=watch, name="restore-watcher")
        watcher.start()
        meter = CpuMeter(server.process.pid)
        samples, seconds = drive(port, mix, keys, over.is_set)
        cpu = meter.stop(len(samples))
        over.set()
        watcher.join()
        end = ended[0] if ended else time.perf_counter()
        during = LoadResult(
            "during the restore", [s for s in samples if s.started < end], end - running_since, cpu
        )
        wait_for(lambda: status() not in active, 3600, "the restore to end", worker)
        op.refresh_from_db()
        if op.status != RestoreOperation.Status.SUCCEEDED:
            failures.append(f"restore {op.pk} ended {op.status}: {op.error}")
        took = (op.finished_at - op.started_at).total_seconds() if op.finished_at else None
        restore_summary = (
            f"restore {op.pk}: {op.rows_copied:,} rows in {op.tables_done} tables, "
            f"{op.status}, {took:.1f} s from start to commit in the worker"
            if took is not None
            else f"restore {op.pk}: {op.status}"
        )
        if not ended:
            restore_summary += f" (the load stopped after {args.duration:.0f} s, before its end)"
        # Then a process flattens the restored environment (all its rows) under the same load.
        log(f"  load while another process flattens {RESTORE_TARGET}")
        flattener = builders.Process(
            "flatten",
            [sys.executable, "manage.py", "shell", "-c", FLATTEN_CODE.format(slug=RESTORE_TARGET)],
            env,
            log_dir,
        )
        processes.append(flattener)
        deadline = time.monotonic() + args.duration
        meter = CpuMeter(server.process.pid)
        samples, seconds = drive(
            port, mix, keys, lambda: not flattener.alive() or time.monotonic() > deadline
        )
        flattening = LoadResult("during flattening", samples, seconds, meter.stop(len(samples)))
        if flattener.alive():
            restore_summary += f"; the flattening outlasted the {args.duration:.0f} s of load"
            try:  # its figure still counts: wait for it (a slow machine), within reason
                flattener.process.wait(timeout=FLATTEN_WAIT)
            except subprocess.TimeoutExpired:
                failures.append(f"the flattening did not end within {FLATTEN_WAIT} s more")
        if not flattener.alive():
            restore_summary += f"; then {flattener.output().strip().splitlines()[-1]}"
            if flattener.process.returncode != 0:
                failures.append(f"the flattening ended {flattener.process.returncode}")
        results = [single, steady, during, flattening]
        for result in results:
            for sample in result.errors[:5] + result.timeouts[:5]:
                failures.append(f"{result.label}: {sample.page}: {sample.error}")
            if result.errors or result.timeouts:
                failures.append(
                    f"{result.label}: {len(result.errors)} errors, {len(result.timeouts)} timeouts"
                )
        return results, restore_summary, failures
    finally:
        for process in reversed(processes):
            process.stop()
        if failures or any(p.process.returncode not in (0, -15, None) for p in processes):
            for process in processes:
                log(f"--- {process.name} (last lines) ---\n{process.output()[-2000:]}")
        shutil.rmtree(static_root, ignore_errors=True)


FLATTEN_CODE = """
from bench.scale import flatten_environment
took, rows = flatten_environment({slug!r})
print(f"flattened {{rows:,}} rows in {{took:.1f}} s ({{rows / took:,.0f}} rows/s)")
"""


# -- lineage: a restored (branched) environment against its flattened self --------------------


def make_branch(large: Subject, admin, slug: str) -> tuple[float, int]:
    """Restore the large environment into a new sandbox, in-process, and change CHANGED_SHARE of
    its browsed table's rows there (through the store, 1,000 per transaction). Returns the
    restore's seconds (request to committed) and the rows changed."""
    from django.utils import timezone

    from backups import engine, restores
    from environments import services, store

    drop_environment(slug)
    env = services.environment_insert(
        name=slug.replace("-", " ").capitalize(),
        slug=slug,
        type="sandbox",
        region=REGION,
        created_by=admin,
        created_at=timezone.now() - datetime.timedelta(days=1),
    )
    started = time.perf_counter()
    op = restores.restore_start(
        restores.RestoreRequest(
            source=large.env,
            target=env,
            requested_by=admin,
            moment=timezone.now(),
            idempotency_key=f"scale-{uuid.uuid4().hex}",
        )
    )
    if engine.restore_run(op.pk) != "succeeded":
        raise BenchFailure(f"the restore into {slug} failed")
    took = time.perf_counter() - started
    env.refresh_from_db()
    table = store.current(env).table(large.table.name)
    step = round(1 / CHANGED_SHARE)
    keys = [f"{n:08d}" for n in range(1, table.live_rows + 1, step)]
    for at in range(0, len(keys), 1000):
        with store.changes(env) as cs:
            for key in keys[at : at + 1000]:
                row = cs._current_version(table, key)
                cs.update_row(table, key, {**row.values, "status": "Changed on the branch"})
    return took, len(keys)


def flatten_environment(slug: str) -> tuple[float, int]:
    """Flatten every table of the environment; returns (seconds, rows made its own)."""
    from environments import flatten, store
    from environments.models import DataTable, Environment

    tables = list(store.current(Environment.objects.get(slug=slug)).tables())
    started = time.perf_counter()
    for table in tables:
        flatten.flatten(table.pk)
    took = time.perf_counter() - started
    rows = sum(
        DataTable.objects.filter(pk__in=[t.pk for t in tables]).values_list(
            "flattened_rows", flat=True
        )
    )
    return took, rows


def time_lineage(
    client, page_list: list[Page], large: Subject, sandbox, admin, args, failures
) -> list:
    """Section 5: returns the targets missed."""
    log("lineage: the large environment restored twice, 1% changed on each, one flattened")
    took, changed = make_branch(large, admin, BRANCH)
    log(f"  restored in {took * 1000:.0f} ms; {changed:,} rows changed on the branch")
    make_branch(large, admin, FLATTENED)
    seconds, rows = flatten_environment(FLATTENED)
    log(f"  flattened {rows:,} rows in {seconds:.1f} s")
    builders.vacuum_analyze()  # what autovacuum does after those writes, before timing
    mine = [p for p in page_list if not p.shared]
    branch = subject("branch", BRANCH, large.moment)
    flat = subject("flattened", FLATTENED, large.moment)
    results = time_pages(client, mine, branch, flat, args, failures)  # in turns
    bases = frozenset(
        branch.env.generations.get(valid_to__isnull=True).tables.values_list("base_id", flat=True)
    )
    reports = plan_pages(client, mine, branch, sandbox, bases, partitions=2)
    bad = [r for r in reports if r.problems]
    for report in bad:
        failures.append(f"plan on the branch: {report.name}: {'; '.join(report.problems)}")
        print(f"### Plan on the branch: {report.name}: FAILED\n\n```\n{report.shown}\n```\n")
    table, missed = timing_table(results, ("branch", "flattened"), BRANCH_RATIO, "branch: ")
    print(
        f"## A restored environment (branch) against a flattened copy\n\n"
        f"The large environment restored into a new sandbox in {took * 1000:.0f} ms (request "
        f"to committed, in-process), then {changed:,} rows ({CHANGED_SHARE:.0%} of the browsed "
        f"table) updated there; the same into a second sandbox, flattened: {rows:,} rows in "
        f"{seconds:.1f} s ({rows / seconds:,.0f} rows/s). The two timed in turns. Target: each "
        f"page on the branch within {BRANCH_RATIO}x of the flattened one and under "
        f"{PAGE_MS:.0f} ms. Plans on the branch (its own partition and its base's): "
        f"{'passed' if not bad else f'FAILED ({len(bad)})'}.\n\n{table}\n",
        flush=True,
    )
    drop_environment(BRANCH)
    drop_environment(FLATTENED)
    return missed


# -- the run -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    # One key for this process and the servers it starts: the sessions made here are theirs.
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    builders.setup_django(args.database_url)
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from environments.models import Environment
    from portal.models import ApiToken, User
    from portal.tokens import token_create

    admin, _ = User.objects.get_or_create(
        username="scale-admin", defaults={"tenant_role": User.TenantRole.GLOBAL_ADMIN}
    )
    if args.reuse and built_already(args.rows):
        log("the data is there (--reuse)")
    else:
        log(f"building the store: {args.rows:,} rows in the large environment")
        build(args.rows, admin)
    sandbox = Environment.objects.get(slug=SANDBOX)
    failures: list[str] = []
    try:
        target = fresh_restore_target(admin)
        operation = finished_restore(sandbox, target, admin)
        ApiToken.objects.filter(user=admin).delete()
        token = token_create(user=admin, name="bench/scale.py")[1]
        moment = timezone.now() - datetime.timedelta(days=13, minutes=7)
        large, small = subject("large", LARGE, moment), subject("small", SMALL, moment)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {versions_table()}")
            in_store = cursor.fetchone()[0]
        page_list = pages(sandbox, operation, token)
        client = Client()
        client.force_login(admin)

        log("timing the pages")
        results = time_pages(client, page_list, large, small, args, failures)
        table, missed = timing_table(results)
        print(
            f"## Server time of each page (in-process, median and p95 of {args.repeat} runs "
            f"after {args.warmups} warm-ups)\n\n"
            f"Large: {current_rows(LARGE):,} current rows ({large.table.live_rows:,} in the "
            f"browsed table); small: {current_rows(SMALL):,}; {in_store:,} versions in the "
            f"store. Target: under {PAGE_MS:.0f} ms on the large environment, large / small "
            f"under {RATIO}x. Load average (1 min) before: {machine_load()}.\n\n{table}\n",
            flush=True,
        )

        log("explaining the queries on the versions")
        reports = [*plan_pages(client, page_list, large, sandbox), *plan_copy(large)]
        print("## Plans (EXPLAIN ANALYZE, BUFFERS; large environment)\n")
        bad = 0
        for report in reports:
            verdict = "FAILED: " + "; ".join(report.problems) if report.problems else "ok"
            bad += bool(report.problems)
            print(f"### {report.name}: {verdict}\n")
            for note in report.notes:
                print(f"- {note}")
            print(f"\n```\n{report.shown}\n```\n")
        if bad:
            failures.append(f"plan check: {bad} plan(s) failed")
            print(f"Plan check: FAILED ({bad} of {len(reports)})\n", flush=True)
        else:
            print(f"Plan check: passed ({len(page_list)} pages and the restore copy)\n", flush=True)

        missed += time_lineage(client, page_list, large, sandbox, admin, args, failures)

        if not args.no_load:
            log("serving with gunicorn")
            with tempfile.TemporaryDirectory(prefix="scale-") as log_dir:
                loads, restore_summary, load_failures = run_load(
                    args, admin, page_list, large, small, Path(log_dir)
                )
            failures += load_failures
            _, steady, during, flattening = loads
            ratio = during.p(0.95) / steady.p(0.95)
            flatten_ratio = flattening.p(0.95) / steady.p(0.95)
            p95_ok = steady.p(0.95) < LOAD_P95_MS and not steady.errors and not steady.timeouts
            ratio_ok = ratio <= DURING_RESTORE and not during.errors and not during.timeouts
            if not p95_ok:
                missed.append("load: p95")
            if not ratio_ok:
                missed.append("load during the restore: p95 ratio")
            print(
                f"## Load: {args.clients} signed-in clients, gunicorn with {args.workers} "
                f"workers, {args.duration:.0f} s\n\n{load_table(loads)}\n\n"
                f"{restore_summary}.\n\n"
                f"p95 under {LOAD_P95_MS:.0f} ms, no errors: {'yes' if p95_ok else 'no'}; "
                f"during the restore p95 {ratio:.2f}x of steady (at most {DURING_RESTORE}x): "
                f"{'yes' if ratio_ok else 'no'}; during flattening p95 {flatten_ratio:.2f}x of "
                f"steady\n\n"
                f"{load_pages_table(loads, [p.name for p in page_list])}\n",
                flush=True,
            )
    finally:
        drop_environment(RESTORE_TARGET)
        drop_environment(BRANCH)
        drop_environment(FLATTENED)
    if missed:
        print(f"Targets missed: {', '.join(missed)}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    if failures:
        return 1
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
