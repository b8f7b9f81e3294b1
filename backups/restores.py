"""Restores: a request, its rules, and its start, whichever door it came through.

Each door (page, API, command) and each service that makes a restore (copies, undo, retry,
backups.copies) builds one RestoreRequest. `check_restore` holds the rules, pure reads that
run once before anything is locked and once more on the locked rows; `restore_validate` is
the review step (the rules, the capacity and the target's readiness, nothing written);
`restore_start` checks and, in one transaction, locks source and target, reserves capacity,
records the operation and queues it. Refusals are portal.errors; the audit log says what
happened. The engine (backups.engine) does the overwrite itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.tasks import TaskResult
from django.utils import timezone

from backups import engine, selectors
from backups.models import ManualBackup, RestoreOperation
from environments import capacity, generations, permissions
from environments import services as env_services
from environments.models import Environment, EnvironmentState, EnvironmentType
from portal.audit import audit_record
from portal.errors import Conflict, Refused
from portal.models import User

LATEST = "latest"  # a moment "now", resolved when the restore is recorded


@dataclass(frozen=True, kw_only=True)
class RestoreRequest:
    """A restore (or copy, or undo) as asked for, before any rule is checked."""

    source: Environment
    target: Environment | None = None  # None only until backups.copies makes a new sandbox
    requested_by: User
    moment: datetime.datetime | str | None = None  # a moment or LATEST; None with a backup
    backup: ManualBackup | None = None
    new_name: str | None = None  # Edit details: None keeps the target's
    security_group: str | None = None
    kind: str = RestoreOperation.Kind.RESTORE
    idempotency_key: str | None = None  # none: each call is a new request
    undo_of: RestoreOperation | None = None
    retry_of: RestoreOperation | None = None
    # Who pressed the button, when the operation is someone else's (support's Retry acts for
    # the person who asked, whose rights it needs; the audit log names who acted).
    acting: User | None = None
    made_target: bool = False  # the target is a new sandbox made for it (backups.copies)

    @property
    def key(self) -> str:
        return (self.idempotency_key or "").strip()[:100]

    @property
    def asked_point(self) -> str:
        """The restore point as the request named it: what an idempotency key is bound to."""
        if self.backup is not None:
            return f"backup:{self.backup.pk}"
        if isinstance(self.moment, datetime.datetime) and not timezone.is_naive(self.moment):
            return self.moment.astimezone(datetime.UTC).isoformat()
        return str(self.moment)

    @property
    def stores_nothing(self) -> bool:
        """An undo stores nothing new: a full tenant must still be able to undo."""
        return self.undo_of is not None


@dataclass(frozen=True)
class Checked:
    """What the rules made of a request's point and details."""

    moment: datetime.datetime
    new_name: str | None
    security_group: str | None


def _check_input(request: RestoreRequest) -> Checked:
    """The point and the details as given: one of a moment and a backup, a time zone, lengths."""
    if (request.moment is None) == (request.backup is None):
        raise Refused("Choose either a moment or a backup to restore.", field="moment")
    moment = request.backup.backup_at if request.backup is not None else request.moment
    if moment == LATEST:
        moment = timezone.now()
    if timezone.is_naive(moment):
        raise Refused("The moment needs a time zone.", field="moment")
    name = None if request.new_name is None else request.new_name.strip()
    if name is not None and not (1 <= len(name) <= 100):
        raise Refused("The new name must be 1 to 100 characters.", field="new_name")
    group = None if request.security_group is None else request.security_group.strip()
    if group is not None and len(group) > 100:
        raise Refused("The security group can be at most 100 characters.", field="security_group")
    return Checked(moment=moment, new_name=name, security_group=group)


def check_restore(
    request: RestoreRequest,
    *,
    source: Environment,
    target: Environment,
    moment: datetime.datetime,
    now: datetime.datetime,
) -> None:
    """The rules of a restore of `source` over `target` (as read now, or as locked)."""
    for env in (source, target):
        if env.deleted_at is not None:
            raise Refused(f"{env.name} is deleted; recover it first.", field="target")
    # A copy takes the source as it is now, backed up or not (a trial can be copied).
    if request.kind not in RestoreOperation.COPIES and not source.backed_up:
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
    backup = request.backup
    if backup is not None:
        if backup.environment_id != source.pk:
            raise Refused("That backup belongs to another environment.", field="backup")
        if backup.expires_at <= now:
            raise Refused("That backup has expired.", field="backup")
    elif not selectors.is_restorable(source, moment, now=now, grace=selectors.START_GRACE):
        window = source.restorable_window(now=now)
        raise Refused(
            f"{source.name} can be restored to moments from {window.start:%Y-%m-%d %H:%M:%S} "
            f"UTC to now; {moment:%Y-%m-%d %H:%M:%S} UTC is outside that window.",
            field="moment",
        )


def _check_permission(request: RestoreRequest) -> None:
    permissions.can_manage_backups(request.requested_by, request.source).require()
    permissions.can_restore_to(request.requested_by, request.target).require()


def _capacity_action(kind: str) -> str:
    return "copy" if kind in RestoreOperation.COPIES else "restore"


def _bytes_copied(request: RestoreRequest, source: Environment, moment: datetime.datetime) -> int:
    if request.stores_nothing:
        return 0
    schema_only = request.kind == RestoreOperation.Kind.COPY_SCHEMA
    return generations.plan_replace(
        source=source, moment=moment, schema_only=schema_only
    ).bytes_copied


def _check_before_locks(request: RestoreRequest) -> Checked:
    """Everything but what only the locked rows decide: permission, input, rules, room."""
    _check_permission(request)
    checked = _check_input(request)
    if checked.new_name:  # Edit details: the name it will have must be free when it ends too
        env_services.refuse_taken_name(checked.new_name, excluding=request.target, field="new_name")
    check_restore(
        request,
        source=request.source,
        target=request.target,
        moment=checked.moment,
        now=timezone.now(),
    )
    # A refusal before anything is locked; the decision is the reservation in _record.
    adds = _bytes_copied(request, request.source, checked.moment)
    if not request.stores_nothing:
        capacity.require_room(_capacity_action(request.kind), adds=adds)
    return checked


def restore_validate(request: RestoreRequest) -> Checked:
    """Every rule of a restore, without starting it: the review step of the portal."""
    checked = _check_before_locks(request)
    Environment.objects.get(pk=request.target.pk).refuse_unless_ready("restore over it")
    return checked


def restore_start(request: RestoreRequest) -> RestoreOperation:
    """Check and record `request`, and queue it. The same idempotency key from the same
    person, for the same request as sent, returns the first operation, even when both arrive
    at once (the key's unique constraint decides)."""
    if not request.key:
        request = dataclasses.replace(request, idempotency_key=uuid.uuid4().hex)
    if (first := _first_with_key(request)) is not None:
        return first
    checked = _check_before_locks(request)
    # Busy environments are refused at once, without waiting on their rows: a running restore
    # holds its target's row for the whole copy. (Checked again under the locks.)
    try:
        _require_not_busy(request.source, request.target)
    except Conflict:
        if (first := _first_with_key(request)) is not None:  # sent twice at once: it won
            return first
        raise
    try:
        with transaction.atomic():
            return _record(request, checked)
    except OperationalError as exc:
        if not _lock_timed_out(exc):
            raise
        raise Conflict(
            f"{request.target.name} or {request.source.name} is busy with another restore; "
            "try again when it has finished."
        ) from None
    except IntegrityError:
        # Lost a race: another request started a restore of this target, or used this key.
        if (first := _first_with_key(request)) is not None:
            return first
        raise Conflict(f"{request.target.name} is already being restored.") from None


def _record(request: RestoreRequest, checked: Checked) -> RestoreOperation:
    """In the caller's transaction: lock source and target, check again on the locked rows,
    reserve capacity (the last lock), record the operation and lock the target for it."""
    if connection.vendor == "postgresql":
        # A row held longer than this is held by a restore: answer "busy", not wait.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
    source, target = _lock_pair(request.source, request.target)
    if (first := _first_with_key(request)) is not None:  # the one that waited returns the first
        return first
    target.refuse_unless_ready("restore over it")
    now = timezone.now()
    # The rules again, on the locked rows: the target may have been converted to production,
    # or moved, and the source deleted, since they were checked.
    check_restore(request, source=source, target=target, moment=checked.moment, now=now)
    _refuse_crossing(source, target)
    reservation = (
        None
        if request.stores_nothing
        else capacity.reserve(
            action=_capacity_action(request.kind),
            adds=_bytes_copied(request, source, checked.moment),
        )
    )
    operation = RestoreOperation.objects.create(
        kind=request.kind,
        source=source,
        target=target,
        moment=checked.moment,
        backup=request.backup,
        requested_by=request.requested_by,
        idempotency_key=request.key,
        requested_point=request.asked_point,
        source_name=source.name,
        target_name=target.name,
        new_name=checked.new_name or "",
        new_security_group=checked.security_group or "",
        change_security_group=checked.security_group is not None,
        created_at=now,
        undo_of=request.undo_of,
        retry_of=request.retry_of,
        reservation=reservation,
        made_target=request.made_target,
    )
    target.set_state(EnvironmentState.RESTORING)
    target.save(update_fields=["state"])
    _audit_queued(request, operation)
    transaction.on_commit(lambda: enqueue(operation))
    request.target.refresh_from_db()
    return operation


def _lock_pair(source: Environment, target: Environment) -> tuple[Environment, Environment]:
    """Source and target are locked in one order (by id) by every restore, so two crossed
    restores (A from B, B from A) wait for each other instead of deadlocking."""
    rows = {
        env.pk: env
        for env in Environment.objects.select_for_update()
        .filter(pk__in={source.pk, target.pk})
        .order_by("pk")
    }
    return rows[source.pk], rows[target.pk]


def _refuse_crossing(source: Environment, target: Environment) -> None:
    """No environment is read while it is overwritten, nor overwritten while it is read (both
    rows are locked, so two requests cannot each miss the other)."""
    if source.pk != target.pk and source.state == EnvironmentState.RESTORING:
        raise Conflict(
            f"{source.name} is being restored itself; restore from it when that has finished."
        )
    reading = RestoreOperation.objects.filter(source=target, status__in=RestoreOperation.ACTIVE)
    if reading.exclude(target=target).exists():
        raise Conflict(
            f"A restore from {target.name} is under way; restore over it when that has finished."
        )


def _audit_queued(request: RestoreRequest, operation: RestoreOperation) -> None:
    at = f"{operation.moment:%Y-%m-%d %H:%M:%S} UTC"
    if request.undo_of:
        action = "restore.undo"
        undone = request.undo_of
        summary = f"Undo of {undone.noun} #{undone.pk} of {operation.target_name}: back to {at}"
    else:
        action = "copy.start" if operation.is_copy else "restore.start"
        summary = (
            f"{operation.get_kind_display()} of {operation.target_name} from "
            f"{operation.source_words} at {at}"
        )
    audit_record(
        action=action,
        actor=request.acting or request.requested_by,
        environment=operation.target,
        related_environment=operation.source,
        summary=f"{summary}, queued",
        details={
            "operation": operation.pk,
            "moment": operation.moment.isoformat(),
            "backup": request.backup.pk if request.backup else None,
        },
    )


def _require_not_busy(source: Environment, target: Environment) -> None:
    fresh = {env.pk: env for env in Environment.objects.filter(pk__in={source.pk, target.pk})}
    fresh[target.pk].refuse_unless_ready("restore over it")
    if source.pk != target.pk and not fresh[source.pk].is_ready:
        raise Conflict(
            f"{fresh[source.pk].name} is being restored itself; restore from it "
            "when that has finished."
        )


def _lock_timed_out(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(getattr(cause, "diag", None), "sqlstate", None) == "55P03"  # lock_not_available


def _first_with_key(request: RestoreRequest) -> RestoreOperation | None:
    """The operation this person's idempotency key already made, if any: this request again,
    as sent (the same source, target, restore point, "latest" as such, details and kind), or
    refused as a different request under a used key."""
    first = RestoreOperation.objects.filter(
        requested_by=request.requested_by, idempotency_key=request.key
    ).first()
    if first is None:
        return None
    name = (request.new_name or "").strip()
    group = None if request.security_group is None else request.security_group.strip()
    asked = (
        request.source.pk,
        request.target.pk,
        request.asked_point,
        name,
        group,
        request.kind,
    )
    recorded = (
        first.source_id,
        first.target_id,
        first.requested_point,
        first.new_name,
        first.new_security_group if first.change_security_group else None,
        first.kind,
    )
    if asked != recorded:
        raise Refused(
            "This idempotency key was already used for a different restore.",
            field="idempotency_key",
        )
    return first


def enqueue(operation: RestoreOperation) -> None:
    """Queue the operation's task for the worker (after its transaction commits)."""
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
