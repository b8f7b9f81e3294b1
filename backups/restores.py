"""Restores: every rule of one, from the request to its end, whichever door it came through.

Keyword-only functions; each checks permission through portal.permissions, refuses with a
message (portal.errors) and changes nothing when a rule says no, and writes the audit log. The
engine (backups.engine) does the overwrite itself; reads about restores are in selectors.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.tasks import TaskResult, TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backups import engine, selectors, services
from backups.models import ManualBackup, RestoreOperation
from environments import capacity, store
from environments import services as env_services
from environments.models import Environment, EnvironmentState, EnvironmentType, Membership
from portal import permissions
from portal.audit import audit_record
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import User


def _check_restore_rules(
    *,
    source: Environment,
    target: Environment,
    moment: datetime.datetime,
    backup: ManualBackup | None,
    now: datetime.datetime,
    kind: str = RestoreOperation.Kind.RESTORE,
) -> None:
    for env in (source, target):
        if env.deleted_at is not None:
            raise Refused(f"{env.name} is deleted; recover it first.", field="target")
    # A copy takes the source as it is now, backed up or not (a trial can be copied).
    if kind not in RestoreOperation.COPIES and not selectors.backed_up(source):
        raise Refused(
            f"{source.get_type_display()} environments are not backed up, so there is nothing "
            f"of {source.name} to restore.",
            field="moment",
        )
    if target.type != EnvironmentType.SANDBOX:
        hint = (
            " Convert it to a sandbox first, restore, then convert it back to production."
            if target.type == EnvironmentType.PRODUCTION
            else ""
        )
        raise Refused(
            f"Only sandbox environments can be restored to; {target.name} is a "
            f"{target.get_type_display().lower()} environment.{hint}",
            field="target",
        )
    if source.region != target.region:
        raise Refused(
            f"{source.name} is in {source.get_region_display()} and {target.name} in "
            f"{target.get_region_display()}; source and target must share a region.",
            field="target",
        )
    if backup is not None:
        if backup.environment_id != source.pk:
            raise Refused("That backup belongs to another environment.", field="backup")
        if backup.expires_at <= now:
            raise Refused("That backup has expired.", field="backup")
    elif not selectors.is_restorable(source, moment, now=now, grace=selectors.START_GRACE):
        window = selectors.restorable_window(source, now=now)
        raise Refused(
            f"{source.name} can be restored to moments from {window.start:%Y-%m-%d %H:%M:%S} "
            f"UTC to now; {moment:%Y-%m-%d %H:%M:%S} UTC is outside that window.",
            field="moment",
        )


def _capacity_action(kind: str) -> str:
    return "copy" if kind in RestoreOperation.COPIES else "restore"


def _bytes_copied(source: Environment, moment: datetime.datetime, kind: str) -> int:
    """What the restore will store anew: the rows of the source's tables it copies (those
    already lineage.MAX_DEPTH deep, engine.should_branch); it branches from the others,
    storing nothing until they are written."""
    if kind == RestoreOperation.Kind.COPY_SCHEMA:
        return 0
    copied = [t for t in store.as_of(source, moment).tables() if not engine.should_branch(t)]
    return sum(size for _, size in store.figures_at(copied, moment).values())


@dataclass(frozen=True)
class RestoreRequest:
    """A restore that passed every rule but the target's lock (checked when it starts)."""

    moment: datetime.datetime
    new_name: str | None
    security_group: str | None


def restore_validate(
    *,
    source: Environment,
    target: Environment,
    requested_by: User,
    moment: datetime.datetime | None = None,
    backup: ManualBackup | None = None,
    new_name: str | None = None,
    security_group: str | None = None,
    check_permission: bool = True,
    check_ready: bool = True,
    kind: str = RestoreOperation.Kind.RESTORE,
    undo: bool = False,
) -> RestoreRequest:
    """Every rule of a restore, without starting it: the review step of the portal uses it."""
    if check_permission:
        for decision in (
            permissions.can_manage_backups(requested_by, source),
            permissions.can_restore_to(requested_by, target),
        ):
            if not decision:
                raise NotAllowed(decision.reason)
    if (moment is None) == (backup is None):
        raise Refused("Choose either a moment or a backup to restore.", field="moment")
    if backup is not None:
        moment = backup.backup_at
    if timezone.is_naive(moment):
        raise Refused("The moment needs a time zone.", field="moment")
    name = None if new_name is None else new_name.strip()
    if name is not None and not (1 <= len(name) <= 100):
        raise Refused("The new name must be 1 to 100 characters.", field="new_name")
    group = None if security_group is None else security_group.strip()
    if group is not None and len(group) > 100:
        raise Refused("The security group can be at most 100 characters.", field="security_group")
    _check_restore_rules(
        source=source,
        target=target,
        moment=moment,
        backup=backup,
        now=timezone.now(),
        kind=kind,
    )
    if not undo:  # an undo stores nothing new, and a full tenant must still be able to undo
        # A refusal before anything is locked; the decision is the reservation in restore_start.
        capacity.require_room(_capacity_action(kind), adds=_bytes_copied(source, moment, kind))
    if check_ready:  # on a fresh read of the target
        services.require_ready(Environment.objects.get(pk=target.pk), "restore over it")
    return RestoreRequest(moment=moment, new_name=name, security_group=group)


log = logging.getLogger(__name__)

LATEST = "latest"  # a moment "now", resolved when the restore is recorded


def _as_asked(moment: datetime.datetime | str | None, backup: ManualBackup | None) -> str:
    """The restore point as the request named it: what an idempotency key is bound to."""
    if backup is not None:
        return f"backup:{backup.pk}"
    if moment == LATEST:
        return LATEST
    return (
        moment.astimezone(datetime.UTC).isoformat()
        if isinstance(moment, datetime.datetime) and not timezone.is_naive(moment)
        else str(moment)
    )


def restore_start(
    *,
    source: Environment,
    target: Environment,
    requested_by: User,
    moment: datetime.datetime | str | None = None,
    backup: ManualBackup | None = None,
    new_name: str | None = None,
    security_group: str | None = None,
    idempotency_key: str | None = None,
    undo_of: RestoreOperation | None = None,
    retry_of: RestoreOperation | None = None,
    actor: User | None = None,
    kind: str = RestoreOperation.Kind.RESTORE,
    made_target: bool = False,
) -> RestoreOperation:
    """Validate and record a restore of `source` as of `moment` (a datetime, or LATEST) or
    `backup` over `target`, and queue it. The same idempotency key from the same person, for
    the same request as sent, returns the first operation, even when both arrive at once.
    `made_target`: the target is a new sandbox made for it in the caller's transaction."""
    actor = actor or requested_by
    idempotency_key = (idempotency_key or "").strip()[:100] or uuid.uuid4().hex
    asked = (
        _as_asked(moment, backup),
        (new_name or "").strip(),
        None if security_group is None else security_group.strip(),
        kind,
    )
    existing = RestoreOperation.objects.filter(
        requested_by=requested_by, idempotency_key=idempotency_key
    ).first()
    if existing is not None:
        return _same_request(existing, source=source, target=target, asked=asked)
    if moment == LATEST:
        moment = timezone.now()
    # A retry acts for the original requester, who must still have the rights to ask for it.
    checked = restore_validate(
        source=source,
        target=target,
        requested_by=requested_by,
        moment=moment,
        backup=backup,
        new_name=new_name,
        security_group=security_group,
        check_ready=False,
        kind=kind,
        undo=undo_of is not None,
    )
    moment, name, group = checked.moment, checked.new_name, checked.security_group
    # Busy environments are refused at once, without waiting on their rows: a running restore
    # holds its target's row for the whole copy. (Checked again below, under the locks.)
    try:
        _require_not_busy(source, target)
    except Conflict:
        existing = RestoreOperation.objects.filter(
            requested_by=requested_by, idempotency_key=idempotency_key
        ).first()  # the same request, sent twice at once, that won just now
        if existing is not None:
            return _same_request(existing, source=source, target=target, asked=asked)
        raise
    now = timezone.now()

    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A row held longer than this is held by a restore: answer "busy", not wait.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '5s'")
            # Source and target are locked in one order (by id) by every restore, so two
            # crossed restores (A from B, B from A) wait for each other instead of deadlocking,
            # and "the source is being restored" holds however requests interleave.
            rows = {
                env.pk: env
                for env in Environment.objects.select_for_update()
                .filter(pk__in={source.pk, target.pk})
                .order_by("pk")
            }
            locked, locked_source = rows[target.pk], rows[source.pk]
            # The same request sent twice at once: the one that waited returns the first.
            existing = RestoreOperation.objects.filter(
                requested_by=requested_by, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                return _same_request(existing, source=source, target=target, asked=asked)
            services.require_ready(locked, "restore over it")
            # The rules again, on the locked rows: the target may have been converted to
            # production, or moved, since they were checked.
            _check_restore_rules(
                source=locked_source,
                target=locked,
                moment=moment,
                backup=backup,
                now=now,
                kind=kind,
            )
            if locked_source.pk != locked.pk and locked_source.state == EnvironmentState.RESTORING:
                raise Conflict(
                    f"{locked_source.name} is being restored itself; restore from "
                    "it when that has finished."
                )
            # The other way round too: no environment is overwritten while a restore from it
            # is under way (both rows are locked, so two requests cannot each miss the other).
            if (
                RestoreOperation.objects.filter(source=locked, status__in=RestoreOperation.ACTIVE)
                .exclude(target=locked)
                .exists()
            ):
                raise Conflict(
                    f"A restore from {locked.name} is under way; restore over it "
                    "when that has finished."
                )
            # Last of the locks (capacity.reserve's rule): what it will store is held for it
            # from now until it ends, so concurrent requests never share the same free space.
            reservation = (
                None  # an undo stores nothing new, and a full tenant must still be able to undo
                if undo_of is not None
                else capacity.reserve(
                    action=_capacity_action(kind),
                    adds=_bytes_copied(locked_source, moment, kind),
                )
            )
            operation = RestoreOperation.objects.create(
                kind=kind,
                source=locked_source,
                target=locked,
                moment=moment,
                backup=backup,
                requested_by=requested_by,
                idempotency_key=idempotency_key,
                requested_point=asked[0],
                source_name=locked_source.name,
                target_name=locked.name,
                new_name=name or "",
                new_security_group=group or "",
                change_security_group=group is not None,
                created_at=now,
                undo_of=undo_of,
                retry_of=retry_of,
                reservation=reservation,
                made_target=made_target,
            )
            locked.state = EnvironmentState.RESTORING
            locked.save(update_fields=["state"])
            what = "Undo of restore" if undo_of else operation.get_kind_display()
            audit_record(
                action="restore.undo"
                if undo_of
                else ("copy.start" if operation.is_copy else "restore.start"),
                actor=actor,
                environment=locked,
                related_environment=locked_source,
                summary=f"{what} of {locked.name} from {locked_source.name} at "
                f"{moment:%Y-%m-%d %H:%M:%S} UTC queued",
                details={
                    "operation": operation.pk,
                    "moment": moment.isoformat(),
                    "backup": backup.pk if backup else None,
                },
            )
            transaction.on_commit(lambda: _enqueue(operation))
    except OperationalError as exc:
        if not _lock_timed_out(exc):
            raise
        raise Conflict(
            f"{target.name} or {source.name} is busy with another restore; try "
            "again when it has finished."
        ) from None
    except IntegrityError:
        # Lost a race: another request started a restore of this target, or used this key.
        existing = RestoreOperation.objects.filter(
            requested_by=requested_by, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return _same_request(existing, source=source, target=target, asked=asked)
        raise Conflict(f"{target.name} is already being restored.") from None
    target.refresh_from_db()
    return operation


def _require_not_busy(source: Environment, target: Environment) -> None:
    fresh = {env.pk: env for env in Environment.objects.filter(pk__in={source.pk, target.pk})}
    services.require_ready(fresh[target.pk], "restore over it")
    if source.pk != target.pk and not fresh[source.pk].is_ready:
        raise Conflict(
            f"{fresh[source.pk].name} is being restored itself; restore from it "
            "when that has finished."
        )


def _lock_timed_out(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(getattr(cause, "diag", None), "sqlstate", None) == "55P03"  # lock_not_available


def _same_request(
    existing: RestoreOperation, *, source: Environment, target: Environment, asked: tuple
) -> RestoreOperation:
    """The first operation of this key, if this is the same request as sent: the same source,
    target, restore point ("latest" as such) and details."""
    point, name, group, kind = asked
    first = (
        existing.source_id,
        existing.target_id,
        existing.requested_point,
        existing.new_name,
        existing.new_security_group if existing.change_security_group else None,
        existing.kind,
    )
    if first != (source.pk, target.pk, point, name, group, kind):
        raise Refused(
            "This idempotency key was already used for a different restore.",
            field="idempotency_key",
        )
    return existing


def _enqueue(operation: RestoreOperation) -> None:
    from backups.tasks import restore_task

    try:
        result: TaskResult = restore_task.using(backend=settings.TASKS_BACKEND).enqueue(
            operation.pk
        )
    except Exception as exc:
        engine.restore_fail(
            operation=operation,
            error=f"The restore could not be queued ({exc}). Nothing was changed; start it again.",
        )
        raise
    RestoreOperation.objects.filter(pk=operation.pk).update(task_id=str(result.id)[:64])


def restore_to_new(
    *,
    source: Environment,
    requested_by: User,
    name: str,
    slug: str,
    security_group: str = "",
    moment: datetime.datetime | str | None = None,
    backup: ManualBackup | None = None,
    idempotency_key: str | None = None,
    kind: str = RestoreOperation.Kind.RESTORE,
) -> RestoreOperation:
    """Restore (or copy, by `kind`) `source` into a new sandbox environment made for it, in
    the source's region, whose admin the requester becomes: the environment and the queued
    restore are made in one transaction, so a refusal of either leaves neither, and a restore
    that fails later removes the sandbox (engine.restore_fail). The same idempotency key again
    returns the first restore (and its environment), even when both requests arrive at once:
    the URL name's unique key decides which one makes the sandbox."""
    idempotency_key = (idempotency_key or "").strip()[:100] or uuid.uuid4().hex
    asked = {
        "source": source,
        "requested_by": requested_by,
        "moment": moment,
        "backup": backup,
        "idempotency_key": idempotency_key,
        "kind": kind,
    }
    if (again := _same_new_sandbox(requested_by, idempotency_key, name, slug)) is not None:
        return restore_start(**asked, target=again)
    decision = permissions.can_manage_backups(requested_by, source)
    if not decision:
        raise NotAllowed(decision.reason)
    try:
        new = env_services.check_environment_new(
            actor=requested_by,
            name=name,
            slug=slug,
            type=EnvironmentType.SANDBOX,
            region=source.region,
            security_group=security_group,
        )
        with transaction.atomic():
            target = env_services.environment_create(**asdict(new), created_by=requested_by)
            Membership.objects.create(
                environment=target, user=requested_by, role=Membership.Role.ADMIN
            )
            return restore_start(**asked, target=target, made_target=True)
    except Refused:
        # The same request sent twice at once: the one that lost the URL name to the other
        # returns the other's restore.
        again = _same_new_sandbox(requested_by, idempotency_key, name, slug)
        if again is None:
            raise
        return restore_start(**asked, target=again)


def _same_new_sandbox(user: User, key: str, name: str, slug: str) -> Environment | None:
    """The sandbox that this person's earlier request with this key made, if it asked for the
    same one (a different request with the key is refused)."""
    existing = (
        RestoreOperation.objects.filter(requested_by=user, idempotency_key=key)
        .select_related("target")
        .first()
    )
    if existing is None:
        return None
    target = existing.target
    # A sandbox removed when its restore failed has lost its URL name; its name tells.
    same = (
        existing.target_name == name.strip()
        if existing.made_target and target.removed_at is not None
        else target.slug == slug.strip()
    )
    if not same:
        raise Refused(
            "This idempotency key was already used for a different restore.",
            field="idempotency_key",
        )
    return target


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
    kind = RestoreOperation.Kind.COPY_SCHEMA if schema_only else RestoreOperation.Kind.COPY
    point = {"source": source, "requested_by": requested_by, "moment": LATEST, "kind": kind}
    if new is not None:
        return restore_to_new(**point, **new, idempotency_key=idempotency_key)
    return restore_start(**point, target=target, idempotency_key=idempotency_key)


def restore_undo(
    *, operation: RestoreOperation, actor: User, idempotency_key: str | None = None
) -> RestoreOperation:
    """Put the target back as it was just before `operation` overwrote it."""
    if refusal := selectors.undo_refusal(operation):
        raise Refused(refusal)
    target = operation.target
    changes = selectors.undo_changes(operation)  # the engine puts back the administration mode
    # Without a key each call is a new request: after a failed undo, asking again starts one.
    return restore_start(
        source=target,
        target=target,
        backup=operation.pre_restore_backup,
        requested_by=actor,
        undo_of=operation,
        new_name=changes.name,
        security_group=changes.security_group,
        idempotency_key=idempotency_key,
    )


def restore_retry(*, operation: RestoreOperation, actor: User) -> RestoreOperation:
    """Support staff run a failed restore again, on behalf of the person who asked for it,
    through the same rules as a new request."""
    if not permissions.can_retry_restore(actor):
        raise NotAllowed("You may not retry restores.")
    if operation.status != RestoreOperation.Status.FAILED:
        raise Refused("Only a failed restore can be retried.")
    if operation.made_target:
        raise Refused(
            "The new sandbox made for this restore was removed when it failed; restore into "
            "a new sandbox again instead."
        )
    retries = list(operation.retried_by.order_by("-id"))
    if retries and retries[0].is_active:
        raise Conflict(f"Restore {operation.pk} is already being retried as {retries[0].pk}.")
    if retries and retries[0].status == RestoreOperation.Status.SUCCEEDED:
        raise Refused(
            f"Restore {operation.pk} was already retried, successfully, as {retries[0].pk}."
        )
    if operation.undo_of is not None and (refusal := selectors.undo_refusal(operation.undo_of)):
        raise Refused(f"This undo cannot run again: {refusal}")
    return restore_start(
        source=operation.source,
        target=operation.target,
        requested_by=operation.requested_by,
        # A copy takes its source as it is now, again; a restore, the moment it asked for.
        moment=LATEST if operation.is_copy else (None if operation.backup else operation.moment),
        backup=operation.backup,
        new_name=operation.new_name or None,
        security_group=operation.new_security_group if operation.change_security_group else None,
        idempotency_key=f"retry-{operation.pk}-{len(retries) + 1}",
        kind=operation.kind,
        retry_of=operation,
        undo_of=operation.undo_of,
        actor=actor,
    )


def restore_mark_stale_failed(*, operation: RestoreOperation, actor: User) -> bool:
    if not permissions.can_fail_restore(actor):
        raise NotAllowed("You may not mark restores as failed.")
    if not operation.is_active:
        raise Refused("This restore has already finished.")
    beat = operation.heartbeat_at or operation.created_at
    if (
        operation.status == RestoreOperation.Status.RUNNING
        and beat > timezone.now() - settings.RESTORE_STALE_AFTER
    ):
        raise Conflict(
            "This restore reported progress recently: it is still running. Mark it "
            "failed only once it has been silent for "
            f"{int(settings.RESTORE_STALE_AFTER.total_seconds())} seconds."
        )
    return engine.restore_fail(
        operation=operation,
        actor=actor,
        error=f"Marked failed by {actor} from the support console.",
    )


def restore_sweep_stale(*, now: datetime.datetime | None = None) -> int:
    """Fail the restores whose worker died, give their targets back, and close their rows in
    the task queue. Dead means: running and silent (no heartbeat) for RESTORE_STALE_AFTER; or
    queued, with its task claimed by a worker that long ago but never started (the worker died
    between the two), finished without it, or gone; or queued without a task at all."""
    now = now or timezone.now()
    cutoff = now - settings.RESTORE_STALE_AFTER
    silent = list(
        RestoreOperation.objects.filter(
            status=RestoreOperation.Status.RUNNING, heartbeat_at__lt=cutoff
        )
    )
    waiting = list(
        RestoreOperation.objects.filter(
            status=RestoreOperation.Status.QUEUED, created_at__lt=cutoff
        )
    )
    tasks = DBTaskResult.objects.in_bulk(
        [op.task_id for op in silent + waiting if _is_uuid(op.task_id)], field_name="id"
    )
    tasks = {str(pk): task for pk, task in tasks.items()}

    def never_started(op: RestoreOperation) -> bool:
        task = tasks.get(op.task_id)
        if not op.task_id or task is None:
            return True  # never queued (the enqueue failed), or its task row is gone
        if task.status == TaskResultStatus.RUNNING:
            return task.started_at is not None and task.started_at < cutoff
        return task.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)

    count = 0
    for op in silent + [op for op in waiting if never_started(op)]:
        reason = (
            "The restore stopped reporting progress (its worker stopped). Nothing was "
            "changed; start the restore again."
            if op.status == RestoreOperation.Status.RUNNING
            else "The worker that took this restore stopped before it began. "
            "Nothing was changed; start the restore again."
        )
        try:  # one operation's trouble (a database that says no) never stops the others
            failed = engine.restore_fail(operation=op, error=reason, skip_if_held=True)
        except DatabaseError:
            log.exception("Could not fail the stale restore %s", op.pk)
            continue
        if not failed:
            continue  # its worker is alive after all (it holds the target), or it ended
        count += 1
        task = tasks.get(op.task_id)
        if task is not None and task.status == TaskResultStatus.RUNNING:
            # No worker will ever finish that row: close it, so the queue tells the truth.
            DBTaskResult.objects.filter(pk=task.pk, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{WorkerStopped.__module__}.{WorkerStopped.__qualname__}",
                traceback=f"Closed by the stale-restore sweep: {reason}",
            )
    return count


class WorkerStopped(Exception):
    """What a task row closed by the sweep says failed it: its worker stopped."""


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def refuse_delete_while_read(*, environment: Environment, **_) -> None:
    """An environment that a queued or running restore or copy reads from cannot be deleted
    until that ends (environments.signals.environment_deleting). Sent with its row locked, which
    restore_start also locks to record an operation, so neither misses the other."""
    reading = (
        RestoreOperation.objects.filter(source=environment, status__in=RestoreOperation.ACTIVE)
        .exclude(target=environment)
        .select_related("target")
        .first()
    )
    if reading is not None:
        raise Conflict(
            f"{environment.name} cannot be deleted while {reading.label} "
            f"({reading.noun} into {reading.target.name}) reads from it; delete it when that "
            "has finished."
        )
