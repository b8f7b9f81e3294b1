"""Environment lifecycle: create, change type, administration mode, background operations.

Keyword-only functions that check permission (through environments.permissions), change the
environment inside one transaction, and write the audit log.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from environments import capacity, permissions, store
from environments.models import (
    RESERVED_SLUGS,
    Environment,
    EnvironmentState,
    EnvironmentType,
    fold_name,
    slug_validator,
)
from environments.signals import environment_deleting
from portal.audit import audit_record
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import User


def environment_insert(
    *,
    name: str,
    slug: str,
    type: str,
    region: str,
    created_by: User | None,
    security_group: str = "",
    version: str | None = None,
    created_at: datetime.datetime | None = None,
) -> Environment:
    """Make an environment with these details, as given (environment_create checks a person's
    request first). Its keyword-only parameters are the new environment's fields, one each:
    grouping them in an object would only move the same list elsewhere. The URL name and the
    one Default environment are decided by the database's unique constraints: two requests
    for the same name at once get one environment and one refusal, whichever commits first."""
    env = Environment(
        name=name.strip(),
        slug=slug,
        type=type,
        region=region,
        security_group=security_group.strip(),
        created_by=created_by,
        created_at=created_at or timezone.now(),
    )
    if version:
        env.version = version
    if type == EnvironmentType.TRIAL:
        env.expires_at = env.created_at + datetime.timedelta(days=settings.TRIAL_DAYS)
    # Uniqueness is left to the INSERT: a check here could pass for two requests at once.
    env.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            env.save()
            store.start_first_generation(env)
    except IntegrityError:
        raise _conflict(slug=slug, type=type, name=env.name) from None
    audit_record(
        action="environment.create",
        actor=created_by,
        environment=env,
        summary=f"Created {env.get_type_display().lower()} environment {env.name}",
        at=env.created_at,
    )
    return env


def _conflict(*, slug: str, type: str, name: str) -> Refused:
    """Why the database refused a new environment, read once the other one is there."""
    if slug in RESERVED_SLUGS:  # its check constraint
        return _reserved(slug)
    taken = Environment.objects.filter(slug=slug).first()
    if taken is None and (same_name := live_named(name)) is not None:
        return name_taken(same_name)
    if taken is None and type == EnvironmentType.DEFAULT:
        return Refused(
            "There is already a Default environment; a tenant has exactly one.", field="type"
        )
    until = taken.recoverable_until if taken is not None else None
    if until is not None and until > timezone.now():
        return Refused(
            f"The URL name {slug!r} belongs to a deleted environment, which can be recovered "
            f"until {until:%Y-%m-%d %H:%M} UTC.",
            field="slug",
        )
    return Refused(f"The URL name {slug!r} is taken.", field="slug")


def _reserved(slug: str) -> Refused:
    return Refused(
        f"The URL name {slug!r} is reserved for the portal's own pages; choose another.",
        field="slug",
    )


def live_named(name: str, *, excluding: Environment | None = None) -> Environment | None:
    """The live (not deleted) environment whose name reads as `name`, case and spacing
    folded, other than `excluding`; None when the name is free."""
    same = Environment.objects.filter(name_key=fold_name(name), deleted_at__isnull=True)
    if excluding is not None:
        same = same.exclude(pk=excluding.pk)
    return same.first()


def name_taken(taken: Environment, *, field: str = "name") -> Refused:
    return Refused(
        f"An environment named {taken.name} already exists; choose another name.", field=field
    )


def refuse_taken_name(
    name: str, *, excluding: Environment | None = None, field: str = "name"
) -> None:
    """Refuse a name that a live environment other than `excluding` already has: the common
    case, answered before anything is written (the unique constraint decides a race)."""
    if (taken := live_named(name, excluding=excluding)) is not None:
        raise name_taken(taken, field=field)


@dataclass(frozen=True)
class NewEnvironment:
    """A person's request for a new environment, checked and normalised."""

    name: str
    slug: str
    type: str
    region: str
    security_group: str


def check_environment_create(
    *, actor: User, name: str, slug: str, type: str, region: str, security_group: str = ""
) -> NewEnvironment:
    """Whether `actor` may make this environment and its details are valid; nothing is locked
    or written (restores into a new sandbox check the same before their own transaction)."""
    decision = permissions.can_create_environment(actor)
    if not decision:
        raise NotAllowed(decision.reason)
    name, slug, security_group = name.strip(), slug.strip(), security_group.strip()
    if not name:
        raise Refused("Give the environment a name.", field="name")
    if len(name) > Environment._meta.get_field("name").max_length:
        raise Refused("The name is too long (100 characters at most).", field="name")
    if slug in RESERVED_SLUGS:
        raise _reserved(slug)
    try:
        slug_validator(slug)
    except ValidationError as exc:
        raise Refused(
            f"The URL name {slug!r} is not valid: {exc.messages[0]}", field="slug"
        ) from None
    if type not in EnvironmentType.values:
        raise Refused(f"{type!r} is not an environment type.", field="type")
    if region not in dict(settings.REGIONS):
        raise Refused(f"{region!r} is not a region.", field="region")
    if len(security_group) > Environment._meta.get_field("security_group").max_length:
        raise Refused(
            "The security group is too long (100 characters at most).", field="security_group"
        )
    if type == EnvironmentType.DEFAULT and Environment.objects.filter(type=type).exists():
        raise Refused(
            "There is already a Default environment; a tenant has exactly one.", field="type"
        )
    taken = Environment.objects.filter(slug=slug).first()
    if taken is not None:  # the common case, answered before anything is written
        raise _conflict(slug=slug, type=type, name=name)
    refuse_taken_name(name)
    capacity.require_room("create an environment")
    return NewEnvironment(
        name=name, slug=slug, type=type, region=region, security_group=security_group
    )


def environment_create(
    *, actor: User, name: str, slug: str, type: str, region: str, security_group: str = ""
) -> Environment:
    """Create an empty environment for a person (the New page, the API, the command): they
    must be a tenant admin, the input must be valid, and the tenant must have room."""
    new = check_environment_create(
        actor=actor, name=name, slug=slug, type=type, region=region, security_group=security_group
    )
    with transaction.atomic():
        env = environment_insert(**asdict(new), created_by=actor)
        # Last, under the capacity lock, once the name is ours (capacity.reserve's rule).
        capacity.reserve(action="create an environment")
    return env


def _locked(environment: Environment) -> Environment:
    return Environment.objects.select_for_update().get(pk=environment.pk)


def environment_change_type(*, environment: Environment, new_type: str, actor: User) -> Environment:
    """Convert a production environment to sandbox or back."""
    with transaction.atomic():
        env = _locked(environment)
        decision = permissions.can_change_type(actor, env)
        if not decision:
            if not env.is_ready:
                raise Conflict(decision.reason)
            raise NotAllowed(decision.reason)
        if new_type not in (EnvironmentType.PRODUCTION, EnvironmentType.SANDBOX):
            raise Refused(
                "An environment can only be converted to production or sandbox.", field="type"
            )
        if new_type == env.type:
            raise Refused(
                f"{env.name} is already a {env.get_type_display().lower()} environment.",
                field="type",
            )
        old_label = env.get_type_display()
        env.type = new_type
        env.save(update_fields=["type"])
        audit_record(
            action="environment.change_type",
            actor=actor,
            environment=env,
            summary=f"Converted {env.name} from {old_label} to {env.get_type_display()}",
            details={"from": old_label.lower(), "to": new_type},
        )
    environment.refresh_from_db()
    return environment


def environment_set_admin_mode(
    *, environment: Environment, enabled: bool, actor: User
) -> Environment:
    return _set_switch(
        environment=environment,
        field="admin_mode",
        enabled=enabled,
        actor=actor,
        label="administration mode",
        action="environment.admin_mode",
    )


def environment_set_background_operations(
    *, environment: Environment, enabled: bool, actor: User
) -> Environment:
    return _set_switch(
        environment=environment,
        field="background_operations",
        enabled=enabled,
        actor=actor,
        label="background operations",
        action="environment.background_operations",
    )


def _set_switch(
    *, environment: Environment, field: str, enabled: bool, actor: User, label: str, action: str
) -> Environment:
    with transaction.atomic():
        env = _locked(environment)
        if not permissions.can_manage_environment(actor, env):
            raise NotAllowed("You do not manage this environment.")
        if env.state == EnvironmentState.RESTORING:
            raise Conflict(f"{env.name} is being restored; try again when it is ready.")
        if getattr(env, field) != enabled:
            setattr(env, field, enabled)
            env.save(update_fields=[field])
            audit_record(
                action=action,
                actor=actor,
                environment=env,
                summary=f"Turned {label} {'on' if enabled else 'off'} for {env.name}",
                details={"enabled": enabled},
            )
    environment.refresh_from_db()
    return environment


def trials_expire(now: datetime.datetime | None = None) -> int:
    """Disable each trial environment whose time is up (the worker's housekeeping calls this):
    its data stays, read-only. Returns how many were disabled."""
    now = now or timezone.now()
    expired = 0
    for env in Environment.objects.filter(
        type=EnvironmentType.TRIAL, state=EnvironmentState.READY, expires_at__lte=now
    ):
        with transaction.atomic():
            env = _locked(env)
            if env.state != EnvironmentState.READY:  # being restored, or done by another worker
                continue
            env.set_state(EnvironmentState.DISABLED)
            env.save(update_fields=["state"])
            audit_record(
                action="environment.expire",
                actor=None,
                environment=env,
                summary=f"Trial {env.name} expired after {settings.TRIAL_DAYS} days: disabled",
            )
        expired += 1
    return expired


def environment_delete(
    *, environment: Environment, actor: User, confirm_name: str, confirm_production: bool = False
) -> Environment:
    """Delete an environment: out of sight at once, its data kept for RECOVERY_DAYS (a tenant
    admin can recover it meanwhile), then removed for good by a purge. The name must be typed
    to confirm, and a production environment needs a second confirmation."""
    with transaction.atomic():
        env = _locked(environment)
        if env.deleted_at is not None:
            raise Conflict(f"{env.name} is already deleted.")
        decision = permissions.can_delete_environment(actor, env)
        if not decision:
            if not permissions.can_manage_environment(actor, env):
                raise NotAllowed(decision.reason)
            raise (Conflict if env.state == EnvironmentState.RESTORING else Refused)(
                decision.reason
            )
        environment_deleting.send(sender=Environment, environment=env)
        if confirm_name.strip() != env.name:
            raise Refused(f"Type {env.name} exactly to confirm.", field="confirm_name")
        if env.type == EnvironmentType.PRODUCTION and not confirm_production:
            raise Refused(
                f"{env.name} is a production environment: confirm that you mean to delete it, "
                "or convert it to a sandbox first.",
                field="confirm_production",
            )
        env.deleted_at, env.deleted_by = timezone.now(), actor
        env.save(update_fields=["deleted_at", "deleted_by"])
        audit_record(
            action="environment.delete",
            actor=actor,
            environment=env,
            summary=f"Deleted {env.get_type_display().lower()} environment {env.name}; "
            f"recoverable until {env.recoverable_until:%Y-%m-%d %H:%M} UTC",
        )
    environment.refresh_from_db()
    return environment


def recoverable_environments():
    """The deleted environments that can still be recovered, the latest deleted first."""
    since = timezone.now() - datetime.timedelta(days=settings.RECOVERY_DAYS)
    return (
        Environment.objects.filter(deleted_at__gt=since, removed_at__isnull=True)
        .select_related("deleted_by")
        .order_by("-deleted_at", "name")
    )


def environment_recover(
    *, environment: Environment, actor: User, name: str | None = None
) -> Environment:
    """Bring a deleted environment back, as it was, within RECOVERY_DAYS of its deletion. Its
    name must still be free among live environments; if another took it meanwhile, `name`
    gives it a new one (the recover page asks for it)."""
    decision = permissions.can_recover_environments(actor)
    if not decision:
        raise NotAllowed(decision.reason)
    new_name = None if name is None else name.strip()
    if new_name is not None:
        if not new_name:
            raise Refused("Give the environment a name.", field="name")
        if len(new_name) > Environment._meta.get_field("name").max_length:
            raise Refused("The name is too long (100 characters at most).", field="name")
    with transaction.atomic():
        env = _locked(environment)
        if env.deleted_at is None:
            raise Conflict(f"{env.name} is not deleted.")
        if env.removed_at is not None or timezone.now() >= env.recoverable_until:
            raise Refused(
                f"{env.name} was deleted more than {settings.RECOVERY_DAYS} days ago and can "
                "no longer be recovered."
            )
        old_name = env.name
        if new_name:
            env.name = new_name
        refuse_taken_name(env.name, excluding=env)
        env.deleted_at = env.deleted_by = None
        try:
            with transaction.atomic():
                env.save(update_fields=["deleted_at", "deleted_by", "name"])
        except IntegrityError:  # another environment took the name since the check above
            raise name_taken(live_named(env.name, excluding=env) or env) from None
        renamed = f" as {env.name}" if env.name != old_name else ""
        audit_record(
            action="environment.recover",
            actor=actor,
            environment=env,
            summary=f"Recovered {old_name}{renamed}",
        )
    environment.refresh_from_db()
    return environment
