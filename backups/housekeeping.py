"""What every worker does beside running tasks: notice dead work, and purge on a schedule.

A thread of the worker process (`manage.py worker`) wakes every HOUSEKEEPING_INTERVAL and
  - fails restores whose worker died: running ones silent for RESTORE_STALE_AFTER, queued ones
    whose task a worker claimed that long ago and never started (it died in between), and
    closes their rows in the task queue; each target is Ready again, with a clear reason and a
    Retry;
  - every PURGE_INTERVAL, deletes expired backups and the history nothing can reach.
So `make run` needs no cron, and a worker killed at any point holds nothing for long: the next
worker (or any other one already running) frees it.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections

from backups import purge, restores

log = logging.getLogger(__name__)


def run_once(*, purge_due: bool) -> None:
    """One round. Each part is guarded: housekeeping must never take the worker down."""
    try:
        freed = restores.restore_sweep_stale()
        if freed:
            log.warning("Freed %d restore(s) whose worker had stopped", freed)
    except Exception:
        log.exception("The stale-restore sweep failed")
    if purge_due:
        try:
            purge.backups_purge()
        except Exception:
            log.exception("The purge failed")


class Housekeeper(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="housekeeping", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = settings.HOUSEKEEPING_INTERVAL.total_seconds()
        every = max(1, round(settings.PURGE_INTERVAL.total_seconds() / interval))
        rounds = 0
        try:
            while not self.stopping.is_set():
                close_old_connections()
                run_once(purge_due=rounds % every == 0)
                rounds += 1
                self.stopping.wait(interval)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopping.set()
