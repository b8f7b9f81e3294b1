import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments import store
from environments.models import EnvironmentState, Generation, RowVersion
from tests.factories import EnvironmentFactory, make_table

T0 = datetime.datetime(2026, 10, 1, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def env(db):
    return EnvironmentFactory(created_at=T0)


@pytest.fixture
def table(env):
    with time_machine.travel(at(1), tick=False):
        return make_table(env)


def test_an_update_closes_the_old_version_and_opens_a_new_one(env, table):
    with time_machine.travel(at(2), tick=False):
        store.row_create(
            environment=env, table_name="accounts", values={"name": "Contoso"}, key="a"
        )
    with time_machine.travel(at(3), tick=False):
        store.row_update(
            environment=env, table_name="accounts", key="a", values={"name": "Fabrikam"}
        )
    versions = list(store.row_history(table, "a"))
    assert [(v.valid_from, v.valid_to, v.values["name"]) for v in versions] == [
        (at(2), at(3), "Contoso"),
        (at(3), None, "Fabrikam"),
    ]


def test_a_delete_closes_the_current_version_and_leaves_a_tombstone(env, table):
    with time_machine.travel(at(2), tick=False):
        store.row_create(environment=env, table_name="accounts", values={"name": "A"}, key="a")
    with time_machine.travel(at(5), tick=False):
        store.row_delete(environment=env, table_name="accounts", key="a")
    version, tombstone = store.row_history(table, "a")
    assert (version.valid_from, version.valid_to) == (at(2), at(5))
    # Live at no moment, titled like the row: what Deleted records finds.
    assert (tombstone.valid_from, tombstone.valid_to, tombstone.title) == (at(5), at(5), "A")
    assert store.as_of(env, at(4)).as_dict() == {"accounts": {"a": version.values}}
    assert store.as_of(env, at(5)).as_dict() == {"accounts": {}}
    assert store.current(env).as_dict() == {"accounts": {}}


def test_all_changes_of_one_transaction_share_one_timestamp(env, table):
    with time_machine.travel(at(2), tick=False), store.changes(env) as cs:
        cs.create_row(table, {"name": "A"}, key="a")
        cs.create_row(table, {"name": "B"}, key="b")
    assert set(RowVersion.objects.filter(table=table).values_list("valid_from", flat=True)) == {
        at(2)
    }


def test_a_row_changed_twice_in_one_transaction_leaves_one_version(env, table):
    with time_machine.travel(at(2), tick=False):
        with store.changes(env) as cs:
            cs.create_row(table, {"name": "A"}, key="a")
            cs.update_row(table, "a", {"name": "A2"})
        with store.changes(env) as cs:
            pass
    assert [v.values["name"] for v in store.row_history(table, "a")] == ["A2"]


def test_a_row_made_and_deleted_in_one_transaction_leaves_nothing(env, table):
    with time_machine.travel(at(2), tick=False), store.changes(env) as cs:
        cs.create_row(table, {"name": "A"}, key="a")
        cs.delete_row(table, "a")
    assert not RowVersion.objects.filter(table=table).exists()


def test_timestamps_keep_increasing_when_the_clock_stands_still_or_steps_back(env, table):
    with time_machine.travel(at(10), tick=False):
        store.row_create(environment=env, table_name="accounts", values={"name": "A"}, key="a")
        store.row_update(environment=env, table_name="accounts", key="a", values={"name": "B"})
    with time_machine.travel(at(5), tick=False):
        store.row_update(environment=env, table_name="accounts", key="a", values={"name": "C"})
    froms = [v.valid_from for v in store.row_history(table, "a")]
    assert froms == sorted(froms) and len(set(froms)) == 3
    assert froms[0] == at(10)


def test_values_are_checked_against_the_columns_and_nothing_is_written(env, table):
    with time_machine.travel(at(2), tick=False), pytest.raises(ValidationError) as excinfo:
        store.row_create(
            environment=env,
            table_name="accounts",
            values={"name": "", "employees": "many", "tier": "Bronze", "colour": "red"},
        )
    errors = excinfo.value.message_dict
    assert set(errors) == {"name", "employees", "tier", "colour"}
    assert "required" in errors["name"][0]
    assert not RowVersion.objects.filter(table=table).exists()


def test_values_are_stored_normalised(env, table):
    with time_machine.travel(at(2), tick=False):
        row = store.row_create(
            environment=env,
            table_name="accounts",
            values={
                "name": " Contoso ",
                "employees": "12",
                "revenue": "10.5",
                "active": True,
                "founded": "2001-02-03",
                "tier": "Gold",
                "email": "a@example.com",
            },
        )
    assert row.values == {
        "name": "Contoso",
        "employees": 12,
        "revenue": "10.50",
        "active": True,
        "founded": "2001-02-03",
        "tier": "Gold",
        "email": "a@example.com",
    }


def test_keys_are_generated_in_order_when_not_given(env, table):
    with time_machine.travel(at(2), tick=False):
        first = store.row_create(environment=env, table_name="accounts", values={"name": "A"})
        second = store.row_create(environment=env, table_name="accounts", values={"name": "B"})
    assert (first.key, second.key) == ("000001", "000002")


def test_it_refuses_a_duplicate_key_and_a_missing_row(env, table):
    with time_machine.travel(at(2), tick=False):
        store.row_create(environment=env, table_name="accounts", values={"name": "A"}, key="a")
        with pytest.raises(ValidationError):
            store.row_create(environment=env, table_name="accounts", values={"name": "B"}, key="a")
        with pytest.raises(store.StoreError, match="does not exist"):
            store.row_update(environment=env, table_name="accounts", key="zz", values={"name": "B"})
        with pytest.raises(store.StoreError, match="no table"):
            store.row_delete(environment=env, table_name="nope", key="a")


def test_it_refuses_writes_while_the_environment_is_restoring(env, table):
    env.state = EnvironmentState.RESTORING
    env.save(update_fields=["state"])
    with pytest.raises(store.StoreError, match="restoring"):
        store.row_create(environment=env, table_name="accounts", values={"name": "A"})
    assert not RowVersion.objects.filter(table=table).exists()


def test_as_of_follows_the_generation_live_at_the_moment(env, table):
    """A later issue's restore starts a new generation; as_of must read the old one before it."""
    with time_machine.travel(at(2), tick=False):
        store.row_create(environment=env, table_name="accounts", values={"name": "Old"}, key="a")
    old = Generation.objects.get(environment=env)
    Generation.objects.filter(pk=old.pk).update(valid_to=at(10))
    new = Generation.objects.create(environment=env, valid_from=at(10), reason="test")
    with time_machine.travel(at(10), tick=False):
        new_table = make_table(env)
    with time_machine.travel(at(11), tick=False):
        store.row_create(environment=env, table_name="accounts", values={"name": "New"}, key="b")
    assert store.as_of(env, at(9)).as_dict() == {"accounts": {"a": {**_blank(), "name": "Old"}}}
    assert store.as_of(env, at(12)).as_dict() == {"accounts": {"b": {**_blank(), "name": "New"}}}
    assert store.as_of(env, at(9)).generation == old
    assert store.current(env).generation == new
    assert new_table.generation == new


def test_as_of_before_the_environment_existed_is_empty(env, table):
    assert store.as_of(env, T0 - datetime.timedelta(days=1)).as_dict() == {}


def test_reading_a_table_uses_its_key_and_does_not_scan_other_environments(env, table):
    other = EnvironmentFactory()
    make_table(other)
    snapshot = store.as_of(env, at(5))
    with CaptureQueriesContext(connection) as queries:
        list(snapshot.rows(table))
    # A page reads a past moment in two parts (the versions live now, those closed since):
    # each names the table.
    sql = [q["sql"] for q in queries.captured_queries]
    assert sql and all('"table_id" = ' in s or '"table_id" =' in s for s in sql)


def test_storage_counts_current_rows_and_history_apart(env, table):
    with time_machine.travel(at(2), tick=False):
        store.row_create(environment=env, table_name="accounts", values={"name": "A"}, key="a")
        store.row_create(environment=env, table_name="accounts", values={"name": "B"}, key="b")
    with time_machine.travel(at(3), tick=False):
        store.row_update(environment=env, table_name="accounts", key="a", values={"name": "C"})
    figures = store.storage_used(env)
    assert (figures.current_rows, figures.history_versions) == (2, 1)
    assert figures.current_bytes > figures.history_bytes > 0


def _blank():
    return {
        "name": None,
        "employees": None,
        "revenue": None,
        "active": False,
        "founded": None,
        "tier": None,
        "email": None,
    }


# --- property: as_of(t) equals a plain replay of the changes, for many t -----------------------

KEYS = st.sampled_from(["a", "b", "c", "d"])
OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete"]),
        KEYS,
        st.text(alphabet="xyzÄé ", min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=4,
)
# Each transaction: its ops and minutes to wait before it (0: the clock stands still).
TRANSACTIONS = st.lists(st.tuples(OPS, st.sampled_from([0, 0.5, 1, 7])), min_size=1, max_size=12)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(transactions=TRANSACTIONS)
def test_as_of_matches_a_plain_replay_at_every_moment(transactions):
    env = EnvironmentFactory(created_at=T0)
    with time_machine.travel(T0, tick=False):
        table = make_table(env, columns=[{"name": "name", "type": "text", "required": True}])
    live: dict[str, str] = {}
    timeline: list[tuple[datetime.datetime, dict[str, str]]] = [(T0, {})]
    clock = T0
    for ops, wait in transactions:
        clock += datetime.timedelta(minutes=wait)
        staged = dict(live)
        with time_machine.travel(clock, tick=False), store.changes(env) as cs:
            for op, key, text in ops:
                value = text.strip() or "v"
                if op == "create" and key not in staged:
                    cs.create_row(table, {"name": value}, key=key)
                    staged[key] = value
                elif op == "update" and key in staged:
                    cs.update_row(table, key, {"name": value})
                    staged[key] = value
                elif op == "delete" and key in staged:
                    cs.delete_row(table, key)
                    del staged[key]
            ts = cs.ts
        live = staged
        timeline.append((ts, dict(live)))

    def expected_at(moment):
        state = {}
        for ts, snapshot in timeline:
            if ts <= moment:
                state = snapshot
        return state

    probes = {T0 - datetime.timedelta(seconds=1)}
    for ts, _ in timeline:
        probes |= {
            ts - datetime.timedelta(microseconds=1),
            ts,
            ts + datetime.timedelta(microseconds=1),
            ts + datetime.timedelta(seconds=20),
        }
    for moment in sorted(probes):
        got = {
            k: v["name"] for k, v in store.as_of(env, moment).as_dict().get("accounts", {}).items()
        }
        assert got == expected_at(moment), moment
    assert {k: v["name"] for k, v in store.current(env).as_dict()["accounts"].items()} == live


def test_each_transaction_adds_its_changes_to_the_hourly_activity(env, table):
    from environments.models import Activity

    with time_machine.travel(at(2), tick=False), store.changes(env) as cs:
        cs.create_row(table, {"name": "A"}, key="a")
        cs.create_row(table, {"name": "B"}, key="b")
    with time_machine.travel(at(30), tick=False):
        store.row_delete(environment=env, table_name="accounts", key="a")
    with time_machine.travel(at(70), tick=False):
        store.row_update(environment=env, table_name="accounts", key="b", values={"name": "C"})
    assert list(
        Activity.objects.filter(environment=env).order_by("hour").values_list("hour", "changes")
    ) == [(T0, 3), (T0 + datetime.timedelta(hours=1), 1)]


def test_a_bulk_write_sets_rows_as_given_in_one_transaction_and_keeps_the_figures(env, table):
    from tests.factories import assert_stored_figures

    with time_machine.travel(at(2), tick=False):
        for key in "abc":
            store.row_create(environment=env, table_name="accounts", values={"name": key}, key=key)
    with time_machine.travel(at(3), tick=False), store.changes(env) as cs:
        live = cs.table("accounts")
        same = store.table_rows(live, None).get(key="c").values
        changed = cs.put_back(live, {"a": None, "b": {**same, "name": "B"}, "c": same, "d": same})
    assert changed == 3  # a deleted, b changed, d added; c already as given
    assert {k: v["name"] for k, v in store.current(env).as_dict()["accounts"].items()} == {
        "b": "B",
        "c": "c",
        "d": "c",
    }
    assert_stored_figures(env)
