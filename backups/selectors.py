"""Reads that need care: the restorable window and the closest-time picker's candidates."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from backups.models import ManualBackup, RestoreOperation
from environments import permissions, store
from environments.models import Environment, EnvironmentType, Window
from portal.models import User

HOUR = datetime.timedelta(hours=1)


def manual_backups_refusal(environment: Environment) -> str:
    """Why this environment has no manual backups, or "" when it may have them."""
    if environment.manual_retention is not None:
        return ""
    if not environment.backed_up:  # a trial: no "last 0 days" to point to
        return (
            f"{environment.get_type_display()} environments are not backed up: they have no "
            "system backups to restore and no manual backups (only production and sandbox "
            f"environments have them). To keep what {environment.name} holds, copy it to a "
            "sandbox environment."
        )
    return (
        f"{environment.get_type_display()} environments have no manual backups: only "
        "production and sandbox environments do. Every moment of the last "
        f"{environment.retention.days} days can be restored from the System "
        "tab."
    )


def unexpired_backups(
    environment: Environment, *, now: datetime.datetime | None = None
) -> QuerySet[ManualBackup]:
    return ManualBackup.objects.filter(
        environment=environment, expires_at__gt=now or timezone.now()
    )


# The window's start moves on while a person reads the candidates; history is purged daily,
# so a moment that slipped out of the window a few minutes ago is still exactly there.
START_GRACE = datetime.timedelta(minutes=15)


def is_restorable(
    environment: Environment,
    moment: datetime.datetime,
    *,
    now: datetime.datetime | None = None,
    grace: datetime.timedelta = datetime.timedelta(0),
) -> bool:
    """A moment in the window (or up to `grace` before its start, while that history is still
    kept), or the moment of a backup that has not expired."""
    now = now or timezone.now()
    window = environment.restorable_window(now=now)
    if moment in window:
        return True
    kept_from = max(filter(None, [environment.created_at, environment.purged_before]))
    if window.start - grace <= moment < window.start and moment >= kept_from:
        return True
    return unexpired_backups(environment, now=now).filter(backup_at=moment).exists()


@dataclass(frozen=True)
class Candidate:
    moment: datetime.datetime
    kind: str  # "point_in_time" | "system" | "manual"
    label: str
    backup_id: int | None = None
    backup_kind: str = ""  # a ManualBackup.Kind, for kind "manual"

    @property
    def kind_label(self) -> str:
        if self.backup_kind:
            return ManualBackup.Kind(self.backup_kind).label
        return {
            "point_in_time": "Point in time",
            "system": "System backup",
            "manual": "Manual backup",
        }[self.kind]


@dataclass(frozen=True)
class Candidates:
    requested: datetime.datetime
    window: Window
    exact: bool
    reason: str  # why the exact moment is not available (or a note about it), else ""
    items: list[Candidate] = field(default_factory=list)


def _hourly_points(
    window: Window, around: datetime.datetime, count: int
) -> list[datetime.datetime]:
    """System backup points: on the hour, inside the window, nearest `around`."""
    anchor = around.replace(minute=0, second=0, microsecond=0)
    points = []
    for step in range(-count, count + 1):
        point = anchor + step * HOUR
        if point in window:
            points.append(point)
    return sorted(points, key=lambda p: (abs(p - around), p))[:count]


def restore_candidates(
    environment: Environment,
    moment: datetime.datetime,
    *,
    now: datetime.datetime | None = None,
    limit: int = 8,
) -> Candidates:
    """What the closest-time picker offers for `moment`: the exact moment when it can be
    restored, the nearest hourly system backups and manual backups, nearest first; when the
    moment is outside the window, the nearest available moments and the reason."""
    now = now or timezone.now()
    window = environment.restorable_window(now=now)
    exact = moment in window
    around, reason = _why_not_exact(environment, moment, window, now)
    items: list[Candidate] = []
    if exact:
        items.append(Candidate(moment, "point_in_time", "The moment you chose"))
    elif moment > now:
        items.append(Candidate(now, "point_in_time", "Latest"))
    else:
        items.append(Candidate(window.start, "point_in_time", "Earliest available"))
    for point in _hourly_points(window, around, 4):
        if point != items[0].moment:
            items.append(Candidate(point, "system", "System backup"))
    items += [
        Candidate(b.backup_at, "manual", b.label, b.pk, b.kind)
        for b in _nearest_backups(environment, around, now)
    ]
    head, rest = items[0], items[1:]
    rest.sort(key=lambda c: (abs(c.moment - around), c.moment))
    return Candidates(
        requested=moment,
        window=window,
        exact=exact,
        reason=reason,
        items=[head] + rest[: limit - 1],
    )


def _why_not_exact(
    environment: Environment, moment: datetime.datetime, window: Window, now: datetime.datetime
) -> tuple[datetime.datetime, str]:
    """The moment the candidates gather around, and why `moment` itself cannot be (or, while
    the environment was being restored, may not be what the admin expects)."""
    if moment > now:
        return now, "That moment is in the future. The latest moment you can restore is now."
    if moment < environment.created_at:
        return window.start, (
            f"{environment.name} did not exist yet at that moment. The earliest moment "
            "you can restore is shown first."
        )
    if moment < window.start:
        days = environment.retention.days
        return window.start, (
            f"That moment is older than the restorable window ({days} days for a "
            f"{environment.get_type_display().lower()} environment). The nearest "
            "available moments are listed."
        )
    during = RestoreOperation.objects.filter(
        target=environment,
        started_at__lte=moment,
        finished_at__gte=moment,
        status=RestoreOperation.Status.SUCCEEDED,
    ).exists()
    if during:
        return moment, (
            f"{environment.name} was being restored around that moment. Its data "
            "switched to the restored data at one instant: restoring a moment before "
            "it gives the old data, after it the restored data."
        )
    return moment, ""


def _nearest_backups(
    environment: Environment, around: datetime.datetime, now: datetime.datetime
) -> list[ManualBackup]:
    """The three named backups on each side of `around`, and the one "Before restore" backup
    nearest it: every restore records one, and they must not crowd out the named ones."""
    backups = unexpired_backups(environment, now=now)
    named = backups.exclude(kind__in=ManualBackup.BEFORE_OVERWRITE)
    nearest = list(named.filter(backup_at__lte=around).order_by("-backup_at")[:3]) + list(
        named.filter(backup_at__gt=around).order_by("backup_at")[:3]
    )
    before_restores = backups.filter(kind__in=ManualBackup.BEFORE_OVERWRITE)
    sides = (
        before_restores.filter(backup_at__lte=around).order_by("-backup_at").first(),
        before_restores.filter(backup_at__gt=around).order_by("backup_at").first(),
    )
    nearest += sorted([b for b in sides if b is not None], key=lambda b: abs(b.backup_at - around))[
        :1
    ]
    return nearest


# -- restores: what can be undone, and how far a restore has got -----------------------------


def latest_restore(target_id: int) -> RestoreOperation | None:
    return (
        RestoreOperation.objects.filter(
            target_id=target_id, status=RestoreOperation.Status.SUCCEEDED
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def undo_possible(operation: RestoreOperation) -> bool:
    """What restore_undo would accept (the page shows Undo restore only then)."""
    return operation.target.is_ready and not undo_refusal(operation)


def undo_refusal(operation: RestoreOperation) -> str:
    """Why `operation` cannot be undone now, or "" when it can."""
    noun = operation.noun  # a copy is named a copy, here as on every page
    if operation.status != RestoreOperation.Status.SUCCEEDED:
        return f"Only {'an' if noun == 'undo' else 'a'} {noun} that succeeded can be undone."
    before = operation.pre_restore_backup
    if before is None or before.expires_at <= timezone.now():
        return f"The moment before this {noun} is no longer kept, so it cannot be undone."
    if latest_restore(operation.target_id) != operation:
        return "A later restore or copy replaced this one's data; undo that one first."
    target = operation.target
    if target.type != EnvironmentType.SANDBOX:
        return (
            f"{target.name} is a {target.get_type_display().lower()} environment now, and "
            "only sandbox environments can be restored to: convert it to a sandbox to "
            f"undo the {noun}."
        )
    return ""


@dataclass(frozen=True)
class UndoChanges:
    """What an undo puts back besides the data: only what the restore itself changed."""

    name: str | None  # the name before the restore, if the restore renamed the target
    security_group: str | None  # the group before, if the restore set one ("" is none)
    admin_mode: bool | None  # the administration mode before (a restore always turns it on)


def undo_changes(operation: RestoreOperation) -> UndoChanges:
    target = operation.target
    recorded = operation.before_admin_mode is not None  # the engine wrote the details before
    name = operation.before_name if recorded and operation.new_name else None
    group = (
        operation.before_security_group if recorded and operation.change_security_group else None
    )
    return UndoChanges(
        name=name if name != target.name else None,
        security_group=group if group != target.security_group else None,
        admin_mode=operation.before_admin_mode,
    )


# -- the restore panel ------------------------------------------------------------------------


def restore_targets(user: User, source: Environment) -> list[Environment]:
    """What the user may restore `source` over: the sandboxes of its region they manage."""
    return list(
        permissions.manageable_environments(user)
        .filter(type=EnvironmentType.SANDBOX, region=source.region)
        .order_by("name")
    )


def production_nearby(user: User, source: Environment) -> bool:
    """Whether a production environment the user manages shares the source's region: only
    then does the panel say how to restore into production."""
    return (
        permissions.manageable_environments(user)
        .filter(type=EnvironmentType.PRODUCTION, region=source.region)
        .exists()
    )


def overwrite_summary(source: Environment, moment: datetime.datetime, target: Environment) -> dict:
    """Per table: the target's rows now and after the restore; its changes since the moment."""
    after_tables = {t.pk: t for t in store.as_of(source, moment).tables()}
    after = store.rows_at(after_tables.values(), moment)
    rows: dict[str, dict] = {}
    for t in store.current(target).tables():
        rows[t.name] = {"name": t.display_name, "now": t.live_rows, "after": 0}
    for pk, t in after_tables.items():
        rows.setdefault(t.name, {"name": t.display_name, "now": 0, "after": 0})
        rows[t.name]["after"] = after.get(pk, 0)
    since = store.changes_since(target, moment)
    return {"tables": sorted(rows.values(), key=lambda r: r["name"]), "changes_since": since}
