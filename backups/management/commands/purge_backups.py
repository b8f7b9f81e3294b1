from django.core.management.base import BaseCommand

from backups import housekeeping, purge


class Command(BaseCommand):
    help = (
        "Delete expired manual backups and history no window or backup can reach; "
        "fail restores whose worker died."
    )

    def handle(self, *args, **options):
        stale = housekeeping.restore_sweep_stale()
        result = purge.backups_purge()
        self.stdout.write(
            f"Deleted {result.backups_deleted} expired backups, {result.versions_deleted} row "
            f"versions, {result.tables_deleted} tables, {result.generations_deleted} "
            f"generations; failed {stale} stale restores."
        )
