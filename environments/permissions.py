"""Who may do what. Every view, admin action, API call and command asks this module.

Roles:
- Global admin, Power Platform admin (tenant roles): see and manage every environment.
- Environment admin (membership): manages the environments they are admin of.
- Environment maker (membership): uses an environment's data; no admin pages, no backup rights.
- Support staff (is_staff, "Support staff" group): the Django admin only.
While an environment is in administration mode only those who manage it may use its data.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from environments.models import Environment, EnvironmentState, EnvironmentType, Membership
from portal.errors import NotAllowed
from portal.models import ENVIRONMENT_EVENTS, AuditEvent, User


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed

    def require(self) -> None:
        """Go on only if allowed: else NotAllowed with the reason, which every door answers
        as 403 (pages through RefusalMiddleware, the API, the commands' exit code)."""
        if not self.allowed:
            raise NotAllowed(self.reason)


ALLOW = Decision(True)


def _membership_role(user: User, environment: Environment) -> str | None:
    cache = getattr(user, "_env_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("environment_id", "role"))
        user._env_roles = cache  # per request: the user object lives as long as the request
    return cache.get(environment.pk)


def is_tenant_admin(user: User) -> bool:
    return user.is_authenticated and user.is_active and user.is_tenant_admin


def can_see_disaster_recovery(user: User) -> bool:
    """The standby's lag on the environments list (portal.dr): Global admins only."""
    return (
        user.is_authenticated
        and user.is_active
        and user.tenant_role == User.TenantRole.GLOBAL_ADMIN
    )


# -- the admin center ----------------------------------------------------------------------------


def can_use_admin_center(user: User) -> bool:
    """Environments list, environment pages and their actions."""
    if not (user.is_authenticated and user.is_active):
        return False
    return (
        is_tenant_admin(user)
        or Membership.objects.filter(user=user, role=Membership.Role.ADMIN).exists()
    )


def _not_deleted() -> QuerySet[Environment]:
    """Deleted environments are out of sight everywhere but the Deleted environments list."""
    return Environment.objects.filter(deleted_at__isnull=True)


def manageable_environments(user: User) -> QuerySet[Environment]:
    if is_tenant_admin(user):
        return _not_deleted()
    if not (user.is_authenticated and user.is_active):
        return Environment.objects.none()
    return _not_deleted().filter(membership__user=user, membership__role=Membership.Role.ADMIN)


def can_manage_environment(user: User, environment: Environment) -> bool:
    if is_tenant_admin(user):
        return True
    return (
        user.is_authenticated
        and user.is_active
        and (_membership_role(user, environment) == Membership.Role.ADMIN)
    )


def can_see_operation(user: User, operation) -> bool:
    """A restore, copy or undo (backups.models.RestoreOperation) is seen by those who manage
    its target; one whose new sandbox went with its failure, by those who manage its source."""
    if operation.target_removed:
        return bool(can_manage_backups(user, operation.source))
    return operation.target.deleted_at is None and can_manage_environment(user, operation.target)


def administered_environments(user: User) -> QuerySet[Environment]:
    """Every environment the user administers, deleted ones too, as can_manage_environment
    reads a membership (what is in sight is for the caller to decide)."""
    if is_tenant_admin(user):
        return Environment.objects.all()
    if not (user.is_authenticated and user.is_active):
        return Environment.objects.none()
    return Environment.objects.filter(membership__user=user, membership__role=Membership.Role.ADMIN)


def visible_operations(user: User, operations: QuerySet) -> QuerySet:
    """The operations of `operations` (a RestoreOperation queryset: this app never imports
    backups) that can_see_operation lets the user see, as one filter: the API's list and the
    Operations page both ask here, so a list never shows what its operation's page refuses."""
    if not (user.is_authenticated and user.is_active):
        return operations.none()
    removed_target = Q(made_target=True, target__removed_at__isnull=False)
    if is_tenant_admin(user):
        return operations.filter(Q(target__deleted_at__isnull=True) | removed_target)
    managed = administered_environments(user).values("pk")
    return operations.filter(
        Q(target__deleted_at__isnull=True, target_id__in=managed)
        | (removed_target & Q(source_id__in=managed))
    )


def visible_environment_events(user: User) -> QuerySet[AuditEvent]:
    """Creates, deletions and recoveries of environments (their audit events) for the
    Operations page: a tenant admin's are every environment's (they keep the Deleted
    environments list); an environment admin's, those of the environments they manage and can
    see (a deleted one is out of their sight, as everywhere)."""
    events = AuditEvent.objects.filter(
        action__in=ENVIRONMENT_EVENTS, outcome=AuditEvent.Outcome.SUCCEEDED
    )
    if is_tenant_admin(user):
        return events
    return events.filter(environment__in=manageable_environments(user))


def can_create_environment(user: User) -> Decision:
    if not is_tenant_admin(user):
        return Decision(
            False, "Only Global admins and Power Platform admins can create environments."
        )
    return ALLOW


def can_delete_environment(user: User, environment: Environment) -> Decision:
    if not can_manage_environment(user, environment):
        return Decision(False, "You do not manage this environment.")
    if environment.type == EnvironmentType.DEFAULT:
        return Decision(False, "The Default environment cannot be deleted.")
    if environment.state == EnvironmentState.RESTORING:
        return Decision(
            False, f"{environment.name} is being restored; delete it when that has finished."
        )
    return ALLOW


def can_recover_environments(user: User) -> Decision:
    """The Deleted environments list and Recover."""
    if not is_tenant_admin(user):
        return Decision(
            False,
            "Only Global admins and Power Platform admins can see and recover deleted "
            "environments.",
        )
    return ALLOW


def can_change_type(user: User, environment: Environment) -> Decision:
    if not can_manage_environment(user, environment):
        return Decision(False, "You do not manage this environment.")
    if environment.type not in (EnvironmentType.PRODUCTION, EnvironmentType.SANDBOX):
        return Decision(
            False, "Only production and sandbox environments can be converted to each other."
        )
    if not environment.is_ready:
        return Decision(False, f"{environment.name} is {environment.get_state_display().lower()}.")
    return ALLOW


# -- backups and restore -------------------------------------------------------------------------


def can_manage_backups(user: User, environment: Environment) -> Decision:
    """Create, edit, delete manual backups and restore from this environment's backups."""
    if not can_manage_environment(user, environment):
        return Decision(
            False, f"You do not manage {environment.name}, so you cannot use its backups."
        )
    return ALLOW


def can_put_back(user: User, environment: Environment) -> Decision:
    """Put chosen rows or a table back as they were (production too, for those who manage it)."""
    if not can_manage_environment(user, environment):
        return Decision(
            False, f"You do not manage {environment.name}, so you cannot put its rows back."
        )
    return ALLOW


def can_restore_to(user: User, target: Environment) -> Decision:
    if not can_manage_environment(user, target):
        return Decision(False, f"You do not manage {target.name}, so you cannot restore over it.")
    return ALLOW


# -- the environment's data ----------------------------------------------------------------------


def data_environments(user: User) -> QuerySet[Environment]:
    """Environments whose data the user may open (before administration mode is considered)."""
    if is_tenant_admin(user):
        return _not_deleted()
    if not (user.is_authenticated and user.is_active):
        return Environment.objects.none()
    return _not_deleted().filter(membership__user=user)


def can_read_data(user: User, environment: Environment) -> Decision:
    if can_manage_environment(user, environment):
        return ALLOW
    if _membership_role(user, environment) != Membership.Role.MAKER:
        return Decision(False, "You are not a member of this environment.")
    if environment.admin_mode:
        return Decision(
            False,
            f"{environment.name} is in administration mode: only its administrators can use "
            "its data until an administrator turns administration mode off.",
        )
    return ALLOW


def can_write_data(user: User, environment: Environment) -> Decision:
    decision = can_read_data(user, environment)
    if not decision:
        return decision
    if not environment.is_ready:
        return Decision(
            False,
            f"{environment.name} is {environment.get_state_display().lower()}; "
            "its data cannot be changed until that finishes.",
        )
    return ALLOW


# -- the Django admin ----------------------------------------------------------------------------


def is_support_staff(user: User) -> bool:
    return user.is_authenticated and user.is_active and user.is_staff


def can_retry_restore(user: User) -> bool:
    return is_support_staff(user) and user.has_perm("backups.retry_restoreoperation")


def can_fail_restore(user: User) -> bool:
    return is_support_staff(user) and user.has_perm("backups.fail_restoreoperation")


# -- exports (backups that outlive the database) -------------------------------------------------


def can_export(user: User, environment: Environment) -> Decision:
    """Export a moment of the environment, download, verify and schedule its exports: whoever
    manages its backups (an archive holds every row)."""
    if not can_manage_environment(user, environment):
        return Decision(
            False, f"You do not manage {environment.name}, so you cannot use its exports."
        )
    return ALLOW


def can_restore_from_file(user: User) -> Decision:
    """Restore an export archive into a new sandbox: it makes an environment."""
    if not is_tenant_admin(user):
        return Decision(
            False,
            "Only Global admins and Power Platform admins can restore from a file: it creates "
            "an environment.",
        )
    return ALLOW


def can_see_import(user: User, operation) -> bool:
    """A restore from a file (backups.models.ArchiveImport): the tenant admins, who may start
    one, and the admins of the sandbox it made while it is not deleted."""
    if can_restore_from_file(user):
        return True
    target = operation.target
    return target.deleted_at is None and can_manage_environment(user, target)
