"""Whatever fills a partition in bulk analyses it in the same transaction, so that the plans of a
branch's reads and of a flattening chunk never wait for autovacuum (off on CI and on many
servers). Without statistics the planner takes every filter to keep a few rows: it reads a large
base in full and sorts it to show one page."""

import json

import pytest
from django.db import connection

from backups import engine, restores
from environments import demo, flatten, generations, layout, store
from environments.models import Environment, Generation
from tests.factories import EnvironmentFactory, UserFactory, ago

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only"
)

# Enough rows for a plan made without statistics to read the base in full (a few thousand do);
# the chunk a tenth of them, as 10,000 rows are of a 100,000-row table.
ROWS = 5000
CHUNK = 500
ORDERED = {"Index Scan", "Index Only Scan"}


@pytest.fixture
def no_autovacuum(monkeypatch):
    """Every partition made during the test is one autovacuum leaves alone, whatever the
    server's setting: only the code under test may analyse it."""
    create = layout._create

    def create_without_autovacuum(cursor, table_id: int) -> str:
        name = create(cursor, table_id)
        cursor.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = off)")
        return name

    monkeypatch.setattr(layout, "_create", create_without_autovacuum)


def _analysed(table_id: int) -> tuple[float, int]:
    """(pg_class.reltuples, how many of its columns pg_stats describes) of a table's partition:
    only ANALYZE writes pg_stats (an index build also sets reltuples)."""
    name = layout.partition_name(table_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [name])
        (tuples,) = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM pg_stats WHERE tablename = %s", [name])
        (columns,) = cursor.fetchone()
    return tuples, columns


def _scans(plan: dict, partition: str, under_sort: bool = False):
    """(node type, whether a Sort is above it) of each node that reads `partition`."""
    if plan.get("Relation Name") == partition:
        yield plan["Node Type"], under_sort
    for child in plan.get("Plans", []):
        yield from _scans(child, partition, under_sort or plan["Node Type"] == "Sort")


class Plans:
    """The plan of each statement on the versions table that runs inside the block, made just
    before it runs (so with the statistics it runs with)."""

    def __init__(self) -> None:
        self.plans: list[tuple[str, dict]] = []

    def __call__(self, execute, sql, params, many, context):
        head = sql.lstrip("( ").upper()
        if "environments_rowversion" in sql and head.startswith(("SELECT", "INSERT", "WITH")):
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                (found,) = cursor.fetchone()
            found = json.loads(found) if isinstance(found, str) else found
            self.plans.append((sql, found[0]["Plan"]))
        return execute(sql, params, many, context)

    def __enter__(self) -> "Plans":
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrapper.__exit__(*exc)


def _restore(source: Environment, target: Environment, clock) -> None:
    clock.shift(60)
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            moment=restores.LATEST,
            requested_by=UserFactory(tenant_role="global_admin"),
        )
    )
    assert engine.restore_run(op.pk) == "succeeded"


@pytest.fixture
def deep_branch(db, clock, monkeypatch, no_autovacuum):
    """A production table of ROWS rows (loaded in bulk by the demo loader), copied into a
    sandbox (the copy a restore makes from a source lineage.MAX_DEPTH deep), and a branch three
    layers deep over that copy. Returns (the loaded table, the copy's, the branch's, the
    branch's environment)."""
    source = EnvironmentFactory(type="production", slug="analyse-source", created_at=ago(days=40))
    loaded = demo.load_table(
        environment=source,
        generation=Generation.objects.get(environment=source, valid_to__isnull=True),
        spec=demo.TABLES["accounts"],
        rows=ROWS,
        since=ago(days=3),
        now=ago(days=1),
        seed=19,
    )
    store.recount(source)
    loaded.refresh_from_db()
    sandboxes = [
        EnvironmentFactory(type="sandbox", slug=f"analyse-{i}", created_at=ago(days=30))
        for i in range(4)
    ]
    with monkeypatch.context() as copying:
        copying.setattr(generations, "should_branch", lambda table: False)
        _restore(source, sandboxes[0], clock)
    for reader, read in zip(sandboxes[1:], sandboxes, strict=False):
        _restore(read, reader, clock)
    copy = store.current(sandboxes[0]).table("accounts")
    branch = store.current(sandboxes[-1]).table("accounts")
    assert (copy.depth, branch.depth, branch.live_rows) == (0, 3, copy.live_rows)
    return loaded, copy, branch, sandboxes[-1]


def _tree(plan: dict, depth: int = 0) -> str:
    line = " ".join(
        str(plan[k]) for k in ("Node Type", "Relation Name", "Index Name", "Plan Rows") if k in plan
    )
    return "\n".join(["  " * depth + line, *(_tree(p, depth + 1) for p in plan.get("Plans", []))])


def _dump(plans: Plans) -> str:
    """The plans, shortly, for a failure's message."""
    return "\n\n".join(f"{sql[:120]}\n{_tree(plan)}" for sql, plan in plans.plans)


def test_it_analyses_the_partitions_the_demo_loader_and_a_copy_fill(deep_branch):
    loaded, copy, _, _ = deep_branch
    for table in (loaded, copy):
        tuples, columns = _analysed(table.pk)
        assert columns > 0  # statistics of its columns: ANALYZE ran
        assert tuples == pytest.approx(table.live_rows + table.closed_versions, rel=0.1)


def test_a_branch_page_reads_the_copied_base_in_key_order_through_its_index(deep_branch):
    _, copy, branch, environment = deep_branch
    with Plans() as plans:
        page = list(store.current(environment).rows(branch).only("key", "values")[:25])
    assert len(page) == 25
    scans = [
        scan for _, plan in plans.plans for scan in _scans(plan, layout.partition_name(copy.pk))
    ]
    assert scans, _dump(plans)
    # One ordered index range of the 25 first keys, not all ROWS rows sorted to keep 25.
    assert all(kind in ORDERED and not sorted_ for kind, sorted_ in scans), _dump(plans)


def test_a_flattening_chunk_analyses_the_branch_and_reads_its_base_through_indexes(deep_branch):
    _, copy, branch, _ = deep_branch
    assert _analysed(branch.pk) == (-1, 0)  # made empty by the restore, never analysed
    assert flatten.flatten_chunk(branch.pk, rows=CHUNK) is False
    tuples, columns = _analysed(branch.pk)
    assert columns > 0 and tuples == CHUNK

    with Plans() as plans:
        assert flatten.flatten_chunk(branch.pk, rows=CHUNK) is False
    base, own = layout.partition_name(copy.pk), layout.partition_name(branch.pk)
    for _, plan in plans.plans:
        for kind, _sorted in _scans(plan, base):
            assert kind != "Seq Scan", _dump(plans)
        for kind, _sorted in _scans(plan, own):
            assert kind != "Seq Scan", _dump(plans)
    # Which keys the chunk takes: the next CHUNK keys of the base, read in the order of its
    # indexes (without statistics: every key after the cursor, then sorted).
    key_range = plans.plans[0][1]
    assert all(kind in ORDERED for kind, _ in _scans(key_range, base)), _dump(plans)
    assert _analysed(branch.pk)[0] == 2 * CHUNK  # grown by half again: analysed again
