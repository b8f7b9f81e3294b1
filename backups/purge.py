"""Retention: delete expired manual backups and the history nothing can reach any more.

For each environment the floor is the oldest moment anything may still ask for: the start of
its restorable window, an unexpired backup's moment, a queued or running restore's moment.
Versions that ended at or before the floor are invisible from every moment at or after it, so
they go, in a few set-based DELETEs per environment. Nothing newer is touched.

Lineage (environments.lineage) adds two rules. A table that a restored table (a branch) reads
keeps what the branch reads: its floor is no later than the earliest moment a branch reads it
at, and the table itself (with its generation) stays while any branch reads it. In a branch, a
key's newest version starting at or before the floor stays even when it has ended (an update's
old value, a delete's tombstone): it is what keeps the base's row of that key hidden.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from backups.models import ManualBackup, RestoreOperation
from backups.selectors import START_GRACE
from environments import generations, layout, lineage
from environments.models import (
    Activity,
    ChangeBatch,
    DataTable,
    Environment,
    Generation,
    Membership,
    RowVersion,
    TableCount,
)
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


def _deleted(queryset: QuerySet) -> int:
    """How many of the queryset's own rows a delete removed. QuerySet.delete() answers the
    total with everything that cascaded (a table's row counts, its reservation), which would
    report thousands of "tables" for a few."""
    _, per_model = queryset.delete()
    return per_model.get(queryset.model._meta.label, 0)


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


def _purge_environment(env: Environment, floor: datetime.datetime, result: PurgeResult) -> None:
    with transaction.atomic():
        tables = DataTable.objects.filter(generation__environment=env)
        # A table a branch reads stays, and keeps what the branch reads at its moment.
        read_at = dict(
            DataTable.objects.filter(base__in=tables)
            .values("base")
            .annotate(m=Min("base_at"))
            .values_list("base", "m")
        )
        old_generations = Generation.objects.filter(environment=env, valid_to__lte=floor).exclude(
            tables__in=list(read_at)
        )
        old_tables = tables.filter(
            Q(generation__in=old_generations) | Q(valid_to__lte=floor)
        ).exclude(pk__in=list(read_at))
        old = dict(
            old_tables.values_list("id").annotate(
                n=F("live_rows") - F("shared_rows") + F("closed_versions")
            )
        )
        kept = tables.exclude(pk__in=old)
        versions = 0
        for pk, base_id in kept.values_list("pk", "base_id"):
            # Each query names its table, so that PostgreSQL reads only its partition.
            table_floor = min(floor, read_at.get(pk, floor))
            expired = RowVersion.objects.filter(table_id=pk, valid_to__lte=table_floor)
            if base_id is not None:
                newer = RowVersion.objects.filter(
                    table_id=pk,
                    key=OuterRef("key"),
                    valid_from__gt=OuterRef("valid_from"),
                    valid_from__lte=table_floor,
                )
                expired = expired.filter(Exists(newer))
            # The table's figures lose what goes, in the same transaction as the delete.
            gone = expired.aggregate(n=Count("*"), size=Sum("size", default=0))
            if gone["n"]:
                DataTable.objects.filter(pk=pk).update(
                    closed_versions=F("closed_versions") - gone["n"],
                    closed_bytes=F("closed_bytes") - gone["size"],
                )
                versions += _deleted(expired)
        # Whole tables go at once: their partitions emptied (their figures say how many).
        if layout.partitioned():
            layout.empty_partitions(old)
            versions += sum(old.values())
        else:
            versions += _deleted(RowVersion.objects.filter(table_id__in=list(old)))
        # Row counts older than the floor answer no question any more, except each table's
        # newest one at or before it (the count at the floor itself).
        TableCount.objects.filter(
            table__in=kept,
            at__lt=Subquery(
                TableCount.objects.filter(table=OuterRef("table"), at__lte=floor)
                .order_by("-at")
                .values("at")[:1]
            ),
        ).delete()
        tables = _deleted(DataTable.objects.filter(pk__in=list(old)))
        generations = _deleted(old_generations)
        Activity.objects.filter(
            environment=env, hour__lt=floor - datetime.timedelta(hours=1)
        ).delete()
        ChangeBatch.objects.filter(
            environment=env, at__lte=floor - datetime.timedelta(hours=1)
        ).delete()
        previous = env.purged_before
        if previous is None or floor > previous:
            Environment.objects.filter(pk=env.pk).update(purged_before=floor)
    result.versions_deleted += versions
    result.tables_deleted += tables
    result.generations_deleted += generations
    result.environments[env.slug] = floor.isoformat()
    if versions or tables or generations:
        audit_record(
            action="backup.purge",
            actor=None,
            environment=env,
            summary=f"Purged history of {env.name} older than "
            f"{floor:%Y-%m-%d %H:%M} UTC ({versions} versions)",
            details={
                "floor": floor.isoformat(),
                "versions": versions,
                "tables": tables,
                "generations": generations,
            },
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
    result.backups_deleted = _deleted(expired)
    result.environments_removed = _remove_deleted(now)
    floors = [(env, history_floor(env, now)) for env in Environment.objects.all()]
    # A table kept because a restored table read it goes once that reader has gone: again,
    # until a round deletes no table (a lineage is at most a few tables deep).
    for _ in range(lineage.MAX_DEPTH + 2):
        tables = result.tables_deleted
        for env, floor in floors:
            _purge_environment(env, floor, result)
        if result.tables_deleted == tables:
            break
    layout.drop_orphan_partitions()
    audit_record(
        action="purge",
        actor=actor,
        summary=f"Purge: {result.backups_deleted} expired backups, "
        f"{result.versions_deleted} row versions deleted",
        details={k: v for k, v in result.as_dict().items() if k != "environments"},
    )
    return result


def branches_to_flatten(now: datetime.datetime | None = None) -> list[int]:
    """The live restored tables that should hold their own rows (environments.flatten), most
    urgent first: those read through more than one base (so that restores of restored
    environments stay shallow), then those whose base's environment would already have purged
    the history they read (so that it can)."""
    now = now or timezone.now()
    live = DataTable.objects.filter(
        base__isnull=False, valid_to__isnull=True, generation__valid_to__isnull=True
    ).select_related("base__generation__environment")
    deep, stale, floors = [], [], {}
    for table in live.order_by("-depth", "pk"):
        if table.depth > 1:
            deep.append(table.pk)
            continue
        owner = table.base.generation.environment
        if owner.pk not in floors:
            floors[owner.pk] = history_floor(owner, now)
        if table.base_at < floors[owner.pk]:
            stale.append(table.pk)
    return deep + stale
