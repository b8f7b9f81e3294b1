"""Every worker keeps house: restores whose worker died are failed and their targets freed
(running and silent, or claimed and never started), their task rows closed, and backups purged
on a schedule. Real worker processes are in test_dead_workers.py."""

import datetime

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from backups import housekeeping, restores, services
from backups.models import ManualBackup, RestoreOperation
from tests.factories import NOW, ago

pytestmark = pytest.mark.usefixtures("clock")
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def queued(admin, source, target, settings):
    """A restore recorded and queued in the database queue, as a worker would find it."""
    settings.TASKS_BACKEND = "default"
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    task = DBTaskResult.objects.create(
        args_kwargs={"args": [op.pk], "kwargs": {}},
        task_path="backups.tasks.restore_task",
        backend_name="default",
        run_after=NOW,
    )
    RestoreOperation.objects.filter(pk=op.pk).update(task_id=str(task.pk))
    op.refresh_from_db()
    return op, task


def claimed(task, at):
    DBTaskResult.objects.filter(pk=task.pk).update(
        status=TaskResultStatus.RUNNING, started_at=at, worker_ids=["w1"]
    )


def later(seconds):
    return NOW + seconds * SECOND


def test_a_task_waiting_for_a_worker_is_left_alone(queued, target):
    op, task = queued
    assert housekeeping.restore_sweep_stale(now=later(3600)) == 0
    op.refresh_from_db()
    assert op.status == "queued"


def test_a_task_claimed_by_a_worker_that_died_before_starting_is_freed(queued, target):
    op, task = queued
    claimed(task, NOW)
    assert housekeeping.restore_sweep_stale(now=later(29)) == 0  # within the 30 s stale limit
    assert housekeeping.restore_sweep_stale(now=later(31)) == 1
    op.refresh_from_db()
    target.refresh_from_db()
    task.refresh_from_db()
    assert op.status == "failed" and "stopped before it began" in op.error
    assert target.state == "ready"
    assert task.status == TaskResultStatus.FAILED and task.finished_at == later(31)
    assert "stale-restore sweep" in task.traceback


def test_a_task_that_finished_without_starting_its_restore_is_freed(queued, target):
    op, task = queued
    DBTaskResult.objects.filter(pk=task.pk).update(status=TaskResultStatus.FAILED)
    assert housekeeping.restore_sweep_stale(now=later(31)) == 1
    target.refresh_from_db()
    assert target.state == "ready"


def test_a_running_restore_is_freed_after_its_heartbeat_stops(queued, target):
    op, task = queued
    claimed(task, NOW)
    RestoreOperation.objects.filter(pk=op.pk).update(
        status="running", started_at=NOW, heartbeat_at=later(20)
    )
    assert housekeeping.restore_sweep_stale(now=later(49)) == 0
    assert housekeeping.restore_sweep_stale(now=later(51)) == 1
    op.refresh_from_db()
    task.refresh_from_db()
    assert op.status == "failed" and "stopped reporting" in op.error
    assert task.status == TaskResultStatus.FAILED


def test_one_round_frees_dead_restores_and_purges_when_due(queued, source, admin):
    op, task = queued
    RestoreOperation.objects.filter(pk=op.pk).update(created_at=ago(minutes=6))
    claimed(task, ago(minutes=5))
    services.backup_create(environment=source, label="old", actor=admin)
    ManualBackup.objects.update(expires_at=ago(minutes=1))
    housekeeping.run_once(purge_due=False)
    op.refresh_from_db()
    assert op.status == "failed" and ManualBackup.objects.exists()
    housekeeping.run_once(purge_due=True)
    assert not ManualBackup.objects.exists()


def test_a_failing_sweep_does_not_stop_the_round(monkeypatch, caplog):
    monkeypatch.setattr(
        housekeeping,
        "restore_sweep_stale",
        lambda **kw: (_ for _ in ()).throw(RuntimeError("db gone")),
    )
    housekeeping.run_once(purge_due=False)
    assert "The stale-restore sweep failed" in caplog.text


def test_the_worker_command_keeps_house_beside_the_tasks(monkeypatch, db):
    from django_tasks_db.management.commands import db_worker

    events = []
    monkeypatch.setattr(
        housekeeping.Housekeeper, "start", lambda self: events.append("housekeeping")
    )
    monkeypatch.setattr(db_worker.Worker, "run", lambda self: events.append("tasks"))
    call_command("worker", "--no-reload", "--no-startup-delay")
    assert events == ["housekeeping", "tasks"]


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"RESTORE_HEARTBEAT_SECONDS": "30", "RESTORE_STALE_AFTER_SECONDS": "30"}, "HEARTBEAT"),
        ({"HOUSEKEEPING_INTERVAL_SECONDS": "0"}, "HOUSEKEEPING"),
    ],
)
def test_settings_that_would_fail_live_restores_are_refused(env, match):
    from tests.portal.test_settings import _manage

    result = _manage("check", DEBUG="true", **env)
    assert result.returncode != 0 and match in result.stderr


def test_a_purge_is_due_once_the_last_one_by_any_worker_is_an_interval_old(db, settings):
    from backups import purge

    assert housekeeping.purge_due() is True
    purge.backups_purge()  # recorded in the audit log
    assert housekeeping.purge_due() is False
    later = NOW + settings.PURGE_INTERVAL + datetime.timedelta(seconds=1)
    assert housekeeping.purge_due(later) is True
