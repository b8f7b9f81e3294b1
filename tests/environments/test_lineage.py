"""Restored tables read through their lineage (environments.lineage) exactly what a copy of the
source's rows would hold: the same random writes, restores, restores of restores, undos and
purges, run once with branching restores and once with copying ones, read the same at every
moment, and the store's figures stay equal to counting."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups import engine, purge, restores, selectors, undos
from environments import flatten, generations, lineage, store
from environments.models import DataTable, RowVersion
from tests.factories import (
    NOW,
    EnvironmentFactory,
    UserFactory,
    assert_stored_figures,
    make_table,
)

T0 = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
COLUMNS = [{"name": "name", "type": "text"}, {"name": "v", "type": "integer"}]
ENDED = re.compile(r'"valid_to" > ')  # a read of the versions ended after a moment

STEP = st.one_of(
    # several changes in one transaction, to the restored environment or to the other one
    st.tuples(
        st.sampled_from(["write", "write other"]),
        st.lists(
            st.tuples(st.sampled_from("abcdef"), st.sampled_from(["set", "delete"])),
            min_size=1,
            max_size=4,
        ),
    ),
    st.tuples(st.just("table"), st.sampled_from(["create", "drop"])),
    st.tuples(st.sampled_from(["restore", "restore from other"]), st.floats(0, 1)),
    st.tuples(st.just("undo"), st.none()),
    st.tuples(st.just("purge"), st.floats(0, 3)),
    # a few chunks of two rows of flattening, of each restored table (interleaved with writes)
    st.tuples(st.just("flatten"), st.integers(1, 3)),
)


class World:
    """An environment restored over and over, and another it is sometimes restored from;
    `branch` says whether its restores branch (the store as it is) or copy every row."""

    def __init__(self, admin, branch: bool):
        self.admin, self.branch, self.last = admin, branch, None
        self.env = EnvironmentFactory(type="sandbox", created_at=T0)
        self.other = EnvironmentFactory(type="sandbox", created_at=T0)
        with time_machine.travel(T0, tick=False):
            for env in (self.env, self.other):
                make_table(env, "t", columns=COLUMNS)
            store.row_create(
                environment=self.other, table_name="t", key="a", values={"name": "O", "v": 0}
            )

    def run(self, op) -> None:
        with pytest.MonkeyPatch.context() as patch:
            if not self.branch:
                patch.setattr(generations, "should_branch", lambda table: False)
            assert engine.restore_run(op.pk) == "succeeded"

    def step(self, action: str, arg, n: int, now: datetime.datetime) -> None:
        self.env.refresh_from_db()
        self.other.refresh_from_db()
        live = store.current(self.env).table("t")
        if action.startswith("write"):
            env = self.other if action == "write other" else self.env
            if store.current(env).table("t") is not None:
                self.write(env, arg, n)
        elif action == "table" and arg == "create" and live is None:
            make_table(self.env, "t", columns=COLUMNS)
        elif action == "table" and live is not None:
            with store.changes(self.env) as cs:
                cs.drop_table(cs.table("t"))
        elif action.startswith("restore"):
            source = self.other if action == "restore from other" else self.env
            window = source.restorable_window()
            moment = window.start + (window.end - window.start) * arg
            self.last = restores.restore_start(
                restores.RestoreRequest(
                    source=source, target=self.env, moment=moment, requested_by=self.admin
                )
            )
            self.run(self.last)
        elif action == "undo" and self.last is not None and selectors.undo_possible(self.last):
            undo = undos.restore_undo(operation=self.last, requested_by=self.admin)
            self.run(undo)
            self.last = None
        elif action == "purge":
            purge.backups_purge(now=now)
        elif action == "flatten":
            mine = DataTable.objects.filter(generation__environment__in=[self.env, self.other])
            for table in mine.filter(base__isnull=False).order_by("pk"):
                for _ in range(arg):
                    flatten.flatten_chunk(table.pk, rows=2)

    @staticmethod
    def write(env, changes, n: int) -> None:
        with store.changes(env) as cs:
            table = cs.table("t")
            for key, how in changes:
                exists = store.current(env).rows(table).filter(key=key).exists()
                values = {"name": f"{key.upper()}{n}", "v": n}
                if how == "set" and exists:
                    cs.update_row(table, key, values)
                elif how == "set":
                    cs.create_row(table, values, key=key)
                elif exists:
                    cs.delete_row(table, key)

    def read(self, moment: datetime.datetime) -> dict:
        return store.as_of(self.env, moment).as_dict()


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.tuples(STEP, st.floats(0.5, 30)), min_size=2, max_size=24))
def test_branching_restores_read_what_copying_restores_hold(steps):
    admin = UserFactory(tenant_role="global_admin")
    branched, copied = World(admin, branch=True), World(admin, branch=False)
    clock, moments = T0, [T0]
    for n, ((action, arg), wait_hours) in enumerate(steps, start=1):
        clock += wait_hours * HOUR
        purge_at = clock + arg * 24 * HOUR if action == "purge" else clock
        with time_machine.travel(clock, tick=False):
            for world in (branched, copied):
                world.step(action, arg, n, purge_at)
        moments += [clock - store.TICK, clock, clock + store.TICK]
    branched.env.refresh_from_db()
    floor = purge.history_floor(branched.env, clock)
    for moment in moments:
        if moment >= max(floor, branched.env.purged_before or floor):
            assert branched.read(moment) == copied.read(moment), moment
    assert store.storage_used(branched.env).current_rows == (
        store.storage_used(copied.env).current_rows
    )
    assert_stored_figures(branched.env, [m for m in moments if m >= floor])
    assert_stored_figures(copied.env, [m for m in moments if m >= floor])
    # Reads never go through more layers than the limit.
    assert all(t.depth <= lineage.MAX_DEPTH for t in DataTable.objects.all())


@pytest.mark.django_db
def test_a_restore_copies_no_row(source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    versions = RowVersion.objects.count()
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=source.last_change_at, requested_by=admin
        )
    )
    assert engine.restore_run(op.pk) == "succeeded"
    assert RowVersion.objects.count() == versions
    restored = {t.name: t for t in store.current(target).tables()}
    assert {name: (t.base.generation.environment, t.depth) for name, t in restored.items()} == {
        "accounts": (source, 1),
        "contacts": (source, 1),
    }
    assert store.current(target).as_dict() == store.as_of(source, op.moment).as_dict()
    storage = store.storage_used(target)
    assert storage.shared_rows == storage.current_rows == 3


@pytest.mark.django_db
def test_writes_to_a_branch_shadow_and_hide_its_base_rows(source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    moment = source.last_change_at
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=moment, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"
    op.refresh_from_db()
    target.refresh_from_db()
    before = store.current(target).as_dict()["accounts"]
    first, second = sorted(before)
    store.row_update(
        environment=target, table_name="accounts", key=first, values={"name": "Changed"}
    )
    store.row_delete(environment=target, table_name="accounts", key=second)
    added = store.row_create(environment=target, table_name="accounts", values={"name": "New"})
    accounts = store.current(target).table("accounts")
    now = store.current(target).as_dict()["accounts"]
    assert {key: values["name"] for key, values in now.items()} == {
        first: "Changed",
        added.key: "New",
    }
    assert added.key not in before
    # The base is untouched, and the moment before the writes still reads it.
    assert store.as_of(source, moment).as_dict()["accounts"] == before
    assert store.as_of(target, op.generation.valid_from).as_dict()["accounts"] == before
    tombstone = RowVersion.objects.get(table=accounts, key=second)
    assert tombstone.valid_from == tombstone.valid_to
    assert_stored_figures(target, [moment])


def _restore(source, target, moment, admin):
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=moment, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"
    op.refresh_from_db()
    target.refresh_from_db()
    return op


@pytest.mark.django_db
def test_flattening_in_chunks_reads_the_same_after_each_and_drops_the_base(source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    op = _restore(source, target, source.last_change_at, admin)
    store.row_update(environment=target, table_name="accounts", key="b", values={"name": "B3"})
    again = EnvironmentFactory(type="sandbox", region=target.region)
    clock.shift(datetime.timedelta(minutes=1))
    _restore(target, again, target.last_change_at, admin)  # reads through target to source
    moments = [op.generation.valid_from, target.last_change_at]
    expected = {m: store.as_of(target, m).as_dict() for m in moments}
    expected_again = store.current(again).as_dict()
    accounts = store.current(target).table("accounts")
    chunks = 0
    while not flatten.flatten_chunk(accounts.pk, rows=1):
        chunks += 1
        assert {m: store.as_of(target, m).as_dict() for m in moments} == expected
        assert store.current(again).as_dict() == expected_again
    assert chunks == 2  # b and c, one key per chunk
    accounts.refresh_from_db()
    assert (accounts.base, accounts.depth, accounts.shared_rows) == (None, 0, 0)
    assert store.current(again).table("accounts").depth == 1  # one layer less
    assert {m: store.as_of(target, m).as_dict() for m in moments} == expected
    assert store.current(again).as_dict() == expected_again
    assert_stored_figures(target, moments)


@pytest.mark.django_db
def test_housekeeping_flattens_deep_tables_and_those_whose_base_would_be_purged(
    source, target, clock, settings
):
    from backups import housekeeping

    admin = UserFactory(tenant_role="global_admin")
    _restore(source, target, source.last_change_at, admin)
    again = EnvironmentFactory(type="sandbox", region=target.region)
    clock.shift(datetime.timedelta(minutes=1))
    _restore(target, again, target.last_change_at, admin)
    deep = {t.pk for t in store.current(again).tables()}
    assert set(purge.branches_to_flatten()) == deep  # target's base is read within its window
    assert housekeeping.flatten_some(chunks=50) > 0
    assert not DataTable.objects.filter(pk__in=deep, base__isnull=False).exists()
    # 29 days on, the source's own window no longer reaches the moment the target reads it at.
    later = NOW + datetime.timedelta(days=29)
    assert set(purge.branches_to_flatten(later)) == {t.pk for t in store.current(target).tables()}


@pytest.mark.django_db
def test_the_environment_page_says_what_a_restored_table_reads(client_admin, source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    _restore(source, target, source.last_change_at, admin)
    page = client_admin.get(f"/environments/{target.slug}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Restored tables" in text
    assert "Accounts: restored " in text and " from Contoso Prod as of " in text
    assert "shares 2 rows with Contoso Prod until it is fully independent" in text
    assert "table deep" not in text  # the lineage's depth is the Django admin's detail


@pytest.mark.django_db
def test_the_data_browser_pages_and_searches_a_restored_table(
    client_admin, source, target, clock, settings
):
    from django.urls import reverse

    admin = UserFactory(tenant_role="global_admin")
    _restore(source, target, source.last_change_at, admin)
    store.row_create(environment=target, table_name="accounts", key="d", values={"name": "Gem"})
    store.row_update(environment=target, table_name="accounts", key="b", values={"name": "Gab"})
    settings.DATA_PAGE_SIZE = 2
    url = reverse("environments:rows", kwargs={"slug": target.slug, "table": "accounts"})

    def keys(response) -> list[str]:
        assert response.status_code == 200
        return re.findall(r'<td class="mono"><a [^>]*>([^<\s]+)', response.content.decode())

    assert keys(client_admin.get(url)) == ["b", "c"]  # b is the branch's own, c its base's
    assert keys(client_admin.get(url, {"after": "c"})) == ["d"]
    assert keys(client_admin.get(url, {"before": "d"})) == ["b", "c"]
    assert keys(client_admin.get(url, {"q": "G"})) == ["b", "c"]  # Gab, Gamma (then Gem)
    assert keys(client_admin.get(url, {"q": "G", "after": "c", "after_title": "GAMMA"})) == ["d"]
    assert keys(client_admin.get(url, {"q": "c"})) == ["c"]  # the exact key


@pytest.mark.django_db
def test_a_page_looks_for_a_bases_changed_rows_only_once_it_has_changed(source, target, clock):
    admin = UserFactory(tenant_role="global_admin")
    _restore(source, target, source.last_change_at, admin)

    def page() -> tuple[dict, int]:
        """The branch's accounts as a page reads them, and how many reads of the base looked
        for versions ended since the moment."""
        snapshot = store.current(target)
        with CaptureQueriesContext(connection) as queries:
            found = {r.key: r.values["name"] for r in snapshot.rows(snapshot.table("accounts"))}
        return found, sum(bool(ENDED.search(q["sql"])) for q in queries.captured_queries)

    before, looked = page()
    assert looked == 0  # the source has not changed since the moment: its live rows are enough
    clock.shift(datetime.timedelta(minutes=1))
    key = sorted(before)[0]
    store.row_update(environment=source, table_name="accounts", key=key, values={"name": "Later"})
    assert store.current(source).table("accounts").closed_until == source.last_change_at
    after, looked = page()
    assert (after, looked) == (before, 1)  # the changed row is read as it was, from its end


def test_flattening_reserves_its_copy_first_and_waits_when_there_is_no_room(
    source, target, clock, settings, monkeypatch
):
    from backups import housekeeping
    from environments import capacity
    from environments.models import CapacityReservation
    from portal.errors import Refused
    from tests.factories import stores_gigabytes

    admin = UserFactory(tenant_role="global_admin")
    _restore(source, target, source.last_change_at, admin)
    accounts = store.current(target).table("accounts")
    (_, base_bytes) = store.figures_at([accounts.base], accounts.base_at)[accounts.base_id]
    assert base_bytes > 0
    settings.TENANT_CAPACITY_GB = 2
    filler = EnvironmentFactory(type="sandbox", region=target.region)
    # Less room than the copy needs above the 1 GB that must stay free.
    free = capacity.tenant().free - capacity.GB
    big = stores_gigabytes(filler, (free - base_bytes // 2) / capacity.GB)
    with pytest.raises(Refused, match="You cannot flatten the restored table Accounts"):
        flatten.flatten_chunk(accounts.pk, rows=1)
    accounts.refresh_from_db()
    assert (accounts.flattened_rows, accounts.depth) == (0, 1)  # untouched: it reads its base
    monkeypatch.setattr(purge, "branches_to_flatten", lambda: [accounts.pk])
    assert housekeeping.flatten_some(chunks=5) == 1  # tried once, then left for the next round
    assert not CapacityReservation.objects.exists()

    DataTable.objects.filter(pk=big.pk).update(live_bytes=0)  # room again
    used = capacity.tenant().used
    assert not flatten.flatten_chunk(accounts.pk, rows=1)
    # From the first chunk on, the whole copy counts as used; each chunk turns some of the
    # reservation into stored bytes, never more than it reserved.
    assert capacity.tenant().used == used + base_bytes
    while not flatten.flatten_chunk(accounts.pk, rows=1):
        assert capacity.tenant().used == used + base_bytes
    assert not CapacityReservation.objects.exists()
    assert capacity.tenant().used == used + base_bytes
