"""Restore into a new environment, and copy, at real sizes, on PostgreSQL (issue 13; not a test).

    .venv/bin/python bench/lifecycle.py            # bench/scale.py's store (built if missing)
    .venv/bin/python bench/lifecycle.py --runs 7
    .venv/bin/python bench/lifecycle.py --rows 2000 --runs 1   # the test suite's run

It works in bench/scale.py's database (default envportal_scale), building its store first if
it is not there (minutes): a production environment of --rows current rows over 10 tables with
three older versions a row, five smaller ones, a sandbox. Then, --runs rounds, each operation
once a round in turns:

- restore into a new sandbox (copies.restore_to_new, the source's latest moment);
- copy everything into a new sandbox, and the schema only (copies.copy_start, new=...);
- copy everything over an existing sandbox (its "Before copy" backup, its old data ended).

Each is timed from the request to usable: the service call (the new environment and the
queued operation, one transaction), the engine's run of the operation in this process
(a worker runs the same function; bench/restore.py times that path with a real worker and its
queue poll), and the first page of the new environment's largest table read back through the
store. Nothing is subtracted. Medians and the slowest of the rounds; every environment made
is dropped at the end of its round. Target: each under 1 s at 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import builders, scale  # noqa: E402
from bench.builders import log  # noqa: E402

TARGET_SECONDS = 1.0
EXISTING = "lifecycle-existing"  # the sandbox a copy overwrites


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the source")
    parser.add_argument("--runs", type=int, default=5, help="rounds, operations in turns")
    parser.add_argument("--database-url", default=scale.DEFAULT_DATABASE_URL)
    return parser.parse_args(argv)


def usable(slug: str) -> int:
    """Read the first page of the environment's largest table, as the data browser does;
    returns how many rows it showed."""
    from environments import store
    from environments.models import Environment

    snapshot = store.current(Environment.objects.get(slug=slug))
    tables = list(snapshot.tables())
    if not tables:
        return 0
    largest = max(tables, key=lambda t: t.live_rows)
    return len(list(snapshot.rows(largest).only("key", "values")[:25]))


def operations(source, admin) -> dict:
    """name -> a function that runs the operation once and returns the slug it made usable."""
    from backups import copies, engine, restores
    from environments.models import Environment

    def run(op) -> str:
        if engine.restore_run(op.pk) != "succeeded":
            op.refresh_from_db()
            raise scale.BenchFailure(f"{op.label} failed: {op.error}")
        return op.target.slug

    def new(kind: str) -> dict:
        slug = f"lifecycle-{kind}-{uuid.uuid4().hex[:8]}"
        return {"name": f"Lifecycle {kind}", "slug": slug, "security_group": ""}

    def key() -> str:
        return f"lifecycle-{uuid.uuid4().hex}"

    return {
        "restore into a new sandbox": lambda: run(
            copies.restore_to_new(
                restores.RestoreRequest(
                    source=source,
                    requested_by=admin,
                    moment=restores.LATEST,
                    idempotency_key=key(),
                ),
                **new("restore"),
            )
        ),
        "copy everything into a new sandbox": lambda: run(
            copies.copy_start(
                source=source, requested_by=admin, new=new("copy"), idempotency_key=key()
            )
        ),
        "copy the schema only into a new sandbox": lambda: run(
            copies.copy_start(
                source=source,
                requested_by=admin,
                new=new("schema"),
                schema_only=True,
                idempotency_key=key(),
            )
        ),
        "copy everything over an existing sandbox": lambda: run(
            copies.copy_start(
                source=source,
                requested_by=admin,
                target=Environment.objects.get(slug=EXISTING),
                idempotency_key=key(),
            )
        ),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    builders.ensure_database(args.database_url)
    builders.setup_django(args.database_url)
    from django.utils import timezone

    from environments import services
    from environments.models import Environment
    from portal.models import User

    admin, _ = User.objects.get_or_create(
        username="scale-admin", defaults={"tenant_role": User.TenantRole.GLOBAL_ADMIN}
    )
    if scale.built_already(args.rows):
        log("the data is there (bench/scale.py's store)")
    else:
        log(f"building the store: {args.rows:,} rows in the large environment")
        scale.build(args.rows, admin)
    source = Environment.objects.get(slug=scale.LARGE)
    scale.drop_environment(EXISTING)
    services.environment_insert(
        name="Lifecycle existing sandbox",
        slug=EXISTING,
        type="sandbox",
        region=source.region,
        created_by=admin,
        created_at=timezone.now(),
    )
    ops = operations(source, admin)
    timings: dict[str, list[float]] = {name: [] for name in ops}
    shown: dict[str, int] = {}
    for round_ in range(1, args.runs + 1):
        made = []
        for name, operation in ops.items():
            started = time.perf_counter()
            slug = operation()
            shown[name] = usable(slug)
            timings[name].append(time.perf_counter() - started)
            if slug != EXISTING:
                made.append(slug)
        for slug in made:
            scale.drop_environment(slug)
        log(f"round {round_}: " + ", ".join(f"{t[-1] * 1000:.0f} ms" for t in timings.values()))
    scale.drop_environment(EXISTING)

    rows = scale.current_rows(scale.LARGE)
    print(
        f"## Restore into a new environment and copy ({rows:,} rows in the source)\n\n"
        f"Request to usable (the service call, the engine's run, the first page of the largest "
        f"table read back), in-process; median and slowest of {args.runs} rounds, operations "
        f"in turns. Target: under {TARGET_SECONDS:.0f} s.\n\n"
        "| operation | median | slowest | first page | target met? |\n|---|---:|---:|---:|---|"
    )
    missed = []
    for name, samples in timings.items():
        median = statistics.median(samples)
        ok = max(samples) < TARGET_SECONDS
        missed += [] if ok else [name]
        print(
            f"| {name} | {median * 1000:.0f} ms | {max(samples) * 1000:.0f} ms | "
            f"{shown[name]} rows | {'yes' if ok else '**no**'} |"
        )
    print()
    if missed:
        print(f"Targets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
