"""What every worker does beside running tasks: notice dead work, and purge on a schedule.

A thread of the worker process (`manage.py worker`) wakes every HOUSEKEEPING_INTERVAL and
  - fails restores whose worker died: running ones silent for RESTORE_STALE_AFTER, queued ones
    whose task a worker claimed that long ago and never started (it died in between), and
    closes their rows in the task queue; each target is Ready again, with a clear reason and a
    Retry;
  - when the last purge (by any worker) is PURGE_INTERVAL old, deletes expired backups and
    the history nothing can reach;
  - flattens restored tables that should hold their own rows (purge.branches_to_flatten), a
    few chunks per round (FLATTEN_CHUNKS_PER_ROUND), so that a round stays short;
  - disables trial environments whose 30 days are over;
  - deletes the expired counters of the API's limits and of the lockout audit (portal.counters).
So `make run` needs no cron, and a worker killed at any point holds nothing for long: the next
worker (or any other one already running) frees it.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from backups import purge, restores
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
                if flatten.flatten_chunk(table_id, settings.FLATTEN_CHUNK_ROWS):
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
