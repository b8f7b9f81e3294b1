"""Put back chosen rows, the rows matching a filter, or a whole table, as they were at a moment:
in place, as one new write made for the admin who asked, with an undo; and a property test that
after any put-back every chosen row reads as it did at the moment and every other row as it did
before."""

import datetime

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups import put_backs
from backups.models import RestoreOperation
from backups.put_back_engine import PutBackRequest, Selection
from environments import changelog, store
from environments.changelog import Filters, Span
from environments.models import ChangeBatch, EnvironmentState
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import User
from tests.factories import EnvironmentFactory, ago, assert_stored_figures, make_table

pytestmark = pytest.mark.django_db

NAMES = [{"name": "name", "label": "Name", "type": "text"}]


@pytest.fixture
def put_back(django_capture_on_commit_callbacks):
    """put_back_start, and the queued task run in-process when the transaction commits."""

    def _run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            op = put_backs.put_back_start(PutBackRequest(**kwargs))
        op.refresh_from_db()
        return op

    return _run


@pytest.fixture
def incident(clock, sandbox, env_admin, maker):
    """accounts a..e written a day ago; then, 14:00-14:10 today, the maker's bad bulk edit
    (a and b renamed, c deleted, f added); then at 15:00 an admin's fix of b and an edit of e."""
    clock.move_to(ago(days=1))
    table = make_table(sandbox, "accounts", columns=NAMES)
    with store.changes(sandbox) as cs:
        for key in "abcde":
            cs.create_row(table, {"name": key.upper()}, key=key)
    clock.move_to(ago(hours=2))
    with store.changes(sandbox, by=store.Author.person(maker)) as cs:
        cs.update_row(table, "a", {"name": "oops"})
        cs.update_row(table, "b", {"name": "oops"})
        cs.delete_row(table, "c")
        cs.create_row(table, {"name": "junk"}, key="f")
    clock.move_to(ago(hours=1))
    with store.changes(sandbox, by=store.Author.person(env_admin)) as cs:
        cs.update_row(table, "b", {"name": "B fixed"})
        cs.update_row(table, "e", {"name": "E2"})
    clock.move_to(ago(seconds=0))
    return sandbox


BAD_EDIT = Span(ago(hours=2, minutes=5), ago(hours=1, minutes=55))


def names(env):
    return {k: v["name"] for k, v in store.current(env).as_dict()["accounts"].items()}


def test_chosen_rows_go_back_as_they_were_and_nothing_else_moves(incident, env_admin, put_back):
    op = put_back(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(table="accounts", keys=("a", "c", "f")),
        moment=ago(hours=3),
    )
    assert (op.status, op.kind, op.rows_copied) == ("succeeded", "rows", 3)
    assert names(incident) == {"a": "A", "b": "B fixed", "c": "C", "d": "D", "e": "E2"}
    batch = ChangeBatch.objects.get(environment=incident, at=op.written_at)
    assert (batch.author_label, batch.changes) == (f"{env_admin.username} (restore)", 3)
    incident.refresh_from_db()
    assert incident.state == EnvironmentState.READY and not incident.admin_mode


def test_all_rows_matching_a_filter_go_back_and_newer_changes_are_kept(
    incident, env_admin, maker, put_back
):
    op = put_back(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(
            table="accounts",
            span=BAD_EDIT,
            filters=Filters(table="accounts", who=maker.username),
        ),
    )
    assert op.status == "succeeded", op.error
    # b was fixed by hand after the bad edit: kept; the rest of the maker's edit is undone.
    assert names(incident) == {"a": "A", "b": "B fixed", "c": "C", "d": "D", "e": "E2"}


def test_put_back_anyway_overwrites_rows_changed_again_since(incident, env_admin, maker, put_back):
    put_back(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(
            table="accounts", span=BAD_EDIT, filters=Filters(table="accounts", who=maker.username)
        ),
        keep_newer=False,
    )
    assert names(incident)["b"] == "B"


def test_the_preview_counts_what_comes_back_changes_and_goes(incident, env_admin, maker):
    request = PutBackRequest(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(
            table="accounts", span=BAD_EDIT, filters=Filters(table="accounts", who=maker.username)
        ),
    )
    preview = put_backs.put_back_preview(request)
    assert (preview.rows, preview.restore, preview.change, preview.delete) == (4, 1, 1, 1)
    assert (preview.changed_again, preview.changed_again_count, preview.kept) == (["b"], 1, 1)
    assert names(incident)["a"] == "oops"  # a preview changes nothing


def test_a_whole_table_goes_back_by_lineage_and_its_undo_brings_today_back(
    incident, env_admin, put_back, django_capture_on_commit_callbacks
):
    before = names(incident)
    old_table = store.current(incident).table("accounts")
    op = put_back(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(table="accounts", whole=True),
        moment=ago(hours=3),
    )
    assert (op.status, op.kind) == ("succeeded", "table"), op.error
    assert names(incident) == {k: k.upper() for k in "abcde"}
    table = store.current(incident).table("accounts")
    assert (table.base_id, table.base_at, table.shared_rows) == (old_table.pk, ago(hours=3), 5)
    with django_capture_on_commit_callbacks(execute=True):
        undo = put_backs.put_back_undo(operation=op, actor=env_admin)
    undo.refresh_from_db()
    assert (undo.status, undo.undo_of_id) == ("succeeded", op.pk), undo.error
    assert names(incident) == before


def test_an_undo_puts_back_the_rows_the_put_back_wrote(
    incident, env_admin, put_back, django_capture_on_commit_callbacks, clock
):
    before = names(incident)
    op = put_back(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(table="accounts", keys=("a", "c", "f")),
        moment=ago(hours=3),
    )
    clock.shift(60)
    with django_capture_on_commit_callbacks(execute=True):
        undo = put_backs.put_back_undo(operation=op, actor=env_admin)
    undo.refresh_from_db()
    assert undo.status == "succeeded", undo.error
    assert names(incident) == before
    batch = ChangeBatch.objects.get(environment=incident, at=undo.written_at)
    assert batch.author_label == f"{env_admin.username} (undo)"


def test_in_a_restored_environment_rows_shared_with_the_source_go_back_too(
    source, target, run_restore, admin, env_admin, put_back, clock
):
    restored = run_restore(source=source, target=target, moment=ago(hours=36), requested_by=admin)
    assert restored.status == "succeeded", restored.error
    target.refresh_from_db()
    clock.shift(60)
    with store.changes(target) as cs:
        accounts = cs.table("accounts")
        cs.update_row(accounts, "b", {"name": "Beta 3"})
        cs.delete_row(accounts, "c")
        cs.create_row(accounts, {"name": "Delta"}, key="d")
    clock.shift(60)
    op = put_back(
        environment=target,
        requested_by=env_admin,
        selection=Selection(table="accounts", keys=("b", "c", "d")),
        moment=ago(seconds=-30),
    )
    assert op.status == "succeeded", op.error
    rows = {k: v["name"] for k, v in store.current(target).as_dict()["accounts"].items()}
    assert rows == {"a": "Alpha", "b": "Beta 2", "c": "Gamma"}


@pytest.mark.parametrize(
    "selection, moment, message",
    [
        (Selection(table="accounts", keys=("a",)), ago(days=40), "outside it"),
        (Selection(table="ghosts", keys=("a",)), ago(hours=3), "no table 'ghosts' now"),
        (Selection(table="accounts", keys=("a\x00",)), ago(hours=3), "is not a row key"),
        (Selection(table="accounts"), ago(hours=3), "at least one row"),
        (Selection(table="accounts", filters=Filters(table="accounts")), None, "the moment"),
    ],
)
def test_bad_requests_are_refused_with_a_reason_and_change_nothing(
    incident, env_admin, selection, moment, message
):
    before = names(incident)
    with pytest.raises(Refused, match=message):
        put_backs.put_back_start(
            PutBackRequest(
                environment=incident, requested_by=env_admin, selection=selection, moment=moment
            )
        )
    assert names(incident) == before
    assert not RestoreOperation.objects.exists()


def test_a_table_made_after_the_moment_cannot_be_put_back_as_it_was_then(
    incident, env_admin, clock
):
    make_table(incident, "late", columns=NAMES)
    with pytest.raises(Refused, match="had no table 'late' at that moment"):
        put_backs.put_back_start(
            PutBackRequest(
                environment=incident,
                requested_by=env_admin,
                selection=Selection(table="late", keys=("x",)),
                moment=ago(hours=3),
            )
        )


def test_a_maker_cannot_put_rows_back(incident, maker):
    with pytest.raises(NotAllowed, match="cannot put its rows back"):
        put_backs.put_back_start(
            PutBackRequest(
                environment=incident,
                requested_by=maker,
                selection=Selection(table="accounts", keys=("a",)),
                moment=ago(hours=3),
            )
        )


def test_it_is_refused_while_the_environment_is_being_restored(incident, env_admin):
    incident.state = EnvironmentState.RESTORING
    incident.save(update_fields=["state"])
    with pytest.raises(Conflict, match="is restoring; you cannot put rows back"):
        put_backs.put_back_start(
            PutBackRequest(
                environment=incident,
                requested_by=env_admin,
                selection=Selection(table="accounts", keys=("a",)),
                moment=ago(hours=3),
            )
        )


def test_one_idempotency_key_makes_one_operation(incident, env_admin, put_back):
    kwargs = dict(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(table="accounts", keys=("a",)),
        moment=ago(hours=3),
        idempotency_key="fix-a",
    )
    first, again = put_back(**kwargs), put_back(**kwargs)
    assert first.pk == again.pk
    with pytest.raises(Conflict, match="another request"):
        put_back(**{**kwargs, "selection": Selection(table="accounts", keys=("b",))})


# -- the property --------------------------------------------------------------------------------

WRITES = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete", "restore", "put_back", "table", "undo"]),
        st.integers(0, 6),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=WRITES, chosen=st.sets(st.integers(0, 6), min_size=1), back=st.integers(0, 20))
def test_after_a_put_back_chosen_rows_read_as_at_the_moment_and_the_rest_as_before(
    db, django_capture_on_commit_callbacks, writes, chosen, back
):
    start = datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        env = EnvironmentFactory(created_at=start - datetime.timedelta(days=1))
        admin = User.objects.create(username=f"pb-{env.pk}", tenant_role="global_admin")
        make_table(env, "t", columns=[{"name": "v", "type": "integer"}])
        moments, last_put_back = [start], None

        def run(request_or_undo):
            with django_capture_on_commit_callbacks(execute=True):
                op = request_or_undo()
            op.refresh_from_db()
            assert op.status == "succeeded", op.error
            return op

        for op_name, k, v in writes:
            clock.shift(10)
            key, live = f"k{k}", store.current(env)
            current = live.rows(live.table("t")).filter(key=key).first()
            if op_name == "restore":
                _restore_onto_itself(env, admin, moments[len(moments) // 2])
            elif op_name == "put_back":
                last_put_back = run(
                    lambda key=key: put_backs.put_back_start(
                        PutBackRequest(
                            environment=env,
                            requested_by=admin,
                            selection=Selection(table="t", keys=(key, "k0")),
                            moment=moments[len(moments) // 3],
                        )
                    )
                )
            elif op_name == "table":  # the whole table as it was (by lineage), undone later
                last_put_back = run(
                    lambda: put_backs.put_back_start(
                        PutBackRequest(
                            environment=env,
                            requested_by=admin,
                            selection=Selection(table="t", whole=True),
                            moment=moments[len(moments) // 2],
                        )
                    )
                )
            elif op_name == "undo" and last_put_back is not None:
                run(lambda op=last_put_back: put_backs.put_back_undo(operation=op, actor=admin))
                last_put_back = None
            else:
                with store.changes(env) as cs:
                    t = cs.table("t")
                    if op_name == "create" and current is None:
                        cs.create_row(t, {"v": v}, key=key)
                    elif op_name == "update" and current is not None:
                        cs.update_row(t, key, {"v": v})
                    elif current is not None and op_name == "delete":
                        cs.delete_row(t, key)
            env.refresh_from_db()
            moments.append(env.last_change_at)
        clock.shift(10)
        moment = moments[min(back, len(moments) - 1)]
        keys = tuple(f"k{k}" for k in sorted(chosen))
        then = store.as_of(env, moment).as_dict().get("t", {})
        before = store.current(env).as_dict()["t"]
        run(
            lambda: put_backs.put_back_start(
                PutBackRequest(
                    environment=env,
                    requested_by=admin,
                    selection=Selection(table="t", keys=keys),
                    moment=moment,
                )
            )
        )
        after = store.current(env).as_dict()["t"]
        for key in set(before) | set(after) | set(then):
            expected = then.get(key) if key in keys else before.get(key)
            assert after.get(key) == expected, key
        # The figures the store keeps (rows, bytes, history, shared) still match the versions.
        assert_stored_figures(env)
        changes = changelog.page(env, Span(moment, env.last_change_at), size=500).changes
        assert changes is not None  # and the changes list reads through it all without error


def _restore_onto_itself(env, admin, moment):
    from backups import engine, restores

    op = restores.restore_start(
        restores.RestoreRequest(source=env, target=env, moment=moment, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"


def test_a_put_back_that_fails_halfway_changes_nothing_and_says_so(
    incident, env_admin, put_back, monkeypatch
):
    from backups import put_back_engine

    before = names(incident)
    calls = []
    real = store.ChangeSet.put_back_from

    def second_chunk_fails(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(put_back_engine, "CHUNK", 2)  # three chunks for a, c, f
    monkeypatch.setattr(store.ChangeSet, "put_back_from", second_chunk_fails)
    op = put_back(
        environment=incident,
        requested_by=env_admin,
        selection=Selection(table="accounts", keys=("a", "c", "f")),
        moment=ago(hours=3),
    )
    assert op.status == "failed" and "the disk is full" in op.error
    assert names(incident) == before  # the first chunk's writes rolled back with it
    incident.refresh_from_db()
    assert incident.state == EnvironmentState.READY
    assert not ChangeBatch.objects.filter(environment=incident, at__gt=ago(hours=1)).exists()
