"""Background work. Each task takes IDs and calls a service; the worker is `manage.py db_worker`."""

import logging

from django.tasks import task

from backups import engine, purge, services

log = logging.getLogger(__name__)


def _sweep() -> None:
    # Housekeeping must never stop the restore it runs before.
    try:
        services.restore_sweep_stale()
    except Exception:  # noqa: BLE001
        log.exception("The stale-restore sweep failed")


@task()
def restore_task(operation_id: int) -> str:
    _sweep()
    return engine.restore_run(operation_id)


@task()
def purge_task() -> dict:
    _sweep()
    return purge.backups_purge().as_dict()
