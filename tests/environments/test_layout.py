"""On PostgreSQL each data table's versions live in a partition of their own: a read names its
table and touches only that partition; a restore loads new partitions and attaches them with
their indexes; purge empties and drops what nothing reads any more."""

import pytest
from django.db import connection

from backups import engine, purge, restores
from environments import generations, layout, store
from environments.models import DataTable
from tests.factories import NOW, UserFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only"
)


def _partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'environments_rowversion'::regclass"
        )
        return {name for (name,) in cursor.fetchall()}


def _indexes(partition: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
            [partition],
        )
        return sorted(d for (d,) in cursor.fetchall())


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_each_table_has_a_partition_and_a_read_plans_only_that_one(source):
    accounts = store.current(source).table("accounts")
    contacts = store.current(source).table("contacts")
    assert {layout.partition_name(accounts.pk), layout.partition_name(contacts.pk)} <= (
        _partitions()
    )
    plan = _plan(store.current(source).rows(accounts))
    assert layout.partition_name(accounts.pk) in plan
    assert layout.partition_name(contacts.pk) not in plan
    assert "Append" not in plan  # one partition, pruned when planned


@pytest.mark.parametrize("branch", [True, False], ids=["branching", "copying"])
def test_a_restore_attaches_partitions_with_every_index(source, target, clock, monkeypatch, branch):
    """A restore gives each new table a partition with the same indexes, whether it branches
    (an empty partition, for the versions written later) or copies (a loaded one, as it does
    from a source already lineage.MAX_DEPTH deep)."""
    admin = UserFactory(tenant_role="global_admin")
    if not branch:
        monkeypatch.setattr(generations, "should_branch", lambda table: False)
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=NOW, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"
    restored = store.current(target).table("accounts")
    original = store.current(source).table("accounts")
    new, old = layout.partition_name(restored.pk), layout.partition_name(original.pk)
    assert new in _partitions()
    # the same primary key and search index as a partition made empty by the store
    assert [d.replace(new, "p").split(" ON ")[1] for d in _indexes(new)] == [
        d.replace(old, "p").split(" ON ")[1] for d in _indexes(old)
    ]
    # The primary key, the search index, the closed versions, the versions by start, the
    # tombstones (the last two: the Changes page's, environments.changelog), the closed
    # versions by title and the live versions by key (the as-of pages' and the put-back's).
    assert len(_indexes(new)) == 7
    assert store.current(target).as_dict() == store.as_of(source, NOW).as_dict()


def test_purge_empties_and_drops_the_partitions_of_purged_tables(source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=NOW, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"
    replaced = DataTable.objects.get(generation__environment=target, name="leads")
    partition = layout.partition_name(replaced.pk)
    assert partition in _partitions()
    clock.shift(60 * 60 * 24 * 40)  # every window and the "before restore" backup expired
    result = purge.backups_purge()
    assert not DataTable.objects.filter(pk=replaced.pk).exists()
    assert partition not in _partitions()
    assert result.versions_deleted >= 1
    assert store.current(target).as_dict() == store.as_of(source, NOW).as_dict()
