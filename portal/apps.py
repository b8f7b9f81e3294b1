from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_support_group(sender, **kwargs) -> None:
    """The "Support staff" group can view everything in the Django admin and change nothing."""
    from django.contrib.auth.models import Group, Permission

    from portal.permissions import SUPPORT_GROUP

    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    view = Permission.objects.filter(
        codename__startswith="view_",
        content_type__app_label__in=["portal", "environments", "backups"],
    )
    group.permissions.add(*view)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        post_migrate.connect(ensure_support_group, sender=self)
