import datetime
import io

import pytest
import time_machine
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups import engine, purge, restores, selectors, services
from backups.models import ManualBackup
from environments import store
from environments.models import DataTable, Generation, RowVersion
from portal.models import AuditEvent
from tests.factories import EnvironmentFactory, UserFactory, make_table

T0 = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)

STEP = st.one_of(
    st.tuples(st.just("write"), st.sampled_from("abcde"), st.sampled_from(["set", "delete"])),
    st.tuples(st.just("backup"), st.integers(0, 3), st.none()),
    st.tuples(st.just("restore"), st.floats(0.1, 0.9), st.none()),
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["production", "sandbox"]),
    steps=st.lists(st.tuples(STEP, st.floats(0.2, 4.0)), min_size=3, max_size=25),
    purge_after=st.floats(0, 12),
)
def test_after_a_purge_every_backup_and_every_window_moment_restores_as_before(
    kind, steps, purge_after
):
    admin = UserFactory(tenant_role="global_admin")
    env = EnvironmentFactory(type=kind, created_at=T0)
    with time_machine.travel(T0, tick=False):
        table = make_table(env, "t", columns=[{"name": "v", "type": "integer"}])
    clock = T0
    for n, ((action, arg, how), wait_days) in enumerate(steps, start=1):
        clock += wait_days * DAY
        with time_machine.travel(clock, tick=False):
            if action == "write":
                live = store.current(env).table("t")
                exists = store.current(env).rows(live).filter(key=arg).exists()
                if how == "set" and exists:
                    store.row_update(environment=env, table_name="t", key=arg, values={"v": n})
                elif how == "set":
                    store.row_create(environment=env, table_name="t", key=arg, values={"v": n})
                elif exists:
                    store.row_delete(environment=env, table_name="t", key=arg)
            elif action == "backup":
                env.refresh_from_db()
                window = env.restorable_window()
                moment = max(window.start, clock - arg * DAY)
                services.backup_create(environment=env, label=f"b{n}", actor=admin, moment=moment)
            else:
                env.refresh_from_db()
                window = env.restorable_window()
                moment = window.start + (window.end - window.start) * arg
                op = (
                    restores.restore_start(
                        restores.RestoreRequest(
                            source=env, target=env, moment=moment, requested_by=admin
                        )
                    )
                    if kind == "sandbox"
                    else None
                )
                if op is not None:
                    assert engine.restore_run(op.pk) == "succeeded"
    now = clock + purge_after * DAY
    env.refresh_from_db()
    window = env.restorable_window(now=now)
    probes = {window.start, window.end}
    span = window.end - window.start
    probes |= {window.start + span * (i / 20) for i in range(21)}
    for version in RowVersion.objects.filter(table__generation__environment=env):
        for edge in (version.valid_from, version.valid_to):
            if edge and window.start <= edge <= window.end:
                probes |= {edge, edge - store.TICK}
    kept = list(ManualBackup.objects.filter(environment=env, expires_at__gt=now))
    probes |= {b.backup_at for b in kept}
    probes = {p for p in probes if p >= window.start or p in {b.backup_at for b in kept}}
    before = {p: store.as_of(env, p).as_dict() for p in probes}

    with time_machine.travel(now, tick=False):
        result = purge.backups_purge(now=now)

    env.refresh_from_db()
    for moment, expected in before.items():
        assert store.as_of(env, moment).as_dict() == expected, moment
    floor = purge.history_floor(env, now)
    # What ended at or before the floor is gone, except what a restored table (a branch) still
    # reads and, in a branch, a key's newest version by the floor (it hides the base's row).
    for version in RowVersion.objects.filter(
        table__generation__environment=env, valid_to__lte=floor
    ).select_related("table"):
        read = DataTable.objects.filter(base=version.table, base_at__lt=version.valid_to)
        newer = RowVersion.objects.filter(
            table=version.table,
            key=version.key,
            valid_from__gt=version.valid_from,
            valid_from__lte=floor,
        )
        assert read.exists() or (version.table.base_id and not newer.exists()), version
    for generation in Generation.objects.filter(environment=env, valid_to__lte=floor):
        assert DataTable.objects.filter(base__generation=generation).exists(), generation
    assert not ManualBackup.objects.filter(expires_at__lte=now).exists()
    assert result.environments[env.slug] == floor.isoformat()
    assert table.pk  # the first table may be gone with its generation; the env still reads


@pytest.mark.django_db
def test_purge_deletes_expired_backups_and_unreachable_history_and_is_audited(global_admin):
    env = EnvironmentFactory(type="sandbox", created_at=T0)
    with time_machine.travel(T0, tick=False):
        make_table(env, "t", columns=[{"name": "v", "type": "integer"}])
        store.row_create(environment=env, table_name="t", key="a", values={"v": 1})
    with time_machine.travel(T0 + DAY, tick=False):
        store.row_update(environment=env, table_name="t", key="a", values={"v": 2})
        services.backup_create(environment=env, label="old", actor=global_admin)
    now = T0 + 20 * DAY
    with time_machine.travel(now, tick=False):
        call_command("purge_backups")
    assert not ManualBackup.objects.exists()
    assert [v.values for v in RowVersion.objects.all()] == [{"v": 2}]
    env.refresh_from_db()
    assert env.purged_before == now - 7 * DAY
    assert AuditEvent.objects.filter(action="backup.purge", environment=env).exists()
    assert AuditEvent.objects.filter(action="backup.expire").exists()
    assert AuditEvent.objects.filter(action="purge").exists()


@pytest.mark.django_db
def test_converting_back_to_production_does_not_revive_purged_history(global_admin):
    from environments.services import environment_change_type

    env = EnvironmentFactory(type="sandbox", created_at=T0)
    now = T0 + 30 * DAY
    with time_machine.travel(now, tick=False):
        purge.backups_purge(now=now)
        environment_change_type(environment=env, new_type="production", actor=global_admin)
        env.refresh_from_db()
        assert env.restorable_window().start == now - 7 * DAY


@pytest.mark.django_db
def test_purge_keeps_what_a_queued_restore_still_needs(global_admin):
    env = EnvironmentFactory(type="sandbox", created_at=T0)
    with time_machine.travel(T0, tick=False):
        make_table(env, "t", columns=[{"name": "v", "type": "integer"}])
        store.row_create(environment=env, table_name="t", key="a", values={"v": 1})
    with time_machine.travel(T0 + 6 * DAY, tick=False):
        store.row_update(environment=env, table_name="t", key="a", values={"v": 2})
        op = restores.restore_start(
            restores.RestoreRequest(
                source=env, target=env, moment=T0 + DAY, requested_by=global_admin
            )
        )
    now = T0 + 9 * DAY  # the window now starts after the restore's moment
    purge.backups_purge(now=now)
    assert store.as_of(env, op.moment).as_dict() == {"t": {"a": {"v": 1}}}
    with time_machine.travel(now, tick=False):
        assert engine.restore_run(op.pk) == "succeeded"
    assert store.current(env).as_dict() == {"t": {"a": {"v": 1}}}


@pytest.mark.django_db
def test_a_trials_history_is_kept_for_the_grace_a_copy_of_it_is_checked_with():
    """A trial is not backed up (its window is only "now"), but a copy of it asked for a
    moment ago must still find that moment: purge keeps START_GRACE of its history."""
    now = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)
    trial = EnvironmentFactory(type="trial", created_at=now - datetime.timedelta(days=3))
    assert trial.restorable_window(now=now).start == now
    assert purge.history_floor(trial, now) == now - selectors.START_GRACE


@pytest.mark.django_db
def test_purge_reports_the_tables_and_versions_it_removed_not_what_cascaded_with_them(
    global_admin,
):
    """QuerySet.delete() counts every row that cascaded (a table's row counts above all): the
    purge's figures must count only the things they name, everywhere they are shown."""
    env = EnvironmentFactory(type="sandbox", created_at=T0)
    with time_machine.travel(T0, tick=False):
        for name in ("gone1", "gone2", "gone3", "kept"):
            make_table(env, name, columns=[{"name": "v", "type": "integer"}])
    for n in range(5):  # one transaction each: every write adds a row count to its table
        with time_machine.travel(T0 + (n + 1) * datetime.timedelta(minutes=1), tick=False):
            for name in ("gone1", "gone2", "gone3", "kept"):
                store.row_create(environment=env, table_name=name, key=f"k{n}", values={"v": n})
    with time_machine.travel(T0 + DAY, tick=False):
        store.row_update(environment=env, table_name="kept", key="k0", values={"v": 9})
        with store.changes(env) as cs:
            for name in ("gone1", "gone2", "gone3"):
                cs.drop_table(cs.table(name))
        services.backup_create(environment=env, label="old", actor=global_admin)
    assert env.generations.get().tables.first().counts.count() > 1
    tables_before, versions_before = DataTable.objects.count(), RowVersion.objects.count()

    now = T0 + 20 * DAY
    with time_machine.travel(now, tick=False):
        result = purge.backups_purge(now=now)

    tables_removed = tables_before - DataTable.objects.count()
    versions_removed = versions_before - RowVersion.objects.count()
    assert (tables_removed, versions_removed) == (3, 3 * 5 + 1)
    assert (result.tables_deleted, result.versions_deleted) == (3, 16)
    assert (result.generations_deleted, result.backups_deleted) == (0, 1)
    env_event = AuditEvent.objects.get(action="backup.purge", environment=env)
    assert (env_event.details["tables"], env_event.details["versions"]) == (3, 16)
    assert "(16 versions)" in env_event.summary
    event = AuditEvent.objects.get(action="purge")
    assert (event.details["tables_deleted"], event.details["versions_deleted"]) == (3, 16)
    assert (event.details["backups_deleted"], event.details["generations_deleted"]) == (1, 0)


@pytest.mark.django_db
def test_purge_backups_says_how_many_tables_and_versions_it_removed(global_admin):
    env = EnvironmentFactory(type="sandbox", created_at=T0)
    with time_machine.travel(T0, tick=False):
        make_table(env, "t", columns=[{"name": "v", "type": "integer"}])
    for n in range(4):
        with time_machine.travel(T0 + (n + 1) * datetime.timedelta(minutes=1), tick=False):
            store.row_create(environment=env, table_name="t", key=f"k{n}", values={"v": n})
    with time_machine.travel(T0 + DAY, tick=False), store.changes(env) as cs:
        cs.drop_table(cs.table("t"))
    out = io.StringIO()
    with time_machine.travel(T0 + 20 * DAY, tick=False):
        call_command("purge_backups", stdout=out)
    assert "Deleted 0 expired backups, 4 row versions, 1 tables, 0 generations" in out.getvalue()
