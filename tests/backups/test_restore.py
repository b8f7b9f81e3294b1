import datetime

import pytest
import time_machine
from django.db import IntegrityError, transaction

from backups import console, engine, housekeeping, restores, services, undos
from backups.models import ManualBackup, RestoreOperation
from environments import store
from environments.models import Environment, EnvironmentState, Generation, RowVersion
from environments.services import environment_change_type, environment_set_admin_mode
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import NOW, EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


def test_a_cross_environment_restore_equals_the_source_as_of_the_moment(
    admin, source, target, run_restore
):
    moment = ago(days=2, hours=-1)
    expected = store.as_of(source, moment).as_dict()
    op = run_restore(source=source, target=target, moment=moment, requested_by=admin)
    assert op.status == "succeeded", op.error
    assert store.current(target).as_dict() == expected
    assert expected["accounts"]["b"]["name"] == "Beta 2" and "a" in expected["accounts"]
    assert (op.tables_done, op.tables_total, op.rows_copied, op.rows_total) == (2, 2, 4, 4)


def test_a_self_restore_brings_back_the_old_rows(admin, target, run_restore):
    before = store.current(target).as_dict()
    with time_machine.travel(ago(hours=2), tick=False):
        store.row_update(
            environment=target, table_name="leads", key="l1", values={"title": "Changed"}
        )
        store.row_create(environment=target, table_name="leads", values={"title": "New"})
    op = run_restore(source=target, target=target, moment=ago(hours=3), requested_by=admin)
    assert op.status == "succeeded", op.error
    assert store.current(target).as_dict() == before


def test_after_a_restore_the_target_is_ready_in_admin_mode_and_renamed(
    admin, source, target, run_restore
):
    op = run_restore(
        source=source,
        target=target,
        moment=ago(days=1),
        requested_by=admin,
        new_name="Contoso Copy",
        security_group="",
    )
    target.refresh_from_db()
    assert (target.state, target.admin_mode, target.name, target.security_group) == (
        "ready",
        True,
        "Contoso Copy",
        "",
    )
    assert op.finished_at is not None and op.phase == "done"
    assert AuditEvent.objects.filter(action="restore.succeed", environment=target).exists()


def test_the_security_group_stays_unless_asked(admin, source, target, run_restore):
    run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    target.refresh_from_db()
    assert target.security_group == "Testers" and target.name == "Contoso Test"


def test_the_target_keeps_its_history_and_the_restore_ends_one_generation(
    admin, source, target, run_restore
):
    old_rows = RowVersion.objects.filter(table__generation__environment=target).count()
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    generations = list(Generation.objects.filter(environment=target).order_by("valid_from"))
    assert len(generations) == 2 and generations[0].valid_to == generations[1].valid_from
    assert generations[1] == op.generation
    # The old versions are untouched: still there, still open inside the ended generation.
    assert RowVersion.objects.filter(table__generation=generations[0]).count() == old_rows
    assert store.as_of(target, generations[1].valid_from - store.TICK).as_dict()["leads"]


def test_it_records_a_backup_on_the_target_just_before_the_overwrite(
    admin, source, target, run_restore
):
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    before = op.pre_restore_backup
    assert before.environment == target and before.kind == "pre_restore"
    assert before.label.startswith("Before restore from Contoso Prod at ")
    assert before.backup_at == op.generation.valid_from - store.TICK


def test_undo_puts_the_target_back_as_it_was(
    admin, source, target, run_restore, django_capture_on_commit_callbacks
):
    before = store.current(target).as_dict()
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    assert store.current(target).as_dict() != before
    with django_capture_on_commit_callbacks(execute=True):
        undo = undos.restore_undo(operation=op, actor=admin)
    undo.refresh_from_db()
    assert undo.status == "succeeded" and undo.undo_of == op
    assert store.current(target).as_dict() == before
    assert AuditEvent.objects.filter(action="restore.undo").exists()


def test_only_a_succeeded_restore_can_be_undone(admin, source, target):
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    with pytest.raises(Refused, match="succeeded"):
        undos.restore_undo(operation=op, actor=admin)


def test_a_manual_backup_can_be_restored(admin, source, target, run_restore):
    with time_machine.travel(ago(days=2, hours=-2), tick=False):
        backup = services.backup_create(environment=source, label="Checkpoint", actor=admin)
    op = run_restore(source=source, target=target, backup=backup, requested_by=admin)
    assert op.moment == backup.backup_at and op.backup == backup
    assert store.current(target).as_dict() == store.as_of(source, backup.backup_at).as_dict()


# -- the rules, each refused with its message, nothing changed ----------------------------------


def refused(exc_type, match, **kwargs):
    before = (
        RestoreOperation.objects.count(),
        list(Environment.objects.values_list("state", flat=True)),
    )
    with pytest.raises(exc_type, match=match):
        restores.restore_start(restores.RestoreRequest(**kwargs))
    assert (
        RestoreOperation.objects.count(),
        list(Environment.objects.values_list("state", flat=True)),
    ) == before


def test_it_refuses_a_production_target_with_the_hint_to_convert(admin, source):
    refused(
        Refused,
        "Only sandbox environments can be restored to.*Convert it to a sandbox",
        source=source,
        target=source,
        moment=ago(days=1),
        requested_by=admin,
    )


def test_it_refuses_a_trial_target(admin, source, db):
    trial = EnvironmentFactory(type="trial", created_at=ago(days=3))
    refused(
        Refused, "Only sandbox", source=source, target=trial, moment=ago(days=1), requested_by=admin
    )


def test_it_refuses_another_region(admin, source, db):
    far = EnvironmentFactory(type="sandbox", region="europe", created_at=ago(days=3))
    refused(
        Refused,
        "must share a region",
        source=source,
        target=far,
        moment=ago(days=1),
        requested_by=admin,
    )


@pytest.mark.parametrize(
    "moment, match",
    [
        (ago(days=29), "outside that window"),
        (NOW + datetime.timedelta(minutes=1), "outside that window"),
    ],
)
def test_it_refuses_a_moment_outside_the_window(admin, source, target, moment, match):
    refused(Refused, match, source=source, target=target, moment=moment, requested_by=admin)


def test_it_refuses_a_naive_moment(admin, source, target):
    refused(
        Refused,
        "time zone",
        source=source,
        target=target,
        moment=datetime.datetime(2026, 11, 19, 12),
        requested_by=admin,
    )


def test_it_refuses_an_expired_or_foreign_backup(admin, source, target):
    backup = services.backup_create(environment=target, label="b", actor=admin)
    refused(
        Refused,
        "another environment",
        source=source,
        target=target,
        backup=backup,
        requested_by=admin,
    )
    ManualBackup.objects.filter(pk=backup.pk).update(expires_at=ago(seconds=1))
    backup.refresh_from_db()
    refused(Refused, "expired", source=target, target=target, backup=backup, requested_by=admin)


def test_it_refuses_a_requester_who_does_not_manage_the_source(env_admin, source, target):
    refused(
        NotAllowed,
        "do not manage Contoso Prod",
        source=source,
        target=target,
        moment=ago(days=1),
        requested_by=env_admin,
    )


def test_it_refuses_a_requester_who_does_not_manage_the_target(env_admin, maker, target, db):
    refused(
        NotAllowed,
        "do not manage",
        source=target,
        target=target,
        moment=ago(days=1),
        requested_by=maker,
    )


def test_it_refuses_a_bad_new_name(admin, source, target):
    refused(
        Refused,
        "1 to 100",
        source=source,
        target=target,
        moment=ago(days=1),
        requested_by=admin,
        new_name="  ",
    )


def test_it_refuses_a_second_restore_while_one_is_queued(admin, source, target):
    restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    refused(
        Conflict, "restoring", source=source, target=target, moment=ago(days=2), requested_by=admin
    )


def test_the_database_allows_one_active_restore_per_target(admin, source, target):
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RestoreOperation.objects.create(
            source=source,
            target=target,
            moment=ago(days=2),
            requested_by=admin,
            idempotency_key="other",
            created_at=NOW,
        )
    assert RestoreOperation.objects.filter(target=target).count() == 1
    assert op.status == "queued"


def test_the_same_idempotency_key_never_starts_two_operations(admin, source, target):
    first = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="deploy-42",
        )
    )
    second = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="deploy-42",
        )
    )
    assert first == second and RestoreOperation.objects.count() == 1


def test_while_queued_every_other_change_to_the_target_is_refused(admin, source, target):
    backup = services.backup_create(environment=target, label="keep", actor=admin)
    restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    target.refresh_from_db()
    assert target.state == EnvironmentState.RESTORING
    with pytest.raises(store.StoreError, match="restoring"):
        store.row_create(environment=target, table_name="leads", values={"title": "x"})
    with pytest.raises(Conflict):
        environment_change_type(environment=target, new_type="production", actor=admin)
    with pytest.raises(Conflict):
        services.backup_delete(backup=backup, actor=admin)
    with pytest.raises(Conflict):
        environment_set_admin_mode(environment=target, enabled=True, actor=admin)


# -- failure -----------------------------------------------------------------------------------


def test_a_failure_mid_copy_leaves_the_target_exactly_as_it_was(
    admin, source, target, run_restore, monkeypatch
):
    before = store.current(target).as_dict()
    generations = list(Generation.objects.filter(environment=target).values_list("pk", "valid_to"))
    versions = RowVersion.objects.count()

    def explode(operation, table):
        if table.name == "contacts":  # the second table: the first is already copied
            raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "after_table_copied", explode)
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    assert op.status == "failed" and "disk full" in op.error and "nothing was changed" in op.error
    target.refresh_from_db()
    assert target.state == "ready" and not target.admin_mode
    assert store.current(target).as_dict() == before
    assert (
        list(Generation.objects.filter(environment=target).values_list("pk", "valid_to"))
        == generations
    )
    assert RowVersion.objects.count() == versions
    assert not ManualBackup.objects.filter(environment=target, kind="pre_restore").exists()
    assert AuditEvent.objects.filter(action="restore.fail", outcome="failed").exists()


def test_a_stale_running_restore_is_failed_by_the_sweep(admin, source, target, clock, settings):
    settings.RESTORE_STALE_AFTER = datetime.timedelta(minutes=5)
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    RestoreOperation.objects.filter(pk=op.pk).update(
        status="running", started_at=NOW, heartbeat_at=NOW
    )
    assert housekeeping.restore_sweep_stale(now=NOW + datetime.timedelta(minutes=4)) == 0
    assert housekeeping.restore_sweep_stale(now=NOW + datetime.timedelta(minutes=6)) == 1
    op.refresh_from_db()
    target.refresh_from_db()
    assert op.status == "failed" and "stopped reporting" in op.error
    assert target.state == "ready"


def test_a_restore_failed_by_support_does_not_run(admin, support, source, target):
    from django.contrib.auth.models import Group

    support.groups.add(Group.objects.get(name="Support staff"))
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    console.restore_mark_stale_failed(operation=op, actor=support)
    assert engine.restore_run(op.pk) == "failed"
    assert store.current(target).as_dict()["leads"]


def test_support_can_retry_a_failed_restore(
    admin, support, source, target, run_restore, monkeypatch, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    support.groups.add(Group.objects.get(name="Support staff"))
    monkeypatch.setattr(
        engine, "after_table_copied", lambda op, t: (_ for _ in ()).throw(RuntimeError("flaky"))
    )
    failed = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    monkeypatch.setattr(engine, "after_table_copied", lambda op, t: None)
    with django_capture_on_commit_callbacks(execute=True):
        retry = console.restore_retry(operation=failed, actor=support)
    retry.refresh_from_db()
    assert retry.status == "succeeded" and retry.retry_of == failed
    assert retry.requested_by == admin
    with pytest.raises(NotAllowed):
        console.restore_retry(operation=failed, actor=admin)
