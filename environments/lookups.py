"""Finding the objects an API call or a command names, with the same answers the pages give:
404 when the caller cannot see it at all, 403 when they only use its data. Who may do what is
decided in environments.permissions; what happens, in the services."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from environments import permissions
from environments.models import Environment
from portal.models import User


def require_admin_center(user: User) -> None:
    if not permissions.can_use_admin_center(user):
        raise PermissionDenied(
            "The admin center is for environment and tenant administrators (its pages, its "
            "API and its commands)."
        )


def find_environment(ref: str | int, *, deleted: bool = False) -> Environment | None:
    """The environment a slug or an id names; a deleted one only when `deleted` is asked
    for (the Deleted environments list and Recover), and never one removed for good."""
    ref = str(ref).strip()
    if "\x00" in ref:  # no slug has one, and PostgreSQL refuses it in a query
        return None
    environments = Environment.objects.filter(
        deleted_at__isnull=not deleted, removed_at__isnull=True
    )
    env = environments.filter(slug=ref).first() if ref else None
    # ASCII digits only: "²".isdigit() is true, and int() refuses it.
    if env is None and ref.isascii() and ref.isdigit() and len(ref) < 19:
        env = environments.filter(pk=int(ref)).first()
    return env


def deleted_environment(user: User, ref: str | int) -> Environment:
    """A deleted environment that can still be recovered, for one who may see those."""
    decision = permissions.can_recover_environments(user)
    if not decision:
        raise PermissionDenied(decision.reason)
    env = find_environment(ref, deleted=True)
    if env is None:
        raise Http404(f"There is no deleted environment {str(ref)[:100]!r} to recover.")
    return env


def environment_for_admin(user: User, ref: str | int) -> Environment:
    """An environment the user manages."""
    require_admin_center(user)
    env = find_environment(ref)
    if env is not None and permissions.can_manage_environment(user, env):
        return env
    if env is not None and permissions.data_environments(user).filter(pk=env.pk).exists():
        raise PermissionDenied(f"You use {env.name}'s data but do not administer it.")
    raise Http404(f"There is no environment {str(ref)[:100]!r} that you can see.")


def environment_for_backups(user: User, ref: str | int) -> Environment:
    """An environment whose backups the user manages (pages, API and commands alike)."""
    env = environment_for_admin(user, ref)
    decision = permissions.can_manage_backups(user, env)
    if not decision:
        raise PermissionDenied(decision.reason)
    return env


def visible_environment(user: User, ref: str | int) -> Environment:
    """An environment the user manages or uses; what they may do with it is the service's
    question."""
    env = find_environment(ref)
    if env is not None and (
        permissions.can_manage_environment(user, env)
        or permissions.data_environments(user).filter(pk=env.pk).exists()
    ):
        return env
    raise Http404(f"There is no environment {str(ref)[:100]!r} that you can see.")


def environment_for_data(user: User, ref: str | int) -> Environment:
    """An environment whose data the user may read (its admins, and its makers unless it is in
    administration mode): the API's and the commands' data reads and the CSV exports."""
    env = visible_environment(user, ref)
    permissions.can_read_data(user, env).require()
    return env
