"""A flattening chunk and a branch's first page with autovacuum off, on PostgreSQL (issue 19;
not a test).

    .venv/bin/python bench/flatten.py                     # 200,000 rows, 10,000-row chunks
    .venv/bin/python bench/flatten.py --rows 2000 --chunk 200 --chunks 2   # the suite's run

In a database of its own (default envportal_flatten), with autovacuum off for every partition
the run makes whatever the server's setting (as on CI and many servers under bulk loads):

1. builds a production source of --rows current rows in one table, three older versions a row
   (bench/builders.py; then vacuumed and analysed, as a server that has been up a while);
2. restores it into a sandbox, that one into another, and so on until a table three layers
   deep (lineage.MAX_DEPTH), which a restore copies: the copy is a partition filled in bulk;
3. over that copy, a branch three layers deep again (three restores, no row copied);
4. times the branch's first page (25 rows, as the data browser reads it) and its first --chunks
   flattening chunks of --chunk rows, each one transaction as housekeeping runs it, and how
   much of each the ANALYZE the store now runs took.

Steps 2-4 run twice, on fresh environments: first with the partitions never analysed (what the
store did before it analysed what it fills: `layout.analyse` made to do nothing), then as the
store does now (the copy analysed before its commit, each chunk that grows the branch by more
than a tenth analysed before its commit). The chunk times include that ANALYZE.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders  # noqa: E402
from bench.builders import log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/envportal_flatten"
PAGE_RUNS = 5
MODES = ("never analysed (before)", "analysed by what fills it (now)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="current rows of the source")
    parser.add_argument("--chunk", type=int, default=10_000, help="rows of a flattening chunk")
    parser.add_argument("--chunks", type=int, default=3, help="chunks timed in each mode")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    if args.rows < 10 or args.chunk < 1 or args.chunks < 1:
        parser.error("--rows at least 10; --chunk and --chunks positive")
    return args


def without_autovacuum() -> None:
    """Every partition made from now on is one autovacuum leaves alone."""
    from environments import layout

    create = layout._create

    def create_without_autovacuum(cursor, table_id: int) -> str:
        name = create(cursor, table_id)
        cursor.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = off)")
        return name

    layout._create = create_without_autovacuum


@contextmanager
def analysing(before: bool):
    """With `before`, the store analyses nothing it fills (as it did before issue 19); else it
    does, and the list yielded gets the seconds of each ANALYZE it runs."""
    from environments import layout

    analyse, spent = layout.analyse, []

    def timed(table_ids) -> None:
        started = time.perf_counter()
        analyse(table_ids)
        spent.append(time.perf_counter() - started)

    layout.analyse = (lambda table_ids: None) if before else timed
    try:
        yield spent
    finally:
        layout.analyse = analyse


def chain(source, admin, prefix: str, depth: int) -> tuple[list, float]:
    """`depth` sandboxes, each restored from the one before (the first from `source`); and the
    seconds the last restore took (the engine's run, in-process)."""
    from django.utils import timezone

    from backups import engine, restores
    from environments import services

    made, read = [], source
    for i in range(1, depth + 1):
        env = services.environment_insert(
            name=f"{prefix} {i}",
            slug=f"{prefix}-{i}",
            type="sandbox",
            region=source.region,
            created_by=admin,
            created_at=timezone.now() - datetime.timedelta(days=1),
        )
        op = restores.restore_start(
            restores.RestoreRequest(
                source=read,
                target=env,
                requested_by=admin,
                moment=restores.LATEST,
                idempotency_key=f"flatten-{uuid.uuid4().hex}",
            )
        )
        started = time.perf_counter()
        if engine.restore_run(op.pk) != "succeeded":
            op.refresh_from_db()
            sys.exit(f"the restore into {env.slug} failed: {op.error}")
        took = time.perf_counter() - started
        made.append(env)
        read = env
    return made, took


def measure(source, admin, prefix: str, args, spent: list[float]) -> dict:
    """Steps 2-4 of the docstring; returns the figures, each (seconds, of which ANALYZE)."""
    from environments import flatten, lineage, store

    deep, copying = chain(source, admin, f"{prefix}-deep", lineage.MAX_DEPTH + 1)
    copy = store.current(deep[-1]).tables().get()
    assert copy.depth == 0, "a restore from a table MAX_DEPTH deep copies it"
    copying = (copying, sum(spent))
    branch_env = chain(deep[-1], admin, f"{prefix}-branch", lineage.MAX_DEPTH)[0][-1]
    branch = store.current(branch_env).tables().get()
    assert branch.depth == lineage.MAX_DEPTH

    pages = []
    for _ in range(PAGE_RUNS):
        started = time.perf_counter()
        shown = list(store.current(branch_env).rows(branch).only("key", "values")[:25])
        pages.append(time.perf_counter() - started)
    chunks = []
    for i in range(args.chunks):
        spent.clear()
        started = time.perf_counter()
        flat = flatten.flatten_chunk(branch.pk, rows=args.chunk)
        chunks.append((time.perf_counter() - started, sum(spent)))
        log(f"  {prefix}: chunk {i + 1} in {chunks[-1][0]:.2f} s")
        if flat:
            break
    return {
        "copy": copying,
        "page": statistics.median(pages),
        "shown": len(shown),
        "chunks": chunks,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    builders.setup_django(args.database_url)
    from portal.models import User

    without_autovacuum()
    admin, _ = User.objects.get_or_create(
        username="flatten-admin", defaults={"tenant_role": User.TenantRole.GLOBAL_ADMIN}
    )
    log(f"building the source: {args.rows:,} rows in one table")
    built = builders.build_store(
        rows=args.rows, tables=1, other_environments=0, admin=admin, prefix="flatten"
    )
    results = {}
    for mode, before in zip(MODES, (True, False), strict=True):
        log(mode)
        with analysing(before) as spent:
            results[mode] = measure(built.source, admin, "before" if before else "now", args, spent)

    def cell(figure: tuple[float, float]) -> str:
        seconds, analysed = figure
        return f"{seconds:.2f} s" + (f" ({analysed:.2f} s)" if analysed else "")

    print(
        f"## A flattening chunk with autovacuum off ({args.rows:,} rows, a branch three "
        "layers deep over a copy)\n\n"
        "The restore that copies (from a table three layers deep), the branch's first page"
        f" ({PAGE_RUNS} reads, median) and its first {args.chunks} "
        f"flattening chunks of {args.chunk:,} rows, each one transaction; autovacuum off for "
        "every partition made. In brackets: the part of it spent in ANALYZE.\n\n"
        "| partitions | the copying restore | first page | "
        + " | ".join(f"chunk {i + 1}" for i in range(args.chunks))
        + " |"
    )
    print("|---|---:|---:|" + "---:|" * args.chunks)
    for mode, found in results.items():
        chunks = [cell(figure) for figure in found["chunks"]]
        chunks += ["-"] * (args.chunks - len(chunks))
        print(
            f"| {mode} | {cell(found['copy'])} | {found['page'] * 1000:.1f} ms | "
            + " | ".join(chunks)
            + " |"
        )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
