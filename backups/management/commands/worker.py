"""`manage.py worker`: the task worker (django-tasks-db's `db_worker`, same options) with the
portal's housekeeping beside it (backups.housekeeping): dead restores are noticed and freed,
and backups are purged on a schedule, whenever a worker runs."""

import os

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from backups.housekeeping import Housekeeper


class Command(DbWorkerCommand):
    help = "Run restores and other background tasks, and keep house (free dead restores, purge)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # Look for new tasks every 0.1 s (django-tasks-db waits 1 s): a restore is asked for by
        # someone watching its progress, and an idle poll is one index probe.
        parser.set_defaults(interval=0.1)

    def handle(self, *args, **options):
        # With --reload the outer process only watches files: keep house in the one that works.
        reloading = options.get("reload") and not options.get("batch")
        if not reloading or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            housekeeper = Housekeeper()
            housekeeper.start()
        return super().handle(*args, **options)
