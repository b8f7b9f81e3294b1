from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_support_group(sender, **kwargs) -> None:
    """The "Support staff" group can view everything in the Django admin and change nothing."""
    from django.contrib.auth.models import Group, Permission

    from portal.models import SUPPORT_GROUP

    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    view = Permission.objects.filter(
        codename__startswith="view_",
        content_type__app_label__in=["portal", "environments", "backups", "django_tasks_database"],
    )
    safe_actions = Permission.objects.filter(
        content_type__app_label="backups",
        codename__in=["retry_restoreoperation", "fail_restoreoperation"],
    )
    group.permissions.add(*view, *safe_actions)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Not limited to this app's signal: other apps' permissions exist only after theirs.
        post_migrate.connect(ensure_support_group, dispatch_uid="ensure_support_group")
        from axes.signals import user_locked_out

        from portal.throttling import record_lockout

        user_locked_out.connect(record_lockout, dispatch_uid="record_lockout")
