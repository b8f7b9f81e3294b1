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


def record_lockout(
    sender, request=None, username: str = "", ip_address: str = "", **kwargs
) -> None:
    """A sign-in lockout goes to the audit log, once per account and address per pause.

    django-axes sends this signal again for every attempt while the pause lasts, from whichever
    process gets it; the first hit of a counter that every process shares (and that the
    database decides) is the one recorded."""
    from django.conf import settings
    from django.utils import timezone

    from portal.audit import audit_record
    from portal.counters import counter_hit

    now = timezone.now()
    key = f"lockout-audited:{username}:{ip_address}"
    if counter_hit(key=key, expires_at=now + settings.AXES_COOLOFF_TIME, now=now) > 1:
        return
    audit_record(
        action="auth.lockout",
        actor=None,
        outcome="refused",
        summary=f"Sign-in paused for {username[:100] or 'an unknown account'} after "
        f"{settings.AXES_FAILURE_LIMIT} failures (address {ip_address})",
        details={"username": username[:150], "ip_address": ip_address},
    )


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Not limited to this app's signal: other apps' permissions exist only after theirs.
        post_migrate.connect(ensure_support_group, dispatch_uid="ensure_support_group")
        from axes.signals import user_locked_out

        user_locked_out.connect(record_lockout, dispatch_uid="record_lockout")
