"""A restore from a file whose worker died: failed by housekeeping, its new sandbox removed
(its URL name free again), its capacity given back, nothing of its rows kept."""

import datetime

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from backups import exports, imports
from backups.models import ArchiveImport, Export
from environments.models import CapacityReservation, DataTable, Environment
from portal.models import AuditEvent
from tests.factories import NOW, ago


@pytest.fixture
def archive(clock, source, admin, run_tasks) -> Export:
    export = run_tasks(exports.export_start, environment=source, requested_by=admin)
    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED
    return export


def queued_import(admin, archive, slug="from-file") -> ArchiveImport:
    # Queued: its task never runs here (nothing captures the commit).
    op = imports.import_start(
        requested_by=admin, file_name=archive.file_name, name=slug.title(), slug=slug
    )
    assert op.status == ArchiveImport.Status.QUEUED and op.reservation_id
    return op


def assert_failed_and_removed(op: ArchiveImport, slug: str) -> None:
    reservation = op.reservation_id
    op.refresh_from_db()
    assert op.status == ArchiveImport.Status.FAILED and op.phase == ArchiveImport.Phase.FAILED
    assert "Nothing was restored" in op.error
    assert op.reservation_id is None
    assert not CapacityReservation.objects.filter(pk=reservation).exists()
    target = Environment.objects.get(pk=op.target_id)
    assert target.removed_at is not None and target.slug != slug
    assert not Environment.objects.filter(slug=slug).exists()
    assert not DataTable.objects.filter(generation__environment=target).exists()
    assert AuditEvent.objects.filter(action="import.fail", details__import=op.pk).exists()


def test_a_running_import_whose_worker_died_is_failed_and_its_sandbox_removed(
    clock, admin, archive, settings
):
    op = queued_import(admin, archive)
    # A worker took it and died while loading: silent since.
    ArchiveImport.objects.filter(pk=op.pk).update(
        status="running", phase="loading", started_at=ago(minutes=5), heartbeat_at=ago(minutes=5)
    )
    recent = queued_import(admin, archive, slug="still-alive")
    ArchiveImport.objects.filter(pk=recent.pk).update(
        status="running", phase="loading", started_at=NOW, heartbeat_at=NOW
    )
    assert imports.import_sweep_stale() == 1
    assert_failed_and_removed(op, "from-file")
    assert ArchiveImport.objects.get(pk=recent.pk).status == "running"
    assert imports.import_sweep_stale() == 0
    # The URL name is free: asked for again, it is made again.
    again = queued_import(admin, archive)
    assert Environment.objects.get(slug="from-file").pk == again.target_id


def test_a_queued_import_whose_worker_died_before_it_began_is_failed(
    clock, admin, archive, settings
):
    """Its task was taken by a worker that died before marking it running (or its queueing was
    lost): it stays queued, its sandbox Restoring, until the sweep fails it."""
    from django_tasks_db.models import DBTaskResult

    op = queued_import(admin, archive)
    task = DBTaskResult.objects.create(
        task_path="backups.imports.import_task",
        args_kwargs={"args": [op.pk], "kwargs": {}},
        status=TaskResultStatus.RUNNING,
        enqueued_at=ago(minutes=5),
        started_at=ago(minutes=5),
        queue_name="default",
        backend_name="default",
        priority=0,
        run_after=datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC),
    )
    ArchiveImport.objects.filter(pk=op.pk).update(task_id=str(task.pk))
    assert imports.import_sweep_stale() == 0  # not stale yet
    clock.move_to(NOW + settings.RESTORE_STALE_AFTER + datetime.timedelta(seconds=1))
    waiting = queued_import(admin, archive, slug="waiting")  # queued just now: left alone
    assert imports.import_sweep_stale() == 1
    assert_failed_and_removed(op, "from-file")
    assert ArchiveImport.objects.get(pk=waiting.pk).status == "queued"
    assert timezone.now() > NOW
