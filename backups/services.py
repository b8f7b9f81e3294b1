"""Manual backups and the version update that records one: every rule about them, whichever
door the request came through (restores are in backups.restores).

Keyword-only functions; each checks permission through environments.permissions, refuses with a
message (portal.errors) and changes nothing when a rule says no, and writes the audit log.
"""

from __future__ import annotations

import datetime
import re

from django.db import transaction
from django.utils import timezone

from backups import selectors
from backups.models import ManualBackup, RestoreOperation
from environments import permissions
from environments.models import Environment
from portal.audit import audit_record
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import User

VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,6}){1,3}$")


def _clean_label(label: str | None) -> str:
    label = (label or "").strip()
    if not label:
        raise Refused("Enter a label for the backup.", field="label")
    if len(label) > 100:
        raise Refused("The label can be at most 100 characters.", field="label")
    return label


def _clean_notes(notes: str | None) -> str:
    notes = (notes or "").strip()
    if len(notes) > 2000:
        raise Refused("Notes can be at most 2000 characters.", field="notes")
    return notes


# -- manual backups --------------------------------------------------------------------------------


def backup_create(
    *,
    environment: Environment,
    label: str,
    notes: str = "",
    actor: User,
    kind: str = ManualBackup.Kind.MANUAL,
    moment: datetime.datetime | None = None,
) -> ManualBackup:
    decision = permissions.can_manage_backups(actor, environment)
    if not decision:
        raise NotAllowed(decision.reason)
    retention = environment.manual_retention
    if retention is None:
        if kind == ManualBackup.Kind.MANUAL:
            raise Refused(selectors.manual_backups_refusal(environment), field="environment")
        retention = environment.retention
    label, notes = _clean_label(label), _clean_notes(notes)
    now = timezone.now()
    moment = moment or now
    if moment > now or moment not in environment.restorable_window(now=now):
        raise Refused(
            "A backup can only mark a moment inside the restorable window.", field="moment"
        )
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=environment.pk)
        if kind == ManualBackup.Kind.MANUAL:
            env.refuse_unless_ready("back it up")
        backup = ManualBackup.objects.create(
            environment=env,
            label=label,
            notes=notes,
            backup_at=moment,
            kind=kind,
            created_by=actor,
            created_at=now,
            expires_at=now + retention,
        )
        audit_record(
            action="backup.create",
            actor=actor,
            environment=env,
            summary=f"Backed up {env.name}: {label}",
            details={"backup": backup.pk, "kind": kind, "backup_at": moment.isoformat()},
        )
    return backup


def backup_update(*, backup: ManualBackup, label: str, notes: str, actor: User) -> ManualBackup:
    decision = permissions.can_manage_backups(actor, backup.environment)
    if not decision:
        raise NotAllowed(decision.reason)
    label, notes = _clean_label(label), _clean_notes(notes)
    if backup.expires_at <= timezone.now():
        raise Refused("This backup has expired.")
    with transaction.atomic():
        old = (backup.label, backup.notes)
        backup.label, backup.notes = label, notes
        backup.save(update_fields=["label", "notes"])
        audit_record(
            action="backup.update",
            actor=actor,
            environment=backup.environment,
            summary=f"Edited backup {label} of {backup.environment.name}",
            details={"backup": backup.pk, "before": {"label": old[0], "notes": old[1]}},
        )
    return backup


def backup_delete(*, backup: ManualBackup, actor: User) -> None:
    env = backup.environment
    decision = permissions.can_manage_backups(actor, env)
    if not decision:
        raise NotAllowed(decision.reason)
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=env.pk)
        env.refuse_unless_ready("delete its backups")
        if RestoreOperation.objects.filter(
            backup=backup, status__in=RestoreOperation.ACTIVE
        ).exists():
            raise Conflict("A restore from this backup is under way; delete it afterwards.")
        label, pk = backup.label, backup.pk
        backup.delete()
        audit_record(
            action="backup.delete",
            actor=actor,
            environment=env,
            summary=f"Deleted backup {label} of {env.name}",
            details={"backup": pk},
        )


def _version_key(version: str) -> tuple[int, ...]:
    """A version as numbers, part by part, so that 9.10 comes after 9.9 and 9.2 is 9.2.0."""
    parts = [int(part) for part in version.split(".")]
    return tuple(parts + [0] * (4 - len(parts)))


def environment_update_version(
    *, environment: Environment, new_version: str, actor: User
) -> Environment:
    """Record a backup first, then change the version: the update can always be undone."""
    if not permissions.can_manage_environment(actor, environment):
        raise NotAllowed("You do not manage this environment.")
    new_version = (new_version or "").strip()
    if not VERSION_RE.match(new_version):
        raise Refused("Enter a version such as 9.2.24101.00180.", field="version")
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=environment.pk)
        env.refuse_unless_ready("update it")
        if _version_key(new_version) == _version_key(env.version):
            raise Refused(f"{env.name} is already on version {env.version}.", field="version")
        if _version_key(new_version) < _version_key(env.version):
            raise Refused(
                f"{new_version} is earlier than {env.version}, the version {env.name} is on: an "
                "update only goes forward. To go back, restore the backup recorded before the "
                "last update.",
                field="version",
            )
        old = env.version
        backup_create(
            environment=env,
            actor=actor,
            kind=ManualBackup.Kind.VERSION_UPDATE,
            label=f"Before update from {old} to {new_version}",
        )
        env.version = new_version
        env.save(update_fields=["version"])
        audit_record(
            action="environment.update_version",
            actor=actor,
            environment=env,
            summary=f"Updated {env.name} from version {old} to {new_version}",
            details={"from": old, "to": new_version},
        )
    environment.refresh_from_db()
    return environment
