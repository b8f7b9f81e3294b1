"""Exports: an environment as it was at a moment, written by the worker as an archive
(backups.archives) to the backups storage (backups.archive_storage), then downloaded, checked
again (Verify) and restored from (backups.imports).

An export is asked for by a person (page, API, CLI) or by the environment's schedule
(backups.export_schedules). It is done only once its archive is whole in the storage: the
worker writes the archive to a local temporary file, stores it, and marks the export done in
one statement that also checks nobody failed it meanwhile. A worker killed at any point leaves
at most an unfinished file that no export lists as done; housekeeping queues the export again
(export_sweep_stale), and the next run writes it again from the start.
"""

from __future__ import annotations

import datetime
import logging
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.tasks import task
from django.utils import timezone

from backups import archive_storage, archives
from backups.heartbeats import close_dead_task, heartbeat, live_task_ids
from backups.models import Export, ManualBackup
from environments import archive_rows, permissions, store
from environments.models import Environment
from portal.audit import audit_record
from portal.errors import Refused
from portal.models import AuditEvent, User

log = logging.getLogger(__name__)

# A worker that dies mid-export is noticed by housekeeping, which queues the export again up to
# this many runs in all; then it fails for good, with the reason.
MAX_ATTEMPTS = 3


def archive_name(environment: Environment, moment: datetime.datetime, export_id: int) -> str:
    """Where an export's archive goes in the backups storage: a folder per environment, and a
    file name that says what it holds (its URL name and moment, in UTC)."""
    slug = environment.slug
    return f"exports/{slug}/{slug}-{archive_rows.stamp(moment)}-{export_id}.tar"


# -- asking for one ---------------------------------------------------------------------------


def _moment(
    environment: Environment,
    moment: datetime.datetime | None,
    backup: ManualBackup | None,
    now: datetime.datetime,
) -> datetime.datetime:
    """The moment to export, checked against the environment's window now: a manual backup's,
    the one asked for, or the latest."""
    if not environment.backed_up:
        raise Refused(
            f"{environment.name} is a {environment.get_type_display().lower()} environment, "
            "which is not backed up: it has no moment to export.",
            field="moment",
        )
    if backup is not None:
        if backup.environment_id != environment.pk:
            raise Refused(f"That backup is not one of {environment.name}'s.", field="backup")
        if backup.expires_at <= now:
            raise Refused(f"The backup {backup.label} has expired.", field="backup")
        moment = backup.backup_at
    return archive_rows.checked_moment(environment, moment, now=now)


def export_start(
    *,
    environment: Environment,
    requested_by: User | None,
    moment: datetime.datetime | None = None,
    backup: ManualBackup | None = None,
    idempotency_key: str = "",
    scheduled_for: datetime.datetime | None = None,
) -> Export:
    """Queue an export of `environment` at `moment` (None: as it is when asked), or at a manual
    backup's moment. Refused, with the reason, when the moment is outside the window. The same
    idempotency key again returns the first export."""
    if requested_by is not None:
        permissions.can_export(requested_by, environment).require()
        if idempotency_key and (first := _first_with_key(requested_by, idempotency_key)):
            return first
    if environment.deleted_at is not None:
        raise Refused(f"{environment.name} was deleted; recover it to export it.")
    now = archive_rows.latest(environment)
    at = _moment(environment, moment, backup, now)
    try:
        with transaction.atomic():
            export = Export.objects.create(
                environment=environment,
                environment_name=environment.name,
                moment=at,
                backup=backup,
                requested_by=requested_by,
                idempotency_key=idempotency_key,
                scheduled_for=scheduled_for,
                created_at=timezone.now(),
            )
            if requested_by is not None:
                audit_record(
                    action="export.queue",
                    actor=requested_by,
                    environment=environment,
                    summary=f"Asked for an export of {environment.name} as at "
                    f"{archive_rows.when(at)}",
                    details={"export": export.pk},
                )
            transaction.on_commit(lambda: enqueue(export))
    except IntegrityError:
        first = (
            _first_with_key(requested_by, idempotency_key)
            if requested_by is not None and idempotency_key
            else None
        )
        if first is None:
            raise
        return first
    return export


def _first_with_key(user: User, key: str) -> Export | None:
    return Export.objects.filter(requested_by=user, idempotency_key=key).first()


@task()
def export_task(export_id: int) -> str:
    return export_run(export_id)


@task()
def verify_task(export_id: int) -> str:
    export = export_verify(Export.objects.get(pk=export_id), actor=None)
    return "verified" if export.verified_ok else "failed"


# Sent when an export has ended, well (`succeeded`) or not: the schedules keep their last N and
# tell of their failures (backups.export_schedules).
export_ended = Signal()


def enqueue(export: Export) -> None:
    result = export_task.using(backend=settings.TASKS_BACKEND).enqueue(export.pk)
    Export.objects.filter(pk=export.pk).update(task_id=str(result.id)[:64])


# -- the worker's part -----------------------------------------------------------------------


def _progress(export: Export, **fields) -> None:
    fields["heartbeat_at"] = timezone.now()
    type(export).objects.using(settings.RESTORE_PROGRESS_DATABASE).filter(pk=export.pk).update(
        **fields
    )


def after_archive_written(export: Export, path: Path) -> None:
    """A seam for tests that stop a worker between writing the archive and storing it."""


def export_run(export_id: int) -> str:
    """Write a queued export's archive and store it. Returns the export's status."""
    now = timezone.now()
    claimed = Export.objects.filter(pk=export_id, status=Export.Status.QUEUED).update(
        status=Export.Status.RUNNING, started_at=now, heartbeat_at=now, error=""
    )
    export = Export.objects.select_related("environment").get(pk=export_id)
    if not claimed:
        return export.status  # delivered twice, or already run
    Export.objects.filter(pk=export_id).update(attempts=export.attempts + 1)
    env = export.environment
    name = archive_name(env, export.moment, export.pk)
    try:
        with heartbeat(Export, export.pk):
            # The window may have moved on since it was asked for.
            archive_rows.checked_moment(env, export.moment, now=archive_rows.latest(env))
            snap_tables = archive_rows.tables_at(env, export.moment)
            total_rows = sum(store.rows_at(snap_tables, export.moment).values())
            _progress(export, tables_total=len(snap_tables), rows_total=total_rows)
            with tempfile.TemporaryDirectory(prefix="export-") as scratch:
                path = Path(scratch) / "archive.tar"
                with open(path, "wb") as out:
                    manifest = archives.write(
                        env,
                        export.moment,
                        out,
                        written_at=timezone.now(),
                        portal=settings.PORTAL_NAME,
                        progress=lambda t, r: _progress(export, tables_done=t, rows_done=r),
                        # Progress on the reading connection (no connection of its own) cannot
                        # be written while a COPY holds it.
                        by_copy=settings.RESTORE_PROGRESS_DATABASE != "default",
                    )
                # Read a chunk at a time, not in one snapshot: had a purge moved the window
                # past the moment meanwhile, some of its rows may be gone. Then it is refused.
                env.refresh_from_db()
                archive_rows.checked_moment(env, export.moment, now=archive_rows.latest(env))
                after_archive_written(export, path)
                size = path.stat().st_size
                sha256 = _file_sha256(path)
                archive_storage.save(name, path)
    except Exception as exc:
        log.exception("Export %s failed", export.pk)
        archive_storage.delete(name)
        # A refusal says what happened in the admin's words; anything else is named by its
        # kind only (its text may name storage paths or hosts: it is in the worker's log).
        message = (
            exc.message
            if isinstance(exc, Refused)
            else f"the archive could not be written or stored ({exc.__class__.__name__}); the "
            "worker's log has the details."
        )
        export_fail(export, error=f"The export failed: {message}")
        return Export.Status.FAILED
    done = Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING).update(
        status=Export.Status.SUCCEEDED,
        finished_at=timezone.now(),
        file_name=name,
        size=size,
        sha256=sha256,
        rows=manifest.rows,
        rows_done=manifest.rows,
        tables_done=len(manifest.tables),
    )
    if not done:  # failed or queued again by housekeeping meanwhile: this file is not it
        archive_storage.delete(name)
        return Export.objects.get(pk=export.pk).status
    export.refresh_from_db()
    audit_record(
        action="export.succeed",
        actor=None,
        environment=env,
        summary=f"Exported {export.environment_name} as at {archive_rows.when(export.moment)}: "
        f"{manifest.rows} rows, {size} bytes",
        details={"export": export.pk, "file": name, "sha256": sha256},
    )
    export_ended.send(sender=Export, export=export, succeeded=True)
    return Export.Status.SUCCEEDED


def _file_sha256(path: Path) -> str:
    import hashlib

    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(1 << 20):
            sha.update(data)
    return sha.hexdigest()


def export_fail(export: Export, *, error: str) -> bool:
    """Mark a queued or running export failed for good, say so in the audit log and, for a
    scheduled one, on the environment page and to its admins by email."""
    failed = Export.objects.filter(pk=export.pk, status__in=Export.ACTIVE).update(
        status=Export.Status.FAILED, finished_at=timezone.now(), error=error[:5000]
    )
    if not failed:
        return False
    export.refresh_from_db()
    audit_record(
        action="export.fail",
        actor=None,
        environment=export.environment,
        outcome=AuditEvent.Outcome.FAILED,
        summary=f"Export of {export.environment_name} as at {archive_rows.when(export.moment)} "
        f"failed: {error[:150]}",
        details={"export": export.pk},
    )
    export_ended.send(sender=Export, export=export, succeeded=False)
    return True


def export_sweep_stale(*, now: datetime.datetime | None = None) -> int:
    """Exports whose worker died: running and silent for RESTORE_STALE_AFTER, or queued that
    long with no worker on them. Each is queued again (its unfinished file, if any, removed),
    up to MAX_ATTEMPTS runs, then failed with the reason. Returns how many were handled."""
    now = now or timezone.now()
    cutoff = now - settings.RESTORE_STALE_AFTER
    stale = list(
        Export.objects.filter(status=Export.Status.RUNNING, heartbeat_at__lt=cutoff)
    ) + list(
        Export.objects.filter(
            status=Export.Status.QUEUED, created_at__lt=cutoff, started_at__isnull=True
        ).exclude(task_id__in=live_task_ids(cutoff))
    )
    count = 0
    for export in stale:
        archive_storage.delete(archive_name(export.environment, export.moment, export.pk))
        if export.attempts >= MAX_ATTEMPTS:
            count += export_fail(
                export,
                error=f"The export stopped {export.attempts} times (its worker stopped). "
                "Nothing was stored; ask for it again.",
            )
            continue
        again = Export.objects.filter(pk=export.pk, status=export.status).update(
            status=Export.Status.QUEUED,
            started_at=None,
            heartbeat_at=None,
            tables_done=0,
            rows_done=0,
            # A worker that died before it began counts as a run too: an export that always
            # kills its worker ends after MAX_ATTEMPTS whichever way it dies.
            attempts=export.attempts + (export.status == Export.Status.QUEUED),
        )
        if again:
            count += 1
            close_dead_task(export.task_id, "the export's worker stopped; queued again")
            enqueue(export)
    return count


# -- verify ----------------------------------------------------------------------------------


def export_verify_start(export: Export, *, actor: User) -> Export:
    """Ask the worker to verify the export's archive (Verify): a large archive takes longer to
    read than a page should wait. The page says it is being checked until the result is in."""
    permissions.can_export(actor, export.environment).require()
    if not export.is_done:
        raise Refused(f"{export.label} has no archive to verify ({export.get_status_display()}).")
    Export.objects.filter(pk=export.pk).update(verify_requested_at=timezone.now())
    audit_record(
        action="export.verify_queue",
        actor=actor,
        environment=export.environment,
        summary=f"Asked to verify {export.label} of {export.environment_name}",
        details={"export": export.pk},
    )
    transaction.on_commit(
        lambda: verify_task.using(backend=settings.TASKS_BACKEND).enqueue(export.pk)
    )
    export.refresh_from_db()
    return export


def export_verify(export: Export, *, actor: User | None) -> Export:
    """Read the stored archive again and check every part against the manifest and the whole
    file against the SHA-256 recorded when it was stored. The result and its date are kept on
    the export (and in the audit log) whatever it is."""
    if actor is not None:
        permissions.can_export(actor, export.environment).require()
    if not export.is_done:
        raise Refused(f"{export.label} has no archive to verify ({export.get_status_display()}).")
    problem = ""
    try:
        with archive_storage.open_stream(export.file_name) as stream:
            checked = archives.verify(stream)
        if checked.size != export.size or checked.sha256 != export.sha256:
            problem = (
                "The stored file is not the one the export wrote (its size or SHA-256 "
                "differs): it was replaced or damaged."
            )
        elif checked.manifest.rows != export.rows:
            problem = "The archive holds a different number of rows than the export wrote."
    except archives.ArchiveRefused as refusal:
        problem = refusal.message
    except FileNotFoundError:
        problem = "The archive is no longer in the storage."
    except OSError as exc:
        problem = f"The storage could not be read ({exc.__class__.__name__})."
    now = timezone.now()
    Export.objects.filter(pk=export.pk).update(
        verified_at=now, verified_ok=not problem, verify_error=problem
    )
    export.refresh_from_db()
    audit_record(
        action="export.verify",
        actor=actor,
        environment=export.environment,
        outcome=AuditEvent.Outcome.FAILED if problem else AuditEvent.Outcome.SUCCEEDED,
        summary=f"Verified {export.label} of {export.environment_name}: "
        + (problem[:150] if problem else "every part matches its checksum"),
        details={"export": export.pk},
    )
    return export


def visible_exports(user: User, environment: Environment):
    permissions.can_export(user, environment).require()
    return Export.objects.filter(environment=environment)


def last_exports(environment: Environment) -> tuple[Export | None, Export | None]:
    """The environment page's two lines: the newest export that is done, and the newest one
    whose archive was verified."""
    done = Export.objects.filter(environment=environment, status=Export.Status.SUCCEEDED)
    return (
        done.order_by("-finished_at", "-id").first(),
        done.filter(verified_ok__isnull=False).order_by("-verified_at", "-id").first(),
    )
