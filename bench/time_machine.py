"""The time machine at real sizes, on PostgreSQL (issue 22; not a test).

    .venv/bin/python bench/time_machine.py                 # 1,000,000 rows (4,000,000 versions)
    .venv/bin/python bench/time_machine.py --rows 20000 --runs 3     # the suite's small run

In a database of its own (default envportal_timemachine):

1. builds a production source of --rows current rows in 10 tables, three older versions a row,
   and one other environment of the same size (bench/builders.py): a store of 2 x 4 x --rows
   versions; restores the source into a sandbox (its tables are branches of the source's);
2. the Changes page (environments.changelog): its per-table counts and its first page, for a
   range holding ~100 changes and one holding ~100,000, on the source and on the restored
   sandbox; timed in-process (the reads alone) and through the page (Django's test client,
   the whole view and template), median of --runs, interleaved; and the plan of each
   statement of one table's first page, which must read index ranges, never a partition whole;
3. putting rows back (backups.put_backs, the worker's code run in-process): 10,000 chosen
   rows after a bulk edit of them; a whole table of --rows/10 rows; and every row a filter
   matches after a bulk edit of a whole table (100,000 rows at 1,000,000), each timed from
   the worker picking it up to its commit, then undone (timed too).

Prints Markdown tables (docs/benchmarks.md keeps the figures).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders  # noqa: E402
from bench.builders import log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/envportal_timemachine"
TABLES = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="current rows of the source")
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each read (median)")
    parser.add_argument("--put-back-runs", type=int, default=3, help="runs of each put-back")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if args.rows < 1000 or args.runs < 1 or args.put_back_runs < 1:
        parser.error("--rows at least 1000; --runs and --put-back-runs positive")
    return args


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


# -- ranges -------------------------------------------------------------------------------------


def range_holding(env, changes: int) -> tuple[datetime.datetime, datetime.datetime]:
    """The latest range of the environment's history that holds about `changes` changes:
    from a write batch back until the batches' changes add up (the builder's history ends a
    few minutes before the bench starts)."""
    from environments.models import ChangeBatch

    batches = (
        ChangeBatch.objects.filter(environment=env).order_by("-at").values_list("at", "changes")
    )
    total, end, start = 0, None, None
    for at, n in batches.iterator(chunk_size=2000):
        end = end or at
        total += n
        start = at
        if total >= changes:
            break
    return start - datetime.timedelta(microseconds=1), end


# -- browsing as of a moment ---------------------------------------------------------------------


def as_of_pages(env, moment, client) -> dict[str, str]:
    """The data browser's URLs for one environment at `moment` (None: now): the tables, a
    table's first page, a deep page, a search for one row's title, and one row with its
    history."""
    from urllib.parse import urlencode

    from django.urls import reverse

    from environments import store

    snapshot = store.current(env) if moment is None else store.as_of(env, moment)
    table = snapshot.tables().order_by("name").first()
    rows = snapshot.rows(table)
    deep = list(rows.order_by("-key")[:40])[-1]
    at = {"at": moment.isoformat()} if moment else {}

    def url(name: str, query: dict | None = None, **kwargs) -> str:
        path = reverse(name, kwargs={"slug": env.slug, **kwargs})
        query = {**(query or {}), **at}
        return f"{path}?{urlencode(query)}" if query else path

    return {
        "tables": url("environments:tables"),
        "rows, page 1": url("environments:rows", table=table.name),
        "deep page": url("environments:rows", {"after": deep.key}, table=table.name),
        "search": url("environments:rows", {"q": deep.title}, table=table.name),
        "one row and its history": url("environments:row", table=table.name, key=deep.key),
    }


def time_as_of(subjects: list[tuple[str, object, list]], runs: int, client) -> list[list[str]]:
    """Median time of each page, per environment and moment (now first), interleaved; and the
    ratio of each moment's page to the same page now."""
    cases = []
    for label, env, moments in subjects:
        for name, moment in [("now", None), *moments]:
            cases.append((label, name, as_of_pages(env, moment, client)))
    samples: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(runs):
        for label, name, urls in cases:
            for page, url in urls.items():
                t0 = time.perf_counter()
                response = client.get(url)
                samples.setdefault((label, name, page), []).append(time.perf_counter() - t0)
                assert response.status_code == 200, (url, response.status_code)
    rows = []
    for label, name, urls in cases:
        for page in urls:
            taken = statistics.median(samples[(label, name, page)])
            now = statistics.median(samples[(label, "now", page)])
            rows.append(
                [
                    label,
                    name,
                    page,
                    f"{taken * 1000:.1f} ms",
                    f"{taken / now:.2f}x" if name != "now" else "",
                ]
            )
    return rows


# -- the Changes page ---------------------------------------------------------------------------


def time_changes(cases: list[tuple[str, object, tuple]], runs: int, client) -> list[list[str]]:
    """Per case: the counts and the first page in-process, and the page through the view."""
    from django.urls import reverse

    from environments import changelog

    samples: dict[str, dict[str, list[float]]] = {label: {} for label, _, _ in cases}
    found: dict[str, tuple[int, int]] = {}
    for _ in range(runs):
        for label, env, (start, end) in cases:  # interleaved
            span = changelog.Span(start, end)
            t0 = time.perf_counter()
            counts = changelog.counts(env, span)
            t1 = time.perf_counter()
            page = changelog.page(env, span)
            t2 = time.perf_counter()
            url = reverse("backups:changes", args=[env.slug])
            response = client.get(url, {"start": start.isoformat(), "end": end.isoformat()})
            t3 = time.perf_counter()
            assert response.status_code == 200, response.status_code
            samples[label].setdefault("counts", []).append(t1 - t0)
            samples[label].setdefault("page", []).append(t2 - t1)
            samples[label].setdefault("view", []).append(t3 - t2)
            found[label] = (sum(c.total for c in counts), len(page.changes))
    return [
        [
            label,
            f"{found[label][0]:,}",
            median_ms(samples[label]["counts"]),
            median_ms(samples[label]["page"]),
            median_ms(samples[label]["view"]),
        ]
        for label, _, _ in cases
    ]


def plans(env, span_bounds) -> list[list[str]]:
    """EXPLAIN (ANALYZE) of one table's first-page statements: what each reads."""
    from django.db import connection

    from environments import changelog

    span = changelog.Span(*span_bounds)
    table = changelog.tables_in(env, span)[0]
    rows = []
    for part, params in changelog._Sql(table).parts(env, span, changelog.Filters()):
        sql = f"SELECT c.key, c.at FROM ({part}) c ORDER BY c.at DESC, c.key LIMIT 51"
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        scans = sorted({node for node in _scans(plan[0]["Plan"])})
        whole = [s for s in scans if s.startswith("Seq Scan")]
        rows.append(
            [
                "starts" if "valid_from AS at" in part else "ends",
                ", ".join(scans),
                f"{plan[0]['Execution Time']:.1f} ms",
                "reads a partition whole" if whole else "index ranges only",
            ]
        )
        if whole:
            raise SystemExit(f"The changes of {table} read a partition whole: {scans}")
    return rows


def _scans(node: dict):
    if "Scan" in node["Node Type"]:
        index = node.get("Index Name", "")
        yield f"{node['Node Type']} on {node.get('Relation Name', '?')}" + (
            f" ({index})" if index else ""
        )
    for child in node.get("Plans", []):
        yield from _scans(child)


# -- putting rows back --------------------------------------------------------------------------


def bulk_edit(env, table_name: str, keys: list[str], by) -> datetime.datetime:
    """One write transaction that changes every row of `keys` (to a status no earlier edit
    gave them); returns the moment before it."""
    from environments import store

    before = store.next_timestamp(env) - datetime.timedelta(microseconds=1)
    with store.changes(env, by=by) as cs:
        table = cs.table(table_name)
        current = {v.key: v.values for v in store.table_rows(table, None).filter(key__in=keys)}
        status = f"bulk-edited at {cs.ts.isoformat()}"
        wanted = {k: {**current[k], "status": status} for k in keys if k in current}
        cs.put_back(table, wanted)  # the set-based write: a bulk edit of these rows
    return before


def run_put_back(request) -> tuple[float, object]:
    """Start a put-back and run the worker's part in-process; seconds from the worker picking
    it up to its commit, and the operation."""
    from backups import engine, put_backs

    op = put_backs.put_back_start(request)
    t0 = time.perf_counter()
    status = engine.restore_run(op.pk)
    seconds = time.perf_counter() - t0
    op.refresh_from_db()
    assert status == "succeeded", op.error
    return seconds, op


def run_undo(op, admin) -> float:
    from backups import engine, put_backs

    undo = put_backs.put_back_undo(operation=op, actor=admin, keep_newer=False)
    t0 = time.perf_counter()
    status = engine.restore_run(undo.pk)
    seconds = time.perf_counter() - t0
    assert status == "succeeded", undo
    return seconds


def time_put_backs(source, admin, runs: int, rows: int) -> list[list[str]]:
    from backups.put_back_engine import PutBackRequest, Selection
    from environments import store
    from environments.changelog import Filters, Span
    from environments.models import ChangeBatch

    editor = store.Author.person(admin, via=ChangeBatch.Via.API)
    per_table = rows // TABLES
    chosen = min(10_000, per_table)
    results = []
    cases = [
        (f"{chosen:,} chosen rows", "table_00", chosen),
        (f"a whole table ({per_table:,} rows)", "table_01", per_table),
        (f"every row a filter matches ({per_table:,})", "table_02", per_table),
    ]
    for label, table, how_many in cases:
        times, undos, changed = [], [], 0
        for _ in range(runs):
            live = store.current(source)
            rows_now = live.rows(live.table(table)).order_by("key")[:how_many]
            keys = [v.key for v in rows_now]
            before = bulk_edit(source, table, keys, editor)
            source.refresh_from_db()
            after = source.last_change_at
            if table == "table_00":
                selection = Selection(table=table, keys=tuple(keys))
            elif table == "table_01":
                selection = Selection(table=table, whole=True)
            else:
                selection = Selection(
                    table=table,
                    span=Span(before, after),
                    filters=Filters(table=table, who=admin.username),
                )
            seconds, op = run_put_back(
                PutBackRequest(
                    environment=source, requested_by=admin, selection=selection, moment=before
                )
            )
            times.append(seconds)
            changed = op.rows_copied
            undos.append(run_undo(op, admin))
            source.refresh_from_db()
        results.append(
            [
                label,
                f"{changed:,}",
                f"{statistics.median(times):.2f} s",
                f"{statistics.median(undos):.2f} s",
            ]
        )
    return results


# -- the run ------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    builders.setup_django(args.database_url)
    from django.test import Client

    from backups import engine, restores
    from environments import store
    from environments.models import ChangeBatch
    from portal.models import User

    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"tenant_role": User.TenantRole.GLOBAL_ADMIN}
    )
    log(f"building the store: {args.rows:,} rows in {TABLES} tables, and one more environment")
    built = builders.build_store(rows=args.rows, tables=TABLES, other_environments=1, admin=admin)
    source, target = built.source, built.target
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=built.moment, requested_by=admin
        )
    )
    assert engine.restore_run(op.pk) == "succeeded"
    target.refresh_from_db()
    client = Client()
    client.force_login(admin)
    small, large = range_holding(source, 100), range_holding(source, 100_000)
    # The restored sandbox: 100 of its rows (read from the source) changed since the restore.
    edited = bulk_edit(
        target,
        "table_00",
        [f"{n:08d}" for n in range(1, 101)],
        store.Author.person(admin, via=ChangeBatch.Via.API),
    )
    target.refresh_from_db()
    log("the Changes page")
    changes = time_changes(
        [
            ("source, ~100 changes", source, small),
            ("source, ~100,000 changes", source, large),
            ("restored sandbox, 100 changes", target, (edited, target.last_change_at)),
        ],
        args.runs,
        client,
    )
    plan_rows = plans(source, large)
    log("browsing as of a moment")
    now = built.moment
    as_of = time_as_of(
        [
            (
                "source",
                source,
                [
                    ("1 hour back", now - datetime.timedelta(hours=1)),
                    ("7 days back", now - datetime.timedelta(days=7)),
                    ("26 days back", now - datetime.timedelta(days=26)),
                ],
            ),
            ("restored sandbox", target, [("just after the restore", edited)]),
        ],
        args.runs,
        client,
    )
    log("putting rows back")
    put_back_rows = time_put_backs(source, admin, args.put_back_runs, args.rows)
    print(f"# The time machine at {args.rows:,} rows ({8 * args.rows:,} versions in the store)\n")
    print(f"## The Changes page: counts and first page (median of {args.runs}, interleaved)\n")
    print(table(["range", "changes in it", "counts", "first page", "whole page (view)"], changes))
    print(f"\n## Browsing as of a moment (median of {args.runs}, interleaved)\n")
    print(table(["environment", "moment", "page", "time", "against now"], as_of))
    print("\n## Plans of one table's first page (the ~100,000-change range)\n")
    print(table(["part", "scans", "time", "verdict"], plan_rows))
    print(
        f"\n## Putting rows back (median of {args.put_back_runs}; the worker's part, in-process)\n"
    )
    print(table(["what", "rows changed", "put back", "undo"], put_back_rows))


if __name__ == "__main__":
    main()
