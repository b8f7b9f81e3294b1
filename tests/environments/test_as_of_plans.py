"""On PostgreSQL: the data browser's pages at a past moment read only the table's own partition,
through its indexes, on a table with a history: the first page of rows, a deep page, a search and
its next page, one row and its History."""

import datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from environments import demo, layout, store
from environments.models import Generation
from environments.viewing import at_text
from tests.environments.test_analyse import Plans, _dump, _restore, _scans
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: its partitions' plans (CI runs the suite there as well as on SQLite)",
)

ROWS = 5000
ORDERED = {"Index Scan", "Index Only Scan"}


@pytest.fixture
def loaded(db, clock):
    """Accounts of ROWS rows made over three days up to a day ago, with updates and deletes
    (the demo loader, which analyses the partition it fills), and a second table beside it."""
    env = EnvironmentFactory(type="production", slug="plans", created_at=ago(days=40))
    generation = Generation.objects.get(environment=env, valid_to__isnull=True)
    tables = [
        demo.load_table(
            environment=env,
            generation=generation,
            spec=demo.TABLES[name],
            rows=ROWS,
            since=ago(days=3),
            now=ago(days=1),
            seed=22,
        )
        for name in ("accounts", "contacts")
    ]
    store.recount(env)
    return env, tables[0]


def _pages(client, env, table, moment):
    """Request each kind of page at `moment`; returns a label per request made."""
    rows = reverse("environments:rows", kwargs={"slug": env.slug, "table": table.name})
    at = at_text(moment)
    snapshot = store.as_of(env, moment)
    keys = [r.key for r in snapshot.rows(table).only("key")[: ROWS // 2]]
    title = next(r.title for r in snapshot.rows(table).only("title")[:50] if r.title)
    found = client.get(rows, {"at": at, "q": title[:2]})
    assert found.context["page"].next_url, "the search has a second page"
    asked = {
        "rows, first page": (rows, {"at": at}),
        "rows, a deep page": (rows, {"at": at, "after": keys[-1]}),
        "search": (rows, {"at": at, "q": title[:2]}),
        "search, next page": (rows + found.context["page"].next_url, {}),
        "one row and its History": (
            reverse(
                "environments:row",
                kwargs={"slug": env.slug, "table": table.name, "key": keys[10]},
            ),
            {"at": at},
        ),
    }
    for label, (address, params) in asked.items():
        with Plans() as plans:
            response = client.get(address, params)
        assert response.status_code == 200, label
        yield label, plans


@pytest.mark.parametrize("days", [1.5, 2.5])
def test_each_page_at_a_moment_reads_only_its_tables_partition_and_its_live_rows_in_order(
    client_admin, loaded, days
):
    """At 1.5 days ago about a third of the history lies after the moment, at 2.5 days most
    of it. Browsing reads the live versions and those closed since, each an ordered range of
    the primary key; a search reads the live ones in the search index's order and the closed
    ones through the closed versions' index (or, when most of the partition closed since, the
    partition itself: never another's); a row and its History probe the primary key."""
    env, table = loaded
    own = layout.partition_name(table.pk)
    for label, plans in _pages(client_admin, env, table, ago(days=days)):
        assert plans.plans, label
        for sql, plan in plans.plans:
            read = {name for name in _relations(plan) if name.startswith("environments_rowversion")}
            assert read == {own}, (label, read, _dump(plans))
            scans = list(_scans(plan, own))
            if "LIKE" in sql:
                assert any("upper_key" in name for name in _indexes(plan)), (label, _dump(plans))
            elif label.startswith("rows"):
                assert all(kind in ORDERED and not under_sort for kind, under_sort in scans), (
                    label,
                    _dump(plans),
                )
            else:
                assert all(kind in ORDERED for kind, _ in scans), (label, _dump(plans))


def test_a_restored_tables_pages_at_a_moment_read_its_partition_and_its_bases_only(
    client_admin, loaded, clock
):
    """A sandbox restored from the loaded environment, then changed: its pages at a moment
    after the restore read its own partition and its base's, nothing else."""
    env, table = loaded
    sandbox = EnvironmentFactory(type="sandbox", slug="plans-sandbox", created_at=ago(days=30))
    _restore(env, sandbox, clock)
    branch = store.current(sandbox).table(table.name)
    key = store.current(sandbox).rows(branch).only("key").first().key
    clock.shift(60)
    store.row_delete(environment=sandbox, table_name=table.name, key=key)
    clock.shift(60)
    moment = timezone.now() - datetime.timedelta(seconds=30)
    allowed = {layout.partition_name(branch.pk), layout.partition_name(table.pk)}
    for label, plans in _pages(client_admin, sandbox, branch, moment):
        for _, plan in plans.plans:
            read = {name for name in _relations(plan) if name.startswith("environments_rowversion")}
            assert read and read <= allowed, (label, read, _dump(plans))
            assert "Seq Scan" not in str(plan), (label, _dump(plans))


def _relations(plan: dict):
    if "Relation Name" in plan:
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from _relations(child)


def _indexes(plan: dict):
    if "Index Name" in plan and plan["Node Type"] in ORDERED:
        yield plan["Index Name"]
    for child in plan.get("Plans", []):
        yield from _indexes(child)
