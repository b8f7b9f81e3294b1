"""Background work. Each task takes IDs and calls a service; the worker is `manage.py db_worker`."""

from django.tasks import task

from backups import engine, purge, services


@task()
def restore_task(operation_id: int) -> str:
    services.restore_sweep_stale()
    return engine.restore_run(operation_id)


@task()
def purge_task() -> dict:
    services.restore_sweep_stale()
    return purge.backups_purge().as_dict()
