from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import export_schedules, restores  # noqa: F401 (its receivers)
        from environments.signals import environment_deleting

        environment_deleting.connect(
            restores.refuse_delete_while_read, dispatch_uid="backups.refuse_delete_while_read"
        )
