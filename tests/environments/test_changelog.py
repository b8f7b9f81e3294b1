"""The changes between two moments, row by row: what each write added, changed or deleted,
when, by whom and which fields, through restores (copy-on-write branches) too; checked against
snapshots of the data before and after every write."""

import datetime

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups import engine, restores
from environments import changelog, store
from environments.changelog import Filters, Span
from environments.models import ChangeBatch
from portal.models import User
from tests.factories import EnvironmentFactory, ago, make_table

pytestmark = pytest.mark.django_db

EVERYTHING = Span(ago(days=10), ago(seconds=0))


ALL = Filters()


def listed(env, span=EVERYTHING, f=ALL, size=50):
    """(table, key, kind, moment to the second): a second write at a frozen moment takes the
    next microsecond."""
    return [
        (c.table.name, c.key, c.kind, c.at.replace(microsecond=0))
        for c in changelog.page(env, span, f, size=size).changes
    ]


def test_it_lists_each_write_newest_first_with_its_kind(source, clock):
    assert listed(source) == [
        ("accounts", "a", "deleted", ago(days=1)),
        ("contacts", "x", "added", ago(days=2)),
        ("accounts", "c", "added", ago(days=2)),
        ("accounts", "b", "changed", ago(days=2)),
        ("accounts", "b", "added", ago(days=3)),
        ("accounts", "a", "added", ago(days=3)),
    ]


def test_the_counts_say_per_table_how_many_rows_were_added_changed_and_deleted(source, clock):
    counts = {
        c.table.name: (c.added, c.changed, c.deleted) for c in changelog.counts(source, EVERYTHING)
    }
    assert counts == {"accounts": (3, 1, 1), "contacts": (1, 0, 0)}
    later = Span(ago(days=2, seconds=1), ago(seconds=0))
    assert {c.table.name: c.total for c in changelog.counts(source, later)} == {
        "accounts": 3,
        "contacts": 1,
    }


def test_each_change_shows_the_fields_it_changed_before_and_after(source, clock):
    changed, deleted = (
        changelog.page(source, EVERYTHING, Filters(kind=k)).changes[0]
        for k in ("changed", "deleted")
    )
    assert changed.fields == [("Account name", "Beta", "Beta 2")]
    assert (changed.before["name"], changed.after["name"]) == ("Beta", "Beta 2")
    assert deleted.title == "Alpha" and deleted.after is None
    assert deleted.fields[0] == ("Account name", "Alpha", "")


def test_it_says_who_made_each_change(clock, sandbox, accounts, maker, env_admin):
    with store.changes(sandbox, by=store.Author.person(maker)) as cs:
        cs.create_row(accounts, {"name": "Fabrikam"}, key="f")
    clock.shift(60)
    with store.changes(sandbox, by=store.Author.person(env_admin, via=ChangeBatch.Via.API)) as cs:
        cs.update_row(accounts, "f", {"name": "Fabrikam Inc"})
    clock.shift(60)
    store.row_delete(environment=sandbox, table_name="accounts", key="f")
    span = Span(ago(days=1), ago(seconds=-120))
    who = [(c.kind, c.who) for c in changelog.page(sandbox, span).changes]
    assert who == [
        ("deleted", "Unknown"),
        ("changed", f"{env_admin.username} (API)"),
        ("added", maker.username),
    ]
    by_maker = changelog.page(sandbox, span, Filters(who=maker.username)).changes
    assert [c.kind for c in by_maker] == ["added"]
    unknown = changelog.page(sandbox, span, Filters(who=changelog.UNKNOWN_AUTHOR)).changes
    assert [c.kind for c in unknown] == ["deleted"]


def test_filters_narrow_the_list_and_the_counts(source, clock):
    assert listed(source, f=Filters(table="contacts")) == [("contacts", "x", "added", ago(days=2))]
    assert [k for _, k, _, _ in listed(source, f=Filters(q="Gam"))] == ["c"]
    assert [k for _, k, _, _ in listed(source, f=Filters(q="b"))] == ["b", "b"]
    assert listed(source, f=Filters(kind="deleted")) == [("accounts", "a", "deleted", ago(days=1))]
    assert changelog.counts(source, EVERYTHING, Filters(q="nothing-matches")) == []


def test_one_rows_history_is_its_changes(source, clock):
    assert [k for _, _, k, _ in listed(source, f=Filters(table="accounts", key="b"))] == [
        "changed",
        "added",
    ]


def test_a_filter_matching_nothing_lists_nothing(source, clock):
    assert changelog.page(source, EVERYTHING, Filters(who="nobody")).changes == []


def test_a_table_the_environment_never_had_is_refused(source, clock):
    with pytest.raises(changelog.ChangesRefused, match="no table 'ghosts'"):
        changelog.page(source, EVERYTHING, Filters(table="ghosts"))


def test_a_reversed_or_future_or_too_old_range_is_refused(source, clock):
    with pytest.raises(changelog.ChangesRefused, match="before its end"):
        changelog.span_for(source, ago(days=1), ago(days=2), now=ago(seconds=0))
    with pytest.raises(changelog.ChangesRefused, match="future"):
        changelog.span_for(source, ago(days=1), ago(days=-1), now=ago(seconds=0))
    with pytest.raises(changelog.ChangesRefused, match="no longer kept"):
        changelog.span_for(source, ago(days=60), ago(days=1), now=ago(seconds=0))


def test_an_unknown_kind_is_refused():
    with pytest.raises(changelog.ChangesRefused, match="no kind of change"):
        Filters(kind="renamed")


def test_pages_follow_each_other_without_a_gap_or_a_repeat(clock, sandbox, accounts):
    for n in range(7):
        with store.changes(sandbox) as cs:
            for k in range(9):  # nine changes share each moment: ties broken by key
                key = f"k{k}"
                if n == 0:
                    cs.create_row(accounts, {"name": f"{n}"}, key=key)
                else:
                    cs.update_row(accounts, key, {"name": f"{n}"})
        clock.shift(1)
    span = Span(ago(days=1), ago(seconds=-10))
    seen, after = [], None
    while True:
        found = changelog.page(sandbox, span, after=after, size=4)
        seen += [(c.at, c.key) for c in found.changes]
        if found.next is None:
            break
        after = changelog.Cursor.parse(found.next.token())
    assert len(seen) == 63 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_a_broken_page_link_is_refused_with_a_message():
    with pytest.raises(changelog.ChangesRefused, match="not valid"):
        changelog.Cursor.parse("yesterday~1~a")


def test_in_a_restored_environment_changes_to_rows_it_shares_read_as_changes(
    source, target, run_restore, admin, clock
):
    op = run_restore(source=source, target=target, moment=ago(hours=36), requested_by=admin)
    assert op.status == "succeeded"
    clock.shift(60)
    with store.changes(target) as cs:
        accounts = cs.table("accounts")
        cs.update_row(accounts, "b", {"name": "Beta 3"})  # a base row: shadowed
        cs.delete_row(accounts, "c")  # a base row: a tombstone
        cs.create_row(accounts, {"name": "Delta"}, key="d")
    changes = changelog.page(target, Span(ago(days=1), ago(seconds=-60))).changes
    assert [(c.key, c.kind) for c in changes] == [
        ("d", "added"),
        ("c", "deleted"),
        ("b", "changed"),
    ]
    _, c, b = changes
    assert b.fields == [("Account name", "Beta 2", "Beta 3")]
    assert (c.title, c.before["name"]) == ("Gamma", "Gamma")
    # The restore itself replaced the data at one moment: said apart, not as row changes.
    span = Span(ago(days=6), ago(seconds=-60))
    assert [r.at for r in changelog.restores_in(target, span)] == [op.generation.valid_from]
    assert ("leads", "l1", "added") in [
        (c.table.name, c.key, c.kind) for c in changelog.page(target, span).changes
    ]


# -- against snapshots ---------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete"]), st.integers(0, 5), st.integers(0, 3)
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS, restore_after=st.integers(0, 25))
def test_the_changes_are_exactly_the_differences_between_consecutive_moments(
    db, ops, restore_after
):
    """Random writes (and, at a random point, a restore of the environment onto itself from
    an earlier moment): each write's changes as listed equal the difference between the data
    just before and just after it."""
    start = datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as clock:
        env = EnvironmentFactory(created_at=start - datetime.timedelta(days=1))
        table = make_table(env, "t", columns=[{"name": "v", "type": "integer"}])
        moments = [start]
        for i, (op, k, v) in enumerate(ops):
            clock.shift(10)
            if i == restore_after:
                _restore_onto_itself(env, moments[len(moments) // 2])
                clock.shift(10)
            key = f"k{k}"
            live = store.current(env)
            current = live.rows(live.table("t")).filter(key=key).first()
            with store.changes(env) as cs:
                t = cs.table("t")
                if op == "create" and current is None:
                    cs.create_row(t, {"v": v}, key=key)
                elif op == "update" and current is not None:
                    cs.update_row(t, key, {"v": v})
                elif op == "delete" and current is not None:
                    cs.delete_row(t, key)
            moments.append(env.last_change_at or start)
        for before, after in zip(moments, moments[1:], strict=False):
            if before == after:
                continue
            expected = _diff(env, before, after)
            found = {
                (c.key, c.kind, _v(c.before), _v(c.after))
                for c in changelog.page(env, Span(before, after), size=100).changes
            }
            replaced = changelog.restores_in(env, Span(before, after))
            if not replaced:
                assert found == expected
    del table


def _v(values):
    return None if values is None else values.get("v")


def _diff(env, before, after):
    old = store.as_of(env, before).as_dict().get("t", {})
    new = store.as_of(env, after).as_dict().get("t", {})
    found = set()
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        kind = "added" if a is None else "deleted" if b is None else "changed"
        found.add((key, kind, _v(a), _v(b)))
    return found


def _restore_onto_itself(env, moment):
    """Restore the environment onto itself from `moment`, the worker's part run here (the
    test's transaction never commits, so nothing queued on commit would run)."""
    admin = User.objects.filter(username="changelog-admin").first() or User.objects.create(
        username="changelog-admin", tenant_role="global_admin"
    )
    op = restores.restore_start(
        restores.RestoreRequest(source=env, target=env, moment=moment, requested_by=admin)
    )
    assert engine.restore_run(op.pk)
    env.refresh_from_db()
