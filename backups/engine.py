"""The restore engine: run a queued operation (restore, copy, undo), all or nothing.

In ONE short transaction on the default connection:
  1. lock the target (and the source, so that it cannot be deleted meanwhile), take the write
     timestamp `ts`;
  2. record "Before restore ..." on the target (the moment ts - 1 µs, which undo restores);
  3. replace the target's data with the source's as of the moment: a new generation whose
     tables read the source's, copying no row (environments.generations, the store's side);
  4. set the target Ready, in administration mode, renamed if asked; mark the operation
     succeeded and release the capacity it reserved.
Progress goes through a second connection (settings.RESTORE_PROGRESS_DATABASE) so the web
process can read it while the transaction is open. A failure anywhere rolls all of it back;
restore_fail then marks the operation failed and gives the target back (and removes a new
sandbox made for it).
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backups import put_back_engine
from backups.heartbeats import heartbeat
from backups.models import ManualBackup, RestoreOperation
from environments import capacity, generations, store
from environments.models import (
    DataTable,
    Environment,
    EnvironmentState,
    Membership,
)
from portal.audit import audit_record
from portal.models import AuditEvent, User

log = logging.getLogger(__name__)


class RestoreAborted(Exception):
    """The operation was marked failed (for example by the stale sweep) while it ran."""


def _progress(op: RestoreOperation, **fields) -> None:
    fields["heartbeat_at"] = timezone.now()
    RestoreOperation.objects.using(settings.RESTORE_PROGRESS_DATABASE).filter(pk=op.pk).update(
        **fields
    )


def after_table_copied(operation: RestoreOperation, table: DataTable) -> None:
    """A seam for tests that inject a failure in the middle of the copy."""


def restore_run(operation_id: int) -> str:
    """Run a queued restore. Returns its final status."""
    op = RestoreOperation.objects.select_related("source", "target").get(pk=operation_id)
    if op.status != RestoreOperation.Status.QUEUED:
        return op.status  # delivered twice, or failed by support before it ran
    now = timezone.now()
    started = RestoreOperation.objects.filter(
        pk=op.pk, status=RestoreOperation.Status.QUEUED
    ).update(
        status=RestoreOperation.Status.RUNNING,
        phase=RestoreOperation.Phase.PREPARING,
        started_at=now,
        heartbeat_at=now,
    )
    if not started:
        return RestoreOperation.objects.get(pk=op.pk).status
    op.refresh_from_db()
    try:
        with heartbeat(RestoreOperation, op.pk):
            if op.is_put_back:
                put_back_engine.put_back_run(op, lambda **fields: _progress(op, **fields))
            else:
                _overwrite(op)
    except Exception as exc:
        log.exception("Restore %s failed", op.pk)
        message = (
            str(exc)
            if isinstance(exc, RestoreAborted)
            else (f"The restore failed and nothing was changed: {exc.__class__.__name__}: {exc}")
        )
        restore_fail(operation=op, error=message)
        return RestoreOperation.Status.FAILED
    return RestoreOperation.Status.SUCCEEDED


def _lock_source_and_target(op: RestoreOperation) -> tuple[Environment, Environment]:
    """Lock the target's row to overwrite it and the source's so that it cannot be deleted
    while it is read (FOR KEY SHARE: writes to the source go on), in id order as every restore
    locks them, so that two restores never wait on each other in a cycle."""
    rows = {}
    for pk in sorted({op.source_id, op.target_id}):
        if pk == op.target_id:
            rows[pk] = Environment.objects.select_for_update().get(pk=pk)
        elif connection.vendor == "postgresql":
            table = connection.ops.quote_name(Environment._meta.db_table)
            rows[pk] = Environment.objects.raw(
                f"SELECT * FROM {table} WHERE id = %s FOR KEY SHARE", [pk]
            )[0]
        else:  # SQLite: the transaction holds the database's one write lock already
            rows[pk] = Environment.objects.get(pk=pk)
    source, target = rows[op.source_id], rows[op.target_id]
    if source.deleted_at is not None:
        raise RestoreAborted(
            f"{op.source_name or source.name} was deleted before the {op.noun} could run. "
            "Nothing was changed."
        )
    return source, target


def _overwrite(op: RestoreOperation) -> None:
    """The restore itself, in one transaction: the target gets a new generation reading the
    source as it was (environments.generations), with a "Before restore" backup, its details
    and its state handed back; the operation succeeds in the same commit."""
    with transaction.atomic():
        source, target = _lock_source_and_target(op)
        _tune_session()
        plan = generations.plan_replace(
            source=source,
            moment=op.moment,
            schema_only=op.kind == RestoreOperation.Kind.COPY_SCHEMA,
        )
        _progress(
            op,
            phase=RestoreOperation.Phase.COPYING,
            tables_total=len(plan.tables),
            rows_total=plan.rows_total,
            tables_done=0,
            rows_copied=0,
        )
        ts = store.next_timestamp(target)
        before = _record_before(op, target, ts)

        def table_done(done: int, rows: int, table: DataTable) -> None:
            _progress(op, tables_done=done, rows_copied=rows)
            after_table_copied(op, table)

        generation, copied = generations.generation_replace(
            target=target,
            plan=plan,
            ts=ts,
            reason=f"{ORIGINS[op.kind]} from {source.name} at {op.moment:%Y-%m-%d %H:%M:%S} UTC",
            table_done=table_done,
            finishing=lambda: _progress(op, phase=RestoreOperation.Phase.FINISHING),
        )
        details_before = _hand_back(op, target, ts)
        _succeed(
            op,
            source=source,
            target=target,
            details_before=details_before,
            outcome={
                "generation": generation,
                "pre_restore_backup": before,
                "rows": copied,
                "tables": len(plan.tables),
            },
        )


def _tune_session() -> None:
    if connection.vendor != "postgresql":
        return
    # JIT compiles each INSERT ... SELECT anew and costs more than it saves here. The commit is
    # durable (synchronous): a restore shown as Succeeded survives a crash.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        # The new partitions' indexes are built in one sort each: in memory, if it fits.
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")


def _record_before(op: RestoreOperation, target: Environment, ts) -> ManualBackup:
    """The "Before restore" (or "Before copy") backup of the target, the moment just before
    the restore's own: what an undo puts back."""
    return ManualBackup.objects.create(
        environment=target,
        kind=ManualBackup.Kind.PRE_COPY if op.is_copy else ManualBackup.Kind.PRE_RESTORE,
        label=pre_restore_label(op, ts - store.TICK),
        backup_at=ts - store.TICK,
        created_by=op.requested_by,
        created_at=ts,
        expires_at=ts + (target.manual_retention or target.retention),
    )


def _hand_back(op: RestoreOperation, target: Environment, ts) -> dict:
    """Give the target back Ready, in administration mode, with the details the admin edited;
    returns its details from before (kept on the operation, for an undo)."""
    details_before = {
        "before_name": target.name,
        "before_security_group": target.security_group,
        "before_admin_mode": target.admin_mode,
    }
    target.set_state(EnvironmentState.READY)
    # After a restore only admins may use the environment; an undo puts back the mode the
    # environment had before the restore it undoes.
    target.admin_mode = (
        op.undo_of.before_admin_mode
        if op.undo_of and op.undo_of.before_admin_mode is not None
        else True
    )
    target.last_change_at = ts
    fields = ["state", "admin_mode", "last_change_at"]
    if op.change_security_group:
        target.security_group = op.new_security_group
        fields.append("security_group")
    target.save(update_fields=fields)
    if op.new_name:
        _rename(op, target)
    return details_before


def _rename(op: RestoreOperation, target: Environment) -> None:
    """Give the target the name chosen in Edit details, unless a live environment took that
    name while the restore ran (names are unique among live environments, and the restore is
    worth more than the name): then it keeps its own, and the audit line says why."""
    old = target.name
    target.name = op.new_name
    try:
        with transaction.atomic():  # a savepoint: a lost name must not undo the restore
            target.save(update_fields=["name"])
    except IntegrityError:
        target.name = old
        audit_record(
            action="restore.name_kept",
            actor=op.requested_by,
            environment=target,
            summary=f"{old} kept its name: another environment was named {op.new_name} while "
            "the restore ran",
            details={"operation": op.pk},
        )


def _succeed(
    op: RestoreOperation,
    *,
    source: Environment,
    target: Environment,
    details_before: dict,
    outcome: dict,
) -> None:
    """Mark the operation succeeded (in the restore's transaction), free its reservation and
    write the audit line. `outcome`: the generation, the "Before restore" backup, the rows and
    tables copied."""
    # Lock the operation last (progress writes are done): if the stale sweep failed it
    # meanwhile, roll everything back rather than succeed behind its back.
    locked = RestoreOperation.objects.select_for_update().get(pk=op.pk)
    if locked.status != RestoreOperation.Status.RUNNING:
        raise RestoreAborted(locked.error or "The restore was stopped.")
    finished = timezone.now()
    copied, tables = outcome["rows"], outcome["tables"]
    RestoreOperation.objects.filter(pk=op.pk).update(
        status=RestoreOperation.Status.SUCCEEDED,
        phase=RestoreOperation.Phase.DONE,
        finished_at=finished,
        heartbeat_at=finished,
        generation=outcome["generation"],
        pre_restore_backup=outcome["pre_restore_backup"],
        rows_copied=copied,
        tables_done=tables,
        tables_total=tables,
        reservation=None,
        **details_before,
    )
    capacity.release(op.reservation_id)  # what it reserved is stored now
    name_before = details_before["before_name"]
    renamed = f"; renamed to {target.name}" if target.name != name_before else ""
    at = f"{op.moment:%Y-%m-%d %H:%M:%S} UTC"
    if op.undo_of_id:
        what = f"Undid {op.undo_of.noun} #{op.undo_of_id} of {name_before}: back to {at}"
    else:
        what = f"{VERBS[op.kind]} {name_before} from {op.source_words} at {at}"
    audit_record(
        action="restore.succeed",
        actor=op.requested_by,
        environment=target,
        environment_name=name_before,
        related_environment=source,
        summary=f"{what} ({copied} row{'s' * (copied != 1)} in "
        f"{tables} table{'s' * (tables != 1)}{renamed})",
        details={
            "operation": op.pk,
            "rows": copied,
            "tables": tables,
            "seconds": round((finished - op.started_at).total_seconds(), 3)
            if op.started_at
            else None,
        },
    )


# How the audit log ("Restored Contoso Test from ...") and a generation ("Restored from ...")
# say what made it.
VERBS = {
    RestoreOperation.Kind.RESTORE: "Restored",
    RestoreOperation.Kind.COPY: "Copied into",
    RestoreOperation.Kind.COPY_SCHEMA: "Copied the schema into",
}
ORIGINS = {
    RestoreOperation.Kind.RESTORE: "Restored",
    RestoreOperation.Kind.COPY: "Copied",
    RestoreOperation.Kind.COPY_SCHEMA: "Schema copied",
}


def pre_restore_label(op: RestoreOperation, moment: datetime.datetime) -> str:
    """The label of the backup the engine records just before it overwrites the target; the
    time in it is the backup's own (pages show it in the viewer's zone, see local_times)."""
    when = f" at {moment:%Y-%m-%d %H:%M:%S} UTC"
    if op.undo_of_id:
        return f"Before undo of {op.undo_of.noun} #{op.undo_of_id}{when}"
    before = "Before copy from " if op.is_copy else "Before restore from "
    room = 100 - len(before) - len(when)
    name = op.source_words  # never the environment's own name as its own source
    name = name if len(name) <= room else name[: room - 1] + "…"
    return f"{before}{name}{when}"


def restore_fail(
    *,
    operation: RestoreOperation,
    error: str,
    actor: User | None = None,
    skip_if_held: bool = False,
) -> bool:
    """Mark an operation failed and give its target back (state Ready). The target's data is
    untouched: a restore changes data only in the transaction that marks it succeeded. With
    `skip_if_held`, a target whose row someone holds is left alone (returns False): a
    restore holds it while it runs, so its worker is alive, if slow."""
    with transaction.atomic():
        # The engine holds the target's row for its whole transaction and writes progress to
        # the operation's row: take them in the same order, so this waits for a live restore
        # to end instead of deadlocking with its progress writes.
        held = (
            Environment.objects.select_for_update(skip_locked=skip_if_held)
            .filter(pk=operation.target_id)
            .first()
        )
        if held is None:
            return False  # held by a live restore (skip_if_held), or gone
        op = RestoreOperation.objects.select_for_update().get(pk=operation.pk)
        if not op.is_active:
            return False
        now = timezone.now()
        reservation = op.reservation_id
        op.mark_failed(error=error, at=now)
        capacity.release(reservation)
        if held.state == EnvironmentState.RESTORING:
            held.set_state(EnvironmentState.READY)
            held.save(update_fields=["state"])
        if op.made_target:
            _remove_new_sandbox(op, now)
        audit_record(
            action="restore.fail",
            actor=actor,
            environment=op.target,
            related_environment=op.source,
            outcome=AuditEvent.Outcome.FAILED,
            summary=f"Restore of {op.target_name or op.target.name} from "
            f"{op.source_name or op.source.name} failed: "
            f"{error[:150]}",
            details={"operation": op.pk},
        )
    operation.refresh_from_db()
    return True


def _remove_new_sandbox(op: RestoreOperation, now: datetime.datetime) -> None:
    """The sandbox made for a failed restore goes with it: it never held anything but what
    the restore would have put there. Removed as a purge removes a deleted environment (the
    row stays for the history that names it), so its URL name is free again at once."""
    sandbox = op.target
    Membership.objects.filter(environment=sandbox).delete()
    generations.generation_end(environment=sandbox, at=now)
    # A "." is in no URL name a person can give: this one never collides with theirs.
    Environment.objects.filter(pk=sandbox.pk).update(
        deleted_at=now, removed_at=now, slug=f"removed.{sandbox.pk}"
    )
    op.error = (
        f"{op.error} The new sandbox {op.target_name or sandbox.name} was removed with it; "
        f"its URL name {sandbox.slug} is free again."
    )[:5000]
    op.save(update_fields=["error"])
    audit_record(
        action="environment.remove",
        actor=None,
        environment=sandbox,
        summary=f"Removed the new sandbox {sandbox.name} ({sandbox.slug}), made for "
        f"{op.label}, which failed; its URL name is free again",
        details={"operation": op.pk},
    )
