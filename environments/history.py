"""What the store forgets: history no moment can ask for any more, and which restored tables
should copy their base's rows so that their base's history can go.

The policy (how far back each environment must stay restorable: its window, its unexpired
backups, the restores under way) is the caller's (backups.purge); this module is the store's
side of it: given each environment's floor, the oldest moment anything may still ask for, it
deletes what ended at or before it, in a few set-based statements per environment.

Versions that ended at or before the floor are invisible from every moment at or after it.
Lineage (environments.lineage) adds two rules. A table that a restored table (a branch) reads
keeps what the branch reads: its floor is no later than the earliest moment a branch reads it
at, and the table itself (with its generation) stays while any branch reads it. In a branch, a
key's newest version starting at or before the floor stays even when it has ended (an update's
old value, a delete's tombstone): it is what keeps the base's row of that key hidden.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum

from environments import layout, lineage
from environments.models import (
    Activity,
    ChangeBatch,
    DataTable,
    Environment,
    Generation,
    RowVersion,
    TableCount,
)

# Hourly activity and write batches are kept an hour past the floor: "changes since" a moment
# near the floor reads the whole hour it falls in.
ACTIVITY_MARGIN = datetime.timedelta(hours=1)


@dataclass
class Forgotten:
    """What a purge deleted of one environment's history."""

    versions: int = 0
    tables: int = 0
    generations: int = 0

    def __add__(self, other: Forgotten) -> Forgotten:
        return Forgotten(
            self.versions + other.versions,
            self.tables + other.tables,
            self.generations + other.generations,
        )

    def __bool__(self) -> bool:
        return bool(self.versions or self.tables or self.generations)


def deleted_count(queryset: QuerySet) -> int:
    """How many of the queryset's own rows a delete removed. QuerySet.delete() answers the
    total with everything that cascaded (a table's row counts, its reservation), which would
    report thousands of "tables" for a few."""
    _, per_model = queryset.delete()
    return per_model.get(queryset.model._meta.label, 0)


def forget_before(environment: Environment, floor: datetime.datetime) -> Forgotten:
    """Delete, in one transaction, the history of `environment` that ended at or before
    `floor` and that no restored table still reads; the environment's window never reaches
    back past `floor` again (purged_before)."""
    with transaction.atomic():
        tables = DataTable.objects.filter(generation__environment=environment)
        # A table a branch reads stays, and keeps what the branch reads at its moment.
        read_at = dict(
            DataTable.objects.filter(base__in=tables)
            .values("base")
            .annotate(m=Min("base_at"))
            .values_list("base", "m")
        )
        old_generations = Generation.objects.filter(
            environment=environment, valid_to__lte=floor
        ).exclude(tables__in=list(read_at))
        old_tables = tables.filter(
            Q(generation__in=old_generations) | Q(valid_to__lte=floor)
        ).exclude(pk__in=list(read_at))
        old = dict(
            old_tables.values_list("id").annotate(
                n=F("live_rows") - F("shared_rows") + F("closed_versions")
            )
        )
        kept = tables.exclude(pk__in=old)
        versions = sum(
            _forget_versions(pk, base_id, min(floor, read_at.get(pk, floor)))
            for pk, base_id in kept.values_list("pk", "base_id")
        )
        # Whole tables go at once: their partitions emptied (their figures say how many).
        if layout.partitioned():
            layout.empty_partitions(old)
            versions += sum(old.values())
        else:
            versions += deleted_count(RowVersion.objects.filter(table_id__in=list(old)))
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
        forgotten = Forgotten(
            versions=versions,
            tables=deleted_count(DataTable.objects.filter(pk__in=list(old))),
            generations=deleted_count(old_generations),
        )
        Activity.objects.filter(environment=environment, hour__lt=floor - ACTIVITY_MARGIN).delete()
        ChangeBatch.objects.filter(
            environment=environment, at__lte=floor - ACTIVITY_MARGIN
        ).delete()
        previous = environment.purged_before
        if previous is None or floor > previous:
            Environment.objects.filter(pk=environment.pk).update(purged_before=floor)
    return forgotten


def _forget_versions(table_id: int, base_id: int | None, floor: datetime.datetime) -> int:
    """Delete a kept table's versions that ended at or before `floor`; its figures lose what
    goes, in the same transaction. Each query names its table, so that PostgreSQL reads only
    its partition."""
    expired = RowVersion.objects.filter(table_id=table_id, valid_to__lte=floor)
    if base_id is not None:
        newer = RowVersion.objects.filter(
            table_id=table_id,
            key=OuterRef("key"),
            valid_from__gt=OuterRef("valid_from"),
            valid_from__lte=floor,
        )
        expired = expired.filter(Exists(newer))
    gone = expired.aggregate(n=Count("*"), size=Sum("size", default=0))
    if not gone["n"]:
        return 0
    DataTable.objects.filter(pk=table_id).update(
        closed_versions=F("closed_versions") - gone["n"],
        closed_bytes=F("closed_bytes") - gone["size"],
    )
    return deleted_count(expired)


def forget(floors: Iterable[tuple[Environment, datetime.datetime]]) -> dict[Environment, Forgotten]:
    """forget_before() for each environment, again until a round deletes no table: a table
    kept because a restored table read it goes once that reader has gone (a lineage is at
    most a few tables deep). Then the partitions of tables that are gone are dropped."""
    floors = list(floors)
    total = {env: Forgotten() for env, _ in floors}
    for _ in range(lineage.MAX_DEPTH + 2):
        tables = sum(f.tables for f in total.values())
        for env, floor in floors:
            total[env] += forget_before(env, floor)
        if sum(f.tables for f in total.values()) == tables:
            break
    layout.drop_orphan_partitions()
    return total


def branches_to_flatten(floor_of: Callable[[Environment], datetime.datetime]) -> list[int]:
    """The live restored tables that should hold their own rows (environments.flatten), most
    urgent first: those read through more than one base (so that restores of restored
    environments stay shallow), then those whose base's environment would already have
    forgotten the history they read (`floor_of` its environment), so that it can."""
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
            floors[owner.pk] = floor_of(owner)
        if table.base_at < floors[owner.pk]:
            stale.append(table.pk)
    return deep + stale
