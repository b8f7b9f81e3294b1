"""What every worker does beside running tasks: notice dead work, and purge on a schedule.

A thread of the worker process (`manage.py worker`) wakes every HOUSEKEEPING_INTERVAL and
  - fails restores whose worker died: running ones silent for RESTORE_STALE_AFTER, queued ones
    whose task a worker claimed that long ago and never started (it died in between), and
    closes their rows in the task queue; each target is Ready again, with a clear reason and a
    Retry;
  - when the last purge (by any worker) is PURGE_INTERVAL old, deletes expired backups and
    the history nothing can reach;
  - queues again the exports whose worker died (their unfinished files deleted), fails the
    restores from a file whose worker died, and asks for the scheduled exports that are due;
  - flattens restored tables that should hold their own rows (purge.branches_to_flatten), a
    few chunks per round (FLATTEN_CHUNKS_PER_ROUND), so that a round stays short;
  - disables trial environments whose 30 days are over;
  - deletes the expired counters of the API's limits and of the lockout audit (portal.counters).
So `make run` needs no cron, and a worker killed at any point holds nothing for long: the next
worker (or any other one already running) frees it.
"""

from __future__ import annotations

import datetime
import logging
import threading
import uuid

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backups import engine, export_schedules, exports, imports, purge
from backups.models import RestoreOperation
from environments import flatten, services
from portal.counters import counters_prune
from portal.errors import Refused
from portal.models import AuditEvent

log = logging.getLogger(__name__)


def purge_due(now=None) -> bool:
    """Whether the last purge (by any worker: it is in the audit log) is PURGE_INTERVAL old, so
    that workers started again and again, or many at once, do not purge again and again."""
    now = now or timezone.now()
    return not AuditEvent.objects.filter(
        action="purge", at__gt=now - settings.PURGE_INTERVAL
    ).exists()


def run_once(*, purge_due: bool) -> None:
    """One round. Each part is guarded: housekeeping must never take the worker down."""
    try:
        freed = restore_sweep_stale()
        if freed:
            log.warning("Freed %d restore(s) whose worker had stopped", freed)
    except Exception:
        log.exception("The stale-restore sweep failed")
    for name, work in (
        ("exports whose worker stopped", exports.export_sweep_stale),
        ("restores from a file whose worker stopped", imports.import_sweep_stale),
        ("scheduled exports", export_schedules.run_due),
    ):
        try:
            work()
        except Exception:
            log.exception("Housekeeping of %s failed", name)
    if purge_due:
        try:
            purge.backups_purge()
        except Exception:
            log.exception("The purge failed")
    try:
        flatten_some(settings.FLATTEN_CHUNKS_PER_ROUND)
    except Exception:
        log.exception("Flattening failed")
    try:
        services.trials_expire()
    except Exception:
        log.exception("Expiring trials failed")
    try:
        counters_prune()
    except Exception:
        log.exception("Deleting expired counters failed")


def flatten_some(chunks: int) -> int:
    """Flatten the most urgent restored tables by up to `chunks` chunks; returns how many ran."""
    done = 0
    for table_id in purge.branches_to_flatten():
        while done < chunks:
            done += 1
            try:
                if flatten.flatten_chunk(table_id):
                    break
            except Refused as refusal:  # no room for its copy: it reads its base meanwhile
                log.info("Flattening of table %s waits: %s", table_id, refusal)
                break
        if done >= chunks:
            break
    return done


class Housekeeper(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="housekeeping", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = settings.HOUSEKEEPING_INTERVAL.total_seconds()
        try:
            while not self.stopping.is_set():
                close_old_connections()
                try:
                    due = purge_due()
                except Exception:
                    log.exception("Could not read when the last purge ran")
                    due = False
                run_once(purge_due=due)
                self.stopping.wait(interval)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopping.set()


def restore_sweep_stale(*, now: datetime.datetime | None = None) -> int:
    """Fail the restores whose worker died, give their targets back, and close their rows in
    the task queue. Dead means: running and silent (no heartbeat) for RESTORE_STALE_AFTER; or
    queued, with its task claimed by a worker that long ago but never started (the worker died
    between the two), finished without it, or gone; or queued without a task at all."""
    now = now or timezone.now()
    cutoff = now - settings.RESTORE_STALE_AFTER
    silent = list(
        RestoreOperation.objects.filter(
            status=RestoreOperation.Status.RUNNING, heartbeat_at__lt=cutoff
        )
    )
    waiting = list(
        RestoreOperation.objects.filter(
            status=RestoreOperation.Status.QUEUED, created_at__lt=cutoff
        )
    )
    tasks = DBTaskResult.objects.in_bulk(
        [op.task_id for op in silent + waiting if _is_uuid(op.task_id)], field_name="id"
    )
    tasks = {str(pk): task for pk, task in tasks.items()}

    def never_started(op: RestoreOperation) -> bool:
        task = tasks.get(op.task_id)
        if not op.task_id or task is None:
            return True  # never queued (the enqueue failed), or its task row is gone
        if task.status == TaskResultStatus.RUNNING:
            return task.started_at is not None and task.started_at < cutoff
        return task.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)

    count = 0
    for op in silent + [op for op in waiting if never_started(op)]:
        reason = (
            "The restore stopped reporting progress (its worker stopped). Nothing was "
            "changed; start the restore again."
            if op.status == RestoreOperation.Status.RUNNING
            else "The worker that took this restore stopped before it began. "
            "Nothing was changed; start the restore again."
        )
        try:  # one operation's trouble (a database that says no) never stops the others
            failed = engine.restore_fail(operation=op, error=reason, skip_if_held=True)
        except DatabaseError:
            log.exception("Could not fail the stale restore %s", op.pk)
            continue
        if not failed:
            continue  # its worker is alive after all (it holds the target), or it ended
        count += 1
        task = tasks.get(op.task_id)
        if task is not None and task.status == TaskResultStatus.RUNNING:
            # No worker will ever finish that row: close it, so the queue tells the truth.
            DBTaskResult.objects.filter(pk=task.pk, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{WorkerStopped.__module__}.{WorkerStopped.__qualname__}",
                traceback=f"Closed by the stale-restore sweep: {reason}",
            )
    return count


class WorkerStopped(Exception):
    """What a task row closed by the sweep says failed it: its worker stopped."""


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
