"""A heartbeat for long operations (restores, exports, restores from a file): written from a
thread through the progress connection, so that a long statement or upload never looks like a
dead worker, and a dead worker stops beating (housekeeping then frees or redoes its work)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections
from django.utils import timezone

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
