"""The figures the store keeps as it writes (rows and bytes per table, row counts over time)
stay equal to counting the versions, through every kind of write, restore, undo and purge."""

import datetime

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups import engine, purge, restores, selectors, undos
from environments import store
from environments.models import DataTable, RowVersion, TableCount
from tests.factories import NOW, EnvironmentFactory, UserFactory, assert_stored_figures, make_table

T0 = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
COLUMNS = [{"name": "v", "type": "integer"}]

STEP = st.one_of(
    # several changes in one transaction: a row made and changed or deleted in it is amended
    st.tuples(
        st.just("write"),
        st.lists(
            st.tuples(st.sampled_from("abcdef"), st.sampled_from(["set", "delete"])),
            min_size=1,
            max_size=4,
        ),
    ),
    st.tuples(st.just("table"), st.sampled_from(["create", "drop"])),
    st.tuples(st.just("restore"), st.floats(0, 1)),
    st.tuples(st.just("undo"), st.none()),
)


def _write(env, changes, n):
    with store.changes(env) as cs:
        for key, how in changes:
            table = cs.table("t")
            exists = store.current(env).rows(table).filter(key=key).exists()
            if how == "set" and exists:
                cs.update_row(table, key, {"v": n})
            elif how == "set":
                cs.create_row(table, {"v": n}, key=key)
            elif exists:
                cs.delete_row(table, key)


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(st.tuples(STEP, st.floats(0.5, 30)), min_size=2, max_size=20),
    purge_after_days=st.floats(0, 9),
)
def test_kept_figures_equal_counting_the_versions(steps, purge_after_days):
    admin = UserFactory(tenant_role="global_admin")
    env = EnvironmentFactory(type="sandbox", created_at=T0)
    other = EnvironmentFactory(type="sandbox", created_at=T0)
    with time_machine.travel(T0, tick=False):
        make_table(env, "t", columns=COLUMNS)
        make_table(other, "t", columns=COLUMNS)
        store.row_create(environment=other, table_name="t", key="z", values={"v": 0})
    clock, moments, last = T0, [T0], None
    for n, ((action, arg), wait_hours) in enumerate(steps, start=1):
        clock += wait_hours * HOUR
        moments.append(clock)
        with time_machine.travel(clock, tick=False):
            env.refresh_from_db()
            live = store.current(env).table("t")
            if action == "write" and live is not None:
                _write(env, arg, n)
            elif action == "table" and arg == "create" and live is None:
                make_table(env, "t", columns=COLUMNS)
            elif action == "table" and live is not None:
                with store.changes(env) as cs:
                    cs.drop_table(cs.table("t"))
            elif action == "restore":
                window = env.restorable_window()
                moment = window.start + (window.end - window.start) * arg
                source = env if n % 2 else other
                last = restores.restore_start(
                    restores.RestoreRequest(
                        source=source, target=env, moment=moment, requested_by=admin
                    )
                )
                assert engine.restore_run(last.pk) == "succeeded"
            elif action == "undo" and last is not None and selectors.undo_possible(last):
                undo = undos.restore_undo(operation=last, requested_by=admin)
                assert engine.restore_run(undo.pk) == "succeeded"
                last = None
    env.refresh_from_db()
    edges = {
        edge
        for v in RowVersion.objects.filter(table__generation__environment=env)
        for edge in (v.valid_from, v.valid_to)
        if edge
    }
    probes = set(moments) | edges | {e - store.TICK for e in edges}
    assert_stored_figures(env, probes)

    now = clock + purge_after_days * 24 * HOUR
    with time_machine.travel(now, tick=False):
        purge.backups_purge(now=now)
    env.refresh_from_db()
    floor = purge.history_floor(env, now)
    assert_stored_figures(env, {p for p in probes if p >= floor} | {floor, now})


def test_a_restore_keeps_the_new_tables_figures_without_counting(db, source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    moment = source.last_change_at
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=moment, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"
    op.refresh_from_db()
    tables = {t.name: t for t in store.current(target).tables()}
    assert {name: t.live_rows for name, t in tables.items()} == {"accounts": 2, "contacts": 1}
    assert TableCount.objects.filter(table=tables["accounts"], at=op.generation.valid_from).get()
    assert_stored_figures(target, [moment, NOW])


def test_recount_rebuilds_the_same_figures_the_store_kept(db, source):
    kept = list(DataTable.objects.order_by("pk").values())
    counts = list(TableCount.objects.order_by("table", "at").values("table", "at", "rows"))
    DataTable.objects.update(live_rows=0, live_bytes=0, closed_versions=0, closed_bytes=0)
    TableCount.objects.all().delete()
    store.recount(source)
    assert list(DataTable.objects.order_by("pk").values()) == kept
    assert list(TableCount.objects.order_by("table", "at").values("table", "at", "rows")) == counts
