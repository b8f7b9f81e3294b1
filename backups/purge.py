"""Retention: delete expired manual backups and the history nothing can reach any more.

For each environment the floor is the oldest moment anything may still ask for: the start of
its restorable window, an unexpired backup's moment, a queued or running restore's moment.
What goes for a given floor, and what a restored table's lineage keeps, is the store's side
(environments.history); this module decides the floors, expires manual backups, removes
environments deleted long enough ago, and writes the audit log.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Min
from django.utils import timezone

from backups.models import ManualBackup, RestoreOperation
from backups.selectors import START_GRACE
from environments import generations, history
from environments.models import Environment, Membership
from portal.audit import audit_record
from portal.models import User

log = logging.getLogger(__name__)


@dataclass
class PurgeResult:
    backups_deleted: int = 0
    versions_deleted: int = 0
    tables_deleted: int = 0
    generations_deleted: int = 0
    environments_removed: int = 0
    environments: dict[str, str] = field(default_factory=dict)  # slug -> floor (ISO)

    def as_dict(self) -> dict:
        return asdict(self)


def history_floor(environment: Environment, now: datetime.datetime) -> datetime.datetime:
    if environment.removed_at is not None:  # deleted for good: nothing may ask for any of it
        return now
    # Never later than the grace a request's moment is checked with (selectors.START_GRACE):
    # a copy of a trial (whose window is only "now") asked for a moment ago still reads it.
    floor = min(environment.restorable_window(now=now).start, now - START_GRACE)
    oldest_backup = ManualBackup.objects.filter(
        environment=environment, expires_at__gt=now
    ).aggregate(m=Min("backup_at"))["m"]
    oldest_restore = RestoreOperation.objects.filter(
        source=environment, status__in=RestoreOperation.ACTIVE
    ).aggregate(m=Min("moment"))["m"]
    return min(filter(None, [floor, oldest_backup, oldest_restore]))


def _audit_forgotten(
    env: Environment, floor: datetime.datetime, forgotten: history.Forgotten
) -> None:
    audit_record(
        action="backup.purge",
        actor=None,
        environment=env,
        summary=f"Purged history of {env.name} older than "
        f"{floor:%Y-%m-%d %H:%M} UTC ({forgotten.versions} versions)",
        details={"floor": floor.isoformat(), **asdict(forgotten)},
    )


def _remove_deleted(now: datetime.datetime) -> int:
    """Remove for good the environments deleted RECOVERY_DAYS ago: their backups and members
    go, their live data ends now (so that the purge below deletes all their history but what
    restored tables of other environments still read), and their URL name is free again. The
    row stays, named as it was, for the restores and the audit log that mention it."""
    removed = 0
    cutoff = now - datetime.timedelta(days=settings.RECOVERY_DAYS)
    due = Environment.objects.filter(deleted_at__lte=cutoff, removed_at__isnull=True)
    for env in due:
        try:
            removed += _remove_one(env.pk, now, cutoff)
        except DatabaseError:  # never the whole purge for one environment: the next one tries
            log.exception("Could not remove deleted environment %s", env.pk)
    return removed


def _remove_one(pk: int, now: datetime.datetime, cutoff: datetime.datetime) -> int:
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=pk)
        if env.removed_at is not None or env.deleted_at is None or env.deleted_at > cutoff:
            return 0  # recovered (and maybe deleted again) meanwhile
        ManualBackup.objects.filter(environment=env).delete()
        Membership.objects.filter(environment=env).delete()
        generations.generation_end(environment=env, at=now)
        slug = env.slug
        # A "." is in no URL name a person can give: this one never collides with theirs.
        Environment.objects.filter(pk=env.pk).update(removed_at=now, slug=f"removed.{env.pk}")
        audit_record(
            action="environment.remove",
            actor=None,
            environment=env,
            summary=f"Removed deleted environment {env.name} for good ({slug}); its URL "
            "name is free again",
        )
    return 1


def backups_purge(
    *, now: datetime.datetime | None = None, actor: User | None = None
) -> PurgeResult:
    now = now or timezone.now()
    result = PurgeResult()
    expired = ManualBackup.objects.filter(expires_at__lte=now)
    for backup in expired.select_related("environment"):
        audit_record(
            action="backup.expire",
            actor=None,
            environment=backup.environment,
            summary=f"Backup {backup.label} of {backup.environment.name} expired",
            details={"backup": backup.pk},
        )
    result.backups_deleted = history.deleted_count(expired)
    result.environments_removed = _remove_deleted(now)
    floors = {env: history_floor(env, now) for env in Environment.objects.all()}
    for env, forgotten in history.forget(floors.items()).items():
        result.versions_deleted += forgotten.versions
        result.tables_deleted += forgotten.tables
        result.generations_deleted += forgotten.generations
        result.environments[env.slug] = floors[env].isoformat()
        if forgotten:
            _audit_forgotten(env, floors[env], forgotten)
    audit_record(
        action="purge",
        actor=actor,
        summary=f"Purge: {result.backups_deleted} expired backups, "
        f"{result.versions_deleted} row versions deleted",
        details={k: v for k, v in result.as_dict().items() if k != "environments"},
    )
    return result


def branches_to_flatten(now: datetime.datetime | None = None) -> list[int]:
    """The live restored tables that should hold their own rows, most urgent first
    (environments.history.branches_to_flatten), judged by today's history floors."""
    now = now or timezone.now()
    return history.branches_to_flatten(lambda env: history_floor(env, now))
