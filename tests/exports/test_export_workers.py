"""Exports and restores from a file with real `manage.py worker` processes killed (SIGKILL) in
the middle, and schedules run by several workers and connections at once. PostgreSQL only: it
has the concurrent writers and the separate progress connection these need."""

import datetime
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backups import archive_storage, archives, export_schedules, exports, imports
from backups.models import ArchiveImport, Export, ExportSchedule
from environments import store
from environments.models import DataTable, Environment
from tests.backups.workers import POSTGRES_ONLY, at_once, blocker, wait_until, worker_env
from tests.factories import EnvironmentFactory, UserFactory, make_table

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 2

pytestmark = POSTGRES_ONLY


@pytest.fixture(autouse=True)
def _real_queue_and_shared_storage(settings):
    """The database queue (nothing runs until a worker does), and the backups storage the
    worker processes use too: the test's folder (tests/exports/conftest.py), which
    _start_worker hands them as BACKUP_STORAGE_URL."""
    settings.TASKS_BACKEND = "default"
    made = []
    yield made
    for name, _ in archive_storage.listed("exports"):
        if any(f"/{slug}/" in f"/{name}" for slug in made):
            archive_storage.delete(name)
    for name in made:
        archive_storage.delete(name)


@pytest.fixture
def admin(db):
    return UserFactory(tenant_role="global_admin")


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _bulk_environment(slug: str, tables: int, rows: int) -> Environment:
    """A production environment with `tables` tables of `rows` rows (text with quotes, a
    backslash and unicode), written in SQL."""
    env = EnvironmentFactory(
        type="production",
        slug=slug,
        name=slug.title(),
        created_at=timezone.now() - datetime.timedelta(days=3),
    )
    born = timezone.now() - datetime.timedelta(hours=1)
    for t in range(tables):
        table = make_table(env, f"table{t}")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO environments_rowversion (table_id, key, valid_from, valid_to, "
                '"values", size, title) SELECT %s, key, %s, NULL, v, '
                "octet_length(key) + octet_length(v::text), v ->> 'name' "
                "FROM (SELECT lpad(g::text, 7, '0') AS key, jsonb_build_object('name', "
                "'row \"' || g || '\" \\ é 😀', 'employees', g) AS v "
                "FROM generate_series(1, %s) AS g) AS made",
                [table.pk, born, rows],
            )
    store.recount(env)
    return env


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "worker",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            "0.1",
        ],
        cwd=ROOT,
        env=worker_env(
            BACKUP_STORAGE_URL=f"file://{settings.STORAGES['backups']['OPTIONS']['location']}",
            RESTORE_STALE_AFTER_SECONDS=str(STALE_SECONDS),
            RESTORE_HEARTBEAT_SECONDS="1",
            HOUSEKEEPING_INTERVAL_SECONDS="1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.kill()
    worker.wait(timeout=30)


def _waiting_on(text: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{text}%"],
        )
        return cursor.fetchone() is not None


def _end_sessions_waiting_on(text: str) -> None:
    """The killed worker's session still waits on the lock: end it, as PostgreSQL would once
    it notices the client is gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{text}%"],
        )


def _ended(model, pk):
    found = model.objects.get(pk=pk)
    return not found.is_active and found


def _restored_from(admin, export: Export, made: list) -> Environment:
    """The export's archive restored into a new sandbox (by a worker, which must be running)."""
    slug = _slug("from-file")
    made.append(slug)
    op = imports.import_start(
        requested_by=admin, file_name=export.file_name, name=slug.title(), slug=slug
    )
    try:
        done = wait_until(lambda: _ended(ArchiveImport, op.pk), timeout=60, what="the import")
    except AssertionError:
        op.refresh_from_db()
        task = DBTaskResult.objects.filter(pk=op.task_id).values().first()
        raise AssertionError((op.status, op.phase, op.error, op.task_id, task)) from None
    assert done.status == ArchiveImport.Status.SUCCEEDED, done.error
    return Environment.objects.get(slug=slug)


def test_a_worker_killed_mid_export_leaves_nothing_done_and_the_next_run_redoes_it(
    admin, _real_queue_and_shared_storage
):
    made = _real_queue_and_shared_storage
    env = _bulk_environment(_slug("kill-mid"), tables=2, rows=3000)
    made.append(env.slug)
    second = DataTable.objects.get(generation__environment=env, name="table1")
    export = exports.export_start(environment=env, requested_by=admin)
    export.refresh_from_db()
    lock = blocker()
    worker = _start_worker()
    partition = f"environments_rowversion_t{second.pk}"
    try:
        # The second table's rows cannot be read: the worker writes the first table's part,
        # then waits in the middle of the archive.
        lock.execute(f'LOCK TABLE "{partition}" IN ACCESS EXCLUSIVE MODE')
        wait_until(
            lambda: (
                Export.objects.filter(pk=export.pk, status="running", tables_done=1).exists()
                and _waiting_on("environments_rowversion")
            ),
            timeout=60,
            what="the worker to be in the middle of the export",
        )
        worker.kill()
        worker.wait(timeout=30)
        _end_sessions_waiting_on("environments_rowversion")
    finally:
        lock.rollback()
        lock.close()
        _stop(worker)
    name = exports.archive_name(env, export.moment, export.pk)
    export.refresh_from_db()
    assert export.status == Export.Status.RUNNING and export.attempts == 1
    assert export.file_name == "" and not export.is_done
    assert not archive_storage.exists(name)
    assert not Export.objects.filter(environment=env, status="succeeded").exists()
    assert exports.last_exports(env) == (None, None)

    # Housekeeping (its clock past the stale limit) queues it again; a new worker redoes it.
    later = timezone.now() + datetime.timedelta(minutes=5)
    assert exports.export_sweep_stale(now=later) == 1
    export.refresh_from_db()
    assert export.status == Export.Status.QUEUED and export.task_id
    worker = _start_worker()
    try:
        done = wait_until(lambda: _ended(Export, export.pk), timeout=120, what="the export")
        assert done.status == Export.Status.SUCCEEDED, done.error
        assert done.attempts == 2 and done.file_name == name and done.rows == 6000
        with archive_storage.open_stream(done.file_name) as stream:
            checked = archives.verify(stream)
        assert (checked.size, checked.sha256, checked.manifest.rows) == (
            done.size,
            done.sha256,
            6000,
        )
        assert exports.export_verify(done, actor=None).verified_ok is True
        new = _restored_from(admin, done, made)
        assert store.current(new).as_dict() == store.as_of(env, done.moment).as_dict()
    finally:
        _stop(worker)


def test_a_worker_killed_after_claiming_an_export_task_is_noticed_and_redone(
    admin, _real_queue_and_shared_storage
):
    """Killed between taking the task from the queue and marking the export running: the export
    is queued, its task row says running for ever. The sweep queues it again."""
    made = _real_queue_and_shared_storage
    env = _bulk_environment(_slug("kill-claim"), tables=1, rows=200)
    made.append(env.slug)
    export = exports.export_start(environment=env, requested_by=admin)
    export.refresh_from_db()
    lock = blocker()
    worker = _start_worker()
    try:
        lock.execute("SELECT 1 FROM backups_export WHERE id = %s FOR UPDATE", [export.pk])
        wait_until(
            lambda: (
                DBTaskResult.objects.filter(
                    pk=export.task_id, status=TaskResultStatus.RUNNING
                ).exists()
                and _waiting_on("backups_export")
            ),
            timeout=60,
            what="the worker to claim the export's task",
        )
        worker.kill()
        worker.wait(timeout=30)
        _end_sessions_waiting_on("backups_export")
    finally:
        lock.rollback()
        lock.close()
        _stop(worker)
    export.refresh_from_db()
    assert export.status == Export.Status.QUEUED and export.started_at is None
    first_task = export.task_id
    Export.objects.filter(pk=export.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    DBTaskResult.objects.filter(pk=first_task).update(
        started_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    assert exports.export_sweep_stale() == 1
    export.refresh_from_db()
    assert export.status == Export.Status.QUEUED and export.task_id != first_task
    worker = _start_worker()
    try:
        done = wait_until(lambda: _ended(Export, export.pk), timeout=120, what="the export")
        assert done.status == Export.Status.SUCCEEDED, done.error
        assert exports.export_verify(done, actor=None).verified_ok is True
    finally:
        _stop(worker)


def test_a_worker_killed_mid_import_fails_it_removes_the_sandbox_and_loads_nothing(
    admin, _real_queue_and_shared_storage
):
    made = _real_queue_and_shared_storage
    env = _bulk_environment(_slug("imp-src"), tables=2, rows=500)
    made.append(env.slug)
    export = exports.export_start(environment=env, requested_by=admin)
    exports.export_run(export.pk)
    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED
    slug = _slug("imp-dst")
    op = imports.import_start(
        requested_by=admin, file_name=export.file_name, name=slug.title(), slug=slug
    )
    target = op.target
    lock = blocker()
    worker = _start_worker()
    try:
        # The new sandbox's row is held: the worker checks the file, then waits to load it.
        lock.execute("SELECT 1 FROM environments_environment WHERE id = %s FOR UPDATE", [target.pk])
        wait_until(
            lambda: (
                ArchiveImport.objects.filter(pk=op.pk, phase="loading").exists()
                and _waiting_on("environments_environment")
            ),
            timeout=60,
            what="the worker to load the archive",
        )
        worker.kill()
        worker.wait(timeout=30)
        _end_sessions_waiting_on("environments_environment")
    finally:
        lock.rollback()
        lock.close()
        _stop(worker)
    assert ArchiveImport.objects.get(pk=op.pk).status == ArchiveImport.Status.RUNNING
    later = timezone.now() + datetime.timedelta(minutes=5)
    assert imports.import_sweep_stale(now=later) == 1
    op.refresh_from_db()
    target.refresh_from_db()
    assert op.status == ArchiveImport.Status.FAILED and "Nothing was restored" in op.error
    assert op.reservation_id is None
    assert target.removed_at is not None and target.slug != slug
    assert not Environment.objects.filter(slug=slug).exists()
    assert not DataTable.objects.filter(generation__environment=target).exists()
    assert imports.import_sweep_stale(now=later) == 0
    # The URL name is free: the same import again, asked for again, loads it.
    worker = _start_worker()
    try:
        again = imports.import_start(
            requested_by=admin, file_name=export.file_name, name=slug.title(), slug=slug
        )
        done = wait_until(lambda: _ended(ArchiveImport, again.pk), timeout=120, what="import")
        assert done.status == ArchiveImport.Status.SUCCEEDED, done.error
        new = Environment.objects.get(slug=slug)
        assert store.current(new).as_dict() == store.as_of(env, export.moment).as_dict()
    finally:
        _stop(worker)


# -- schedules: never one slot twice --------------------------------------------------------

CONNECTIONS = 8


def _scheduled_environments(admin, count: int) -> list[Environment]:
    envs = []
    for n in range(count):
        env = _bulk_environment(_slug(f"sched{n}"), tables=1, rows=20)
        export_schedules.schedule_set(
            environment=env, actor=admin, frequency="daily", hour=2, time_zone="Europe/Paris"
        )
        envs.append(env)
    return envs


def test_eight_connections_running_the_schedules_at_once_make_one_export_a_slot(admin):
    envs = _scheduled_environments(admin, 4)
    day = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    for round_ in range(1, 5):
        now = day + datetime.timedelta(days=round_)
        results = at_once([lambda now=now: export_schedules.run_due(now=now)] * CONNECTIONS)
        assert all(isinstance(r, int) for r in results), results
        assert sum(results) == len(envs), results
        slot = export_schedules.latest_slot(ExportSchedule.objects.first(), now)
        for env in envs:
            assert Export.objects.filter(environment=env, scheduled_for=slot).count() == 1
        # The same slot again, later that day: nothing new.
        again = at_once([lambda now=now: export_schedules.run_due(now=now)] * CONNECTIONS)
        assert again == [0] * CONNECTIONS
    assert Export.objects.filter(environment__in=envs).count() == 4 * len(envs)


def test_two_workers_with_housekeeping_run_a_due_slot_once(admin, _real_queue_and_shared_storage):
    made = _real_queue_and_shared_storage
    envs = _scheduled_environments(admin, 3)
    made.extend(env.slug for env in envs)
    # Set an hour ago at this hour: the slot of this hour is due now.
    now = timezone.now()
    ExportSchedule.objects.filter(environment__in=envs).update(
        hour=now.hour, time_zone="UTC", updated_at=now - datetime.timedelta(hours=1)
    )
    slot = now.replace(minute=0, second=0, microsecond=0)
    workers = [_start_worker(), _start_worker()]
    try:
        wait_until(
            lambda: (
                Export.objects.filter(
                    environment__in=envs, scheduled_for=slot, status="succeeded"
                ).count()
                == len(envs)
            ),
            timeout=120,
            what="the scheduled exports",
        )
        time.sleep(3)  # a few more rounds of both workers' housekeeping
    finally:
        for worker in workers:
            _stop(worker)
    for env in envs:
        [export] = Export.objects.filter(environment=env)
        assert export.scheduled_for == slot and export.status == "succeeded"
        assert export.attempts == 1
