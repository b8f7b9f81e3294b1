"""Finding the backups and operations a page, an API call or a command names, for a user: the
same answers at every door (404 when the caller may not see it at all). Environments are found
by environments.lookups; who may do what is environments.permissions'."""

from __future__ import annotations

from django.http import Http404

from backups import selectors
from backups.models import ArchiveImport, Export, ManualBackup, RestoreOperation
from environments import permissions
from environments.lookups import (
    environment_for_admin,
    environment_for_backups,
    require_admin_center,
)
from environments.models import Environment
from portal.errors import Refused
from portal.models import User


def backup_of(environment: Environment, backup_id: int) -> ManualBackup:
    """An unexpired manual backup of an environment the caller already holds."""
    backup = (
        selectors.unexpired_backups(environment)
        .select_related("environment", "created_by")
        .filter(pk=backup_id)
        .first()
    )
    if backup is None:
        raise Http404(f"{environment.name} has no backup {backup_id}.")
    return backup


def backup_for_user(user: User, environment_ref: str | int, backup_id: int) -> ManualBackup:
    """A manual backup of an environment whose backups the user manages."""
    return backup_of(environment_for_backups(user, environment_ref), backup_id)


def backup_to_restore(user: User, backup_id: int) -> ManualBackup:
    """A manual backup named for a restore by its id alone: only those of environments the
    user manages can be named; the restore checks that it is the source's and unexpired."""
    backup = ManualBackup.objects.filter(
        pk=backup_id, environment__in=permissions.manageable_environments(user)
    ).first()
    if backup is None:
        raise Refused(f"There is no backup {backup_id} that you can restore.", field="backup")
    return backup


def operation_for_user(user: User, operation_id: int) -> RestoreOperation:
    """A restore, copy or undo the user may see (permissions.can_see_operation)."""
    op = (
        RestoreOperation.objects.select_related(
            "source", "target", "backup", "pre_restore_backup", "requested_by", "undo_of"
        )
        .filter(pk=operation_id)
        .first()
    )
    if op is None or not permissions.can_see_operation(user, op):
        raise Http404(f"There is no operation {operation_id} that you can see.")
    return op


def export_for_user(user: User, export_id: int) -> Export:
    """An export of an environment the user manages: 404 when they cannot see it, 403 when they
    see its environment but may not use its exports (permissions.can_export)."""
    require_admin_center(user)
    export = (
        Export.objects.select_related("environment", "requested_by", "backup")
        .filter(pk=export_id)
        .first()
    )
    try:
        if export is None:
            raise Http404
        environment_for_admin(user, export.environment.pk)
    except Http404:
        raise Http404(f"There is no export {export_id} that you can see.") from None
    permissions.can_export(user, export.environment).require()
    return export


def import_for_user(user: User, import_id: int) -> ArchiveImport:
    """A restore from a file: seen by the tenant admins who may start one, and by the admins of
    the sandbox it made."""
    op = ArchiveImport.objects.select_related("target", "requested_by").filter(pk=import_id).first()
    if op is None or not permissions.can_see_import(user, op):
        raise Http404(f"There is no restore from a file {import_id} that you can see.")
    return op
