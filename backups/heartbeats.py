"""A heartbeat for long operations (restores, exports, restores from a file): written from a
thread through the progress connection, so that a long statement or upload never looks like a
dead worker, and a dead worker stops beating (housekeeping then frees or redoes its work)."""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

log = logging.getLogger(__name__)


@contextmanager
def heartbeat(model, pk: int) -> Iterator[None]:
    """While the block runs, set the running row's heartbeat_at every RESTORE_HEARTBEAT. On
    SQLite progress shares the operation's connection and a second writer would wait for it,
    so there the progress writes alone are the heartbeat."""
    if settings.RESTORE_PROGRESS_DATABASE == "default":
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.RESTORE_HEARTBEAT.total_seconds()):
                try:
                    model.objects.using(settings.RESTORE_PROGRESS_DATABASE).filter(
                        pk=pk, status="running"
                    ).update(heartbeat_at=timezone.now())
                except Exception:
                    log.exception("Heartbeat of %s %s failed", model.__name__, pk)
                    connections.close_all()
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"{model.__name__}-{pk}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def live_task_ids(cutoff: datetime.datetime) -> list[str]:
    """Tasks still waiting in the queue, or taken by a worker since `cutoff`. One taken before,
    whose operation is still queued, was taken by a worker that died before it began: its row
    says running for ever."""
    return [
        str(pk)
        for pk in DBTaskResult.objects.filter(
            Q(status=TaskResultStatus.READY)
            | Q(status=TaskResultStatus.RUNNING, started_at__gte=cutoff)
        ).values_list("id", flat=True)
    ]


def close_dead_task(task_id: str, reason: str) -> None:
    """No worker will finish this task row (its worker died): close it, so the queue tells the
    truth. Not a task id (a test's immediate backend): nothing to do."""
    try:
        uuid.UUID(task_id)
    except ValueError:
        return
    DBTaskResult.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        traceback=f"Closed by housekeeping: {reason}",
    )
