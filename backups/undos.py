"""Undo: put a restore's target back as it was just before the restore overwrote it."""

from __future__ import annotations

from backups import selectors
from backups.models import RestoreOperation
from backups.restores import RestoreRequest, restore_start
from portal.errors import Refused
from portal.models import User


def restore_undo(
    *, operation: RestoreOperation, actor: User, idempotency_key: str | None = None
) -> RestoreOperation:
    """A restore of the target from itself, at the "Before restore" backup it recorded."""
    if refusal := selectors.undo_refusal(operation):
        raise Refused(refusal)
    target = operation.target
    changes = selectors.undo_changes(operation)  # the engine puts back the administration mode
    # Without a key each call is a new request: after a failed undo, asking again starts one.
    return restore_start(
        RestoreRequest(
            source=target,
            target=target,
            backup=operation.pre_restore_backup,
            requested_by=actor,
            undo_of=operation,
            new_name=changes.name,
            security_group=changes.security_group,
            idempotency_key=idempotency_key or "",
        )
    )
