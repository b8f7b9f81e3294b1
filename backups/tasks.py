"""Background work. Each task takes IDs and calls a service; the worker is `manage.py worker`
(django-tasks-db's queue, with the portal's housekeeping beside it: backups.housekeeping)."""

from django.tasks import task

from backups import engine


@task()
def restore_task(operation_id: int) -> str:
    return engine.restore_run(operation_id)
