"""Restore from a file: an export archive (backups.archives), made by this portal or another
one, restored into a new sandbox.

At the request, the archive's manifest is read: a file of another kind or of a newer format is
refused at once and nothing is made. Otherwise the new sandbox (state Restoring, its requester
its admin) and the queued operation are made in one transaction, under a capacity reservation of
the rows' size. The worker then reads the whole archive once to check every part against the
manifest and the checksum list (phase "Checking the file"), and only then loads it, in one
transaction that checks every part again as it reads: the sandbox's tables live from one moment,
the import, where its history starts; a part that does not match rolls everything back. On
PostgreSQL each table's rows are COPYed into a partition of their own, indexed and analysed once
loaded. A failure removes the new sandbox, as a failed restore into a new sandbox does, and says
why.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import asdict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import task
from django.utils import timezone

from backups import archive_storage, archives, engine
from backups.heartbeats import heartbeat, live_task_ids
from backups.models import ArchiveImport
from environments import archive_rows, capacity, permissions
from environments import services as env_services
from environments.archive_rows import ArchiveTable, UnknownField
from environments.models import Environment, EnvironmentState, EnvironmentType, Membership
from portal.audit import audit_record
from portal.errors import Refused
from portal.models import AuditEvent, User

log = logging.getLogger(__name__)

UPLOAD_FOLDER = "uploads"


def upload(fileobj, filename: str) -> str:
    """Store an uploaded archive (read in chunks, never whole) under a name of its own in the
    backups storage; returns that name. Refused above ARCHIVE_UPLOAD_MAX_MB."""
    limit = settings.ARCHIVE_UPLOAD_MAX_MB
    if _size_of(fileobj) > limit * 1024 * 1024:
        raise Refused(
            f"The file is larger than this portal takes ({limit} MB at most); copy it into "
            "the backups storage and choose it from there.",
            field="file",
        )
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in filename)[-80:] or "archive"
    if not safe.endswith(".tar"):  # so that it is listed with the archives to restore from
        safe += ".tar"
    return archive_storage.save_upload(f"{UPLOAD_FOLDER}/{uuid.uuid4().hex}-{safe}", fileobj)


def _size_of(fileobj) -> int:
    """An uploaded file's size (Django's UploadedFile), or an open local file's."""
    size = getattr(fileobj, "size", None)
    if size is None:
        try:
            size = os.fstat(fileobj.fileno()).st_size
        except (AttributeError, OSError, ValueError):
            size = 0
    return size


def stored_archives() -> list[tuple[str, int]]:
    """The archives in the backups storage one can restore from (Restore from a file's list)."""
    return [(name, size) for name, size in archive_storage.listed() if name.endswith(".tar")]


# An archive up to this size is checked whole at the request (a second or two), so a damaged one
# is refused on the form and nothing is made; a larger one is checked whole by the worker before
# anything is loaded (and a damaged one then fails the restore and removes its new sandbox).
CHECK_AT_REQUEST_BYTES = 64 * 1024 * 1024


def manifest_of(file_name: str) -> archives.Manifest:
    """The archive's manifest, refusing a name outside the storage, a missing file, another
    kind of file and a newer format; a small archive is checked whole (CHECK_AT_REQUEST_BYTES)."""
    if not file_name or ".." in file_name.split("/") or file_name.startswith("/"):
        raise Refused("Choose an archive in the backups storage.", field="file")
    try:
        whole = archive_storage.size(file_name) <= CHECK_AT_REQUEST_BYTES
        with archive_storage.open_stream(file_name) as stream:
            return archives.verify(stream).manifest if whole else archives.read_manifest(stream)
    except FileNotFoundError:
        raise Refused(
            f"There is no archive {file_name!r} in the backups storage.", field="file"
        ) from None
    except archives.ArchiveRefused as refusal:
        raise Refused(refusal.message, field="file") from None


def import_start(
    *,
    requested_by: User,
    file_name: str,
    name: str,
    slug: str,
    region: str = "",
    security_group: str = "",
    idempotency_key: str = "",
) -> ArchiveImport:
    """Restore the archive `file_name` (in the backups storage) into a new sandbox named
    `name` at `slug`, in `region` (default: the archive's, when this portal has it)."""
    permissions.can_restore_from_file(requested_by).require()
    if idempotency_key:
        first = ArchiveImport.objects.filter(
            requested_by=requested_by, idempotency_key=idempotency_key
        ).first()
        if first is not None:
            return first
    manifest = manifest_of(file_name)
    regions = dict(settings.REGIONS)
    region = region or manifest.environment.get("region", "")
    if region not in regions:
        raise Refused(
            "Choose the region of the new sandbox (the archive's region is not one of this "
            "portal's).",
            field="region",
        )
    new = env_services.check_environment_create(
        actor=requested_by,
        name=name,
        slug=slug,
        type=EnvironmentType.SANDBOX,
        region=region,
        security_group=security_group,
    )
    with transaction.atomic():
        target = env_services.environment_insert(**asdict(new), created_by=requested_by)
        Membership.objects.create(environment=target, user=requested_by, role=Membership.Role.ADMIN)
        target.set_state(EnvironmentState.RESTORING)
        target.save(update_fields=["state"])
        operation = ArchiveImport.objects.create(
            file_name=file_name,
            file_size=archive_storage.size(file_name),
            target=target,
            target_name=target.name,
            requested_by=requested_by,
            idempotency_key=idempotency_key,
            source_name=manifest.environment.get("name", "")[:100],
            source_region=manifest.environment.get("region", "")[:30],
            moment=manifest.moment,
            tables_total=len(manifest.tables),
            rows_total=manifest.rows,
            created_at=timezone.now(),
        )
        # Last, under the capacity lock (capacity.reserve's rule).
        operation.reservation = capacity.reserve(
            action="restore from a file", adds=manifest.data_bytes
        )
        operation.save(update_fields=["reservation"])
        audit_record(
            action="import.queue",
            actor=requested_by,
            environment=target,
            summary=f"Asked to restore {target.name} from the file {file_name} "
            f"({manifest.environment.get('name', '')} as at "
            f"{archives.utc(manifest.moment)})",
            details={"import": operation.pk},
        )
        transaction.on_commit(lambda: enqueue(operation))
    return operation


@task()
def import_task(import_id: int) -> str:
    return import_run(import_id)


def enqueue(operation: ArchiveImport) -> None:
    result = import_task.using(backend=settings.TASKS_BACKEND).enqueue(operation.pk)
    ArchiveImport.objects.filter(pk=operation.pk).update(task_id=str(result.id)[:64])


def _progress(operation: ArchiveImport, **fields) -> None:
    fields["heartbeat_at"] = timezone.now()
    ArchiveImport.objects.using(settings.RESTORE_PROGRESS_DATABASE).filter(pk=operation.pk).update(
        **fields
    )


def import_run(operation_id: int) -> str:
    now = timezone.now()
    claimed = ArchiveImport.objects.filter(
        pk=operation_id, status=ArchiveImport.Status.QUEUED
    ).update(
        status=ArchiveImport.Status.RUNNING,
        phase=ArchiveImport.Phase.CHECKING,
        started_at=now,
        heartbeat_at=now,
    )
    operation = ArchiveImport.objects.select_related("target").get(pk=operation_id)
    if not claimed:
        return operation.status
    try:
        with heartbeat(ArchiveImport, operation.pk):
            with archive_storage.open_stream(operation.file_name) as stream:
                archives.verify(stream)
            _progress(operation, phase=ArchiveImport.Phase.LOADING)
            _load(operation)
    except Exception as exc:
        log.exception("Restore from a file %s failed", operation.pk)
        if isinstance(exc, Refused):
            reason = exc.message
        elif isinstance(exc, FileNotFoundError):
            reason = "The archive is no longer in the backups storage."
        elif isinstance(exc, IntegrityError):
            reason = "The archive holds a row key twice in one table: it was edited."
        elif isinstance(exc, UnknownField):
            reason = f"{exc} The archive was edited."
        else:
            reason = f"{exc.__class__.__name__}: {exc}"
        import_fail(
            operation, error=f"The restore from the file failed: {reason} Nothing was restored."
        )
        return ArchiveImport.Status.FAILED
    return ArchiveImport.Status.SUCCEEDED


def _load(operation: ArchiveImport) -> None:
    """Every table of the archive into the new sandbox, in one transaction, checking each part
    again as it is read; then the sandbox is Ready (in administration mode, as after any
    restore) and the operation done, in the same transaction."""
    with transaction.atomic():
        target = Environment.objects.select_for_update().get(pk=operation.target_id)
        # Not locked while the rows load: the progress is written to this same row through
        # the progress connection (RESTORE_PROGRESS_DATABASE), which would wait for this
        # transaction forever. import_fail locks the target first, so it waits here anyway;
        # the row is locked and checked again before the import is marked done.
        op = ArchiveImport.objects.get(pk=operation.pk)
        if op.status != ArchiveImport.Status.RUNNING:
            raise Refused("It was stopped before its rows were loaded.")
        with archive_storage.open_stream(op.file_name) as stream:
            reader = archives.Reader(stream)
            tables = (
                ArchiveTable(part.name, part.display_name, part.columns, rows)
                for part, rows in reader.tables()
            )
            rows_done = archive_rows.load(
                target,
                tables,
                progress=lambda t, r: _progress(op, tables_done=t, rows_done=r),
            )
        # Lock the operation last (progress writes are done): if the stale sweep failed it
        # meanwhile, roll everything back rather than succeed behind its back.
        if (
            ArchiveImport.objects.select_for_update().get(pk=op.pk).status
            != ArchiveImport.Status.RUNNING
        ):
            raise Refused("It was stopped before its rows were loaded.")
        target.refresh_from_db()
        target.set_state(EnvironmentState.READY)
        target.admin_mode = True
        target.save(update_fields=["state", "admin_mode"])
        reservation = op.reservation_id
        ended = ArchiveImport.objects.filter(pk=op.pk, status=ArchiveImport.Status.RUNNING).update(
            status=ArchiveImport.Status.SUCCEEDED,
            phase=ArchiveImport.Phase.DONE,
            finished_at=timezone.now(),
            reservation=None,
        )
        if not ended:  # failed meanwhile (its worker was taken for dead): keep nothing
            raise Refused("It was stopped before its rows were loaded.")
        capacity.release(reservation)
        audit_record(
            action="import.succeed",
            actor=None,
            environment=target,
            summary=f"Restored {target.name} from the file {op.file_name}: {rows_done} rows of "
            f"{op.source_name} as at {archives.utc(op.moment)}",
            details={"import": op.pk},
        )


def import_fail(operation: ArchiveImport, *, error: str) -> bool:
    """Fail a queued or running import for good: its reservation goes back, and the new
    sandbox made for it is removed (its URL name free again), as for a failed restore into a
    new sandbox."""
    with transaction.atomic():
        held = Environment.objects.select_for_update().filter(pk=operation.target_id).first()
        op = ArchiveImport.objects.select_for_update().get(pk=operation.pk)
        if not op.is_active:
            return False
        now = timezone.now()
        reservation = op.reservation_id
        op.status, op.phase, op.error = (
            ArchiveImport.Status.FAILED,
            ArchiveImport.Phase.FAILED,
            error[:5000],
        )
        op.finished_at, op.reservation = now, None
        op.save(update_fields=["status", "phase", "error", "finished_at", "reservation"])
        capacity.release(reservation)
        if held is not None and held.state == EnvironmentState.RESTORING:
            held.set_state(EnvironmentState.READY)
            held.save(update_fields=["state"])
        engine._remove_new_sandbox(op, now)
        if op.file_name.startswith(f"{UPLOAD_FOLDER}/"):
            # An upload made for this restore alone: nothing else will use it (an archive
            # chosen from the storage stays where it was).
            transaction.on_commit(lambda: archive_storage.delete(op.file_name))
        audit_record(
            action="import.fail",
            actor=None,
            environment=op.target,
            outcome=AuditEvent.Outcome.FAILED,
            summary=f"Restore of {op.target_name} from the file {op.file_name} failed: "
            f"{error[:150]}",
            details={"import": op.pk},
        )
    operation.refresh_from_db()
    return True


def import_sweep_stale(*, now=None) -> int:
    """Imports whose worker died (silent for RESTORE_STALE_AFTER): failed, their sandbox
    removed. Nothing of their rows was kept: they load in one transaction."""
    now = now or timezone.now()
    cutoff = now - settings.RESTORE_STALE_AFTER
    count = 0
    for op in ArchiveImport.objects.filter(
        status=ArchiveImport.Status.RUNNING, heartbeat_at__lt=cutoff
    ):
        count += import_fail(
            op,
            error="The restore from the file stopped reporting progress (its worker stopped). "
            "Nothing was restored; start it again.",
        )
    # Queued that long, and its task not waiting nor lately taken: the worker that took it
    # died before it began (or its queueing was lost).
    for op in ArchiveImport.objects.filter(
        status=ArchiveImport.Status.QUEUED, created_at__lt=cutoff, started_at__isnull=True
    ).exclude(task_id__in=live_task_ids(cutoff)):
        count += import_fail(
            op,
            error="The worker that took the restore from the file stopped before it began. "
            "Nothing was restored; start it again.",
        )
    return count
