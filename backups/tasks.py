"""Background work. Each task takes IDs and calls a service; the worker is `manage.py worker`
(django-tasks-db's queue, with the portal's housekeeping beside it: backups.housekeeping). The
tasks of exports and of restores from a file are beside their services (backups.exports,
backups.imports), which queue them."""

from django.tasks import task

from backups import engine


@task()
def restore_task(operation_id: int) -> str:
    return engine.restore_run(operation_id)
