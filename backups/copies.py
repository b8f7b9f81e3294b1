"""Copies, and restores into a new sandbox: a restore whose target is made for it, or whose
point is the source as it is now (backups.restores does the rest)."""

from __future__ import annotations

from dataclasses import asdict, replace

from django.db import transaction

from backups.models import RestoreOperation
from backups.restores import LATEST, RestoreRequest, restore_start
from environments import permissions
from environments import services as env_services
from environments.models import Environment, EnvironmentType, Membership
from portal.errors import Refused
from portal.models import User


def restore_to_new(
    request: RestoreRequest, *, name: str, slug: str, security_group: str = ""
) -> RestoreOperation:
    """Restore (or copy) `request.source` into a new sandbox environment made for it (the
    request's target is ignored), in the source's region, whose admin the requester becomes:
    the environment and the queued restore are made in one transaction, so a refusal of
    either leaves neither, and a restore that fails later removes the sandbox
    (engine.restore_fail). The same idempotency key again returns the first restore, even when
    both requests arrive at once: the URL name's unique key decides which makes the sandbox."""
    if (again := _same_new_sandbox(request, name, slug)) is not None:
        return restore_start(replace(request, target=again))
    permissions.can_manage_backups(request.requested_by, request.source).require()
    try:
        new = env_services.check_environment_create(
            actor=request.requested_by,
            name=name,
            slug=slug,
            type=EnvironmentType.SANDBOX,
            region=request.source.region,
            security_group=security_group,
        )
        with transaction.atomic():
            target = env_services.environment_insert(**asdict(new), created_by=request.requested_by)
            Membership.objects.create(
                environment=target, user=request.requested_by, role=Membership.Role.ADMIN
            )
            return restore_start(replace(request, target=target, made_target=True))
    except Refused:
        # The same request sent twice at once: the one that lost the URL name to the other
        # returns the other's restore.
        if (again := _same_new_sandbox(request, name, slug)) is None:
            raise
        return restore_start(replace(request, target=again))


def _same_new_sandbox(request: RestoreRequest, name: str, slug: str) -> Environment | None:
    """The sandbox that this person's earlier request with this key made, if it asked for the
    same one (a different request with the key is refused)."""
    if not request.key:
        return None
    first = (
        RestoreOperation.objects.filter(
            requested_by=request.requested_by, idempotency_key=request.key
        )
        .select_related("target")
        .first()
    )
    if first is None:
        return None
    # A sandbox removed when its restore failed has lost its URL name; its name tells.
    same = (
        first.target_name == name.strip()
        if first.target_removed
        else first.target.slug == slug.strip()
    )
    if not same:
        raise Refused(
            "This idempotency key was already used for a different restore.",
            field="idempotency_key",
        )
    return first.target


def copy_start(
    *,
    source: Environment,
    requested_by: User,
    schema_only: bool = False,
    target: Environment | None = None,
    new: dict | None = None,
    idempotency_key: str | None = None,
) -> RestoreOperation:
    """Copy `source` as it is now over the sandbox `target`, or into a new sandbox (`new`:
    name, slug and security_group, as restore_to_new takes them): everything, or with
    `schema_only` its tables and columns without rows. A copy is a restore of the source's
    latest moment, so the target gets a "Before copy" backup, administration mode and an undo."""
    if (target is None) == (new is None):
        raise Refused("Choose the environment to copy to, or a new one.", field="target")
    if target is not None and target.pk == source.pk:
        raise Refused(
            f"Copy {source.name} to another environment (to take it back to an earlier "
            "moment, restore it).",
            field="target",
        )
    request = RestoreRequest(
        source=source,
        target=target or source,  # a new sandbox replaces it
        requested_by=requested_by,
        moment=LATEST,
        kind=RestoreOperation.Kind.COPY_SCHEMA if schema_only else RestoreOperation.Kind.COPY,
        idempotency_key=idempotency_key or "",
    )
    if new is not None:
        return restore_to_new(request, **new)
    return restore_start(request)
