"""What support staff may do to restores from the Django admin: run a failed one again, and
mark one whose worker went silent as failed. Nothing else."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from backups import engine, selectors
from backups.models import RestoreOperation
from backups.restores import LATEST, RestoreRequest, restore_start
from environments import permissions
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import User


def restore_retry(*, operation: RestoreOperation, actor: User) -> RestoreOperation:
    """Run a failed restore again, on behalf of the person who asked for it, through the same
    rules as a new request."""
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
        RestoreRequest(
            source=operation.source,
            target=operation.target,
            requested_by=operation.requested_by,
            # A copy takes its source as it is now, again; a restore, the moment it asked for.
            moment=LATEST
            if operation.is_copy
            else (None if operation.backup else operation.moment),
            backup=operation.backup,
            new_name=operation.new_name or None,
            security_group=(
                operation.new_security_group if operation.change_security_group else None
            ),
            idempotency_key=f"retry-{operation.pk}-{len(retries) + 1}",
            kind=operation.kind,
            retry_of=operation,
            undo_of=operation.undo_of,
            acting=actor,
        )
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
