"""Put back chosen rows, the rows matching a filter, or a whole table, as they were at a moment:
in place, on the same environment (production too, for those who manage it), as one new write
transaction that the system makes for the admin who asked, with an undo.

A put-back is an operation like a restore (its audit lines, its page, its progress in the
worker, one at a time per environment by the same unique constraint), but it never locks the
environment in Restoring: its write is one ordinary write transaction of the store
(`store.changes`, `ChangeSet.put_back`), which holds the environment's row only while it
writes. Rows added since the moment are deleted, deleted ones come back, changed ones get
their old values; a whole table is replaced by a branch of itself as it was
(`generations.table_replace`: no row copied). Rows changed again after the range the admin
looked at keep their newer value unless the admin asks to put them back anyway.

Undo is a put-back too: the same rows (or table) as they were just before the put-back wrote.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from backups import restores
from backups.models import RestoreOperation
from backups.put_back_engine import (
    CHUNK,
    TICK,
    PutBackRequest,
    Selection,
    Tables,
    changed_again,
    check_put_back,
    chosen_keys,
    rows_at,
)
from environments import changelog, store
from environments.changelog import Filters, Span
from environments.models import DataTable, Environment
from portal.audit import audit_record
from portal.errors import Conflict, Refused
from portal.models import User

SHOWN_AGAIN = 20  # rows changed again since that the confirmation names


@dataclass
class Preview:
    """What a put-back will do, for its confirmation."""

    table: DataTable
    moment: datetime.datetime
    whole: bool
    rows: int = 0  # rows chosen
    restore: int = 0  # deleted since: they come back
    change: int = 0  # changed since: they get their old values
    delete: int = 0  # added since: they go
    changed_again: list[str] = field(default_factory=list)  # the first few
    changed_again_count: int = 0
    kept: int = 0  # changed again and kept (keep_newer)

    @property
    def total(self) -> int:
        return self.restore + self.change + self.delete


def put_back_preview(request: PutBackRequest) -> Preview:
    """What the put-back would do now: how many rows come back, change, go; which were
    changed again since the range (and whether they are kept). For a whole table, the
    changes made to it since the moment, which it undoes (its cost follows them)."""
    tables = check_put_back(request)
    moment = request.at
    preview = Preview(table=tables.now, moment=moment, whole=request.selection.whole)
    if request.selection.whole:
        since = changelog.counts(
            request.environment,
            Span(moment, timezone.now()),
            Filters(table=request.selection.table),
        )
        preview.rows = store.rows_at([tables.then], moment)[tables.then.pk]
        preview.restore = sum(c.deleted for c in since)
        preview.change = sum(c.changed for c in since)
        preview.delete = sum(c.added for c in since)
        return preview
    keys = chosen_keys(request, tables)
    again = changed_again(request, tables, keys)
    preview.changed_again = sorted(again)[:SHOWN_AGAIN]
    preview.changed_again_count = len(again)
    preview.rows = len(keys)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        then, now = rows_at(tables.then, moment, chunk), rows_at(tables.now, None, chunk)
        for key in chunk:
            if request.keep_newer and key in again:
                preview.kept += 1
                continue
            old, new = then.get(key), now.get(key)
            if old == new:
                continue
            if new is None:
                preview.restore += 1
            elif old is None:
                preview.delete += 1
            else:
                preview.change += 1
    return preview


# -- the start ---------------------------------------------------------------------------------


def put_back_start(request: PutBackRequest) -> RestoreOperation:
    """Check, record the operation and queue it (the worker writes): refused as a whole or
    started as a whole. An idempotency key already used for the same request answers its
    first operation."""
    if request.idempotency_key:
        first = RestoreOperation.objects.filter(
            requested_by=request.requested_by, idempotency_key=request.idempotency_key.strip()
        ).first()
        if first is not None:
            if (
                first.selection != _selection_json(request)
                or first.target_id != request.environment.pk
            ):
                raise Conflict("That idempotency key was used for another request.")
            return first
    tables = check_put_back(request)
    env = request.environment
    try:
        with transaction.atomic():
            locked = Environment.objects.select_for_update().get(pk=env.pk)
            locked.refuse_unless_ready("put rows back")
            operation = RestoreOperation.objects.create(
                kind=request.kind,
                source=locked,
                target=locked,
                moment=request.at,
                requested_by=request.requested_by,
                # Without a key each call is a new request.
                idempotency_key=(request.idempotency_key or "").strip()[:100] or uuid.uuid4().hex,
                requested_point=request.at.isoformat(),
                source_name=locked.name,
                target_name=locked.name,
                selection=_selection_json(request),
                undo_of=request.undo_of,
                created_at=timezone.now(),
            )
            audit_record(
                action="restore.request",
                actor=request.requested_by,
                environment=locked,
                summary=f"Asked to {_what(request, tables)} of {locked.name} as they were at "
                f"{request.at:%Y-%m-%d %H:%M:%S} UTC",
                details={"operation": operation.pk, "selection": operation.selection},
            )
            transaction.on_commit(lambda: restores.enqueue(operation))
    except IntegrityError:
        raise Conflict(
            f"{env.name} is already being restored or having rows put back; try again when "
            "that has finished."
        ) from None
    return operation


def _selection_json(request: PutBackRequest) -> dict:
    return {**request.selection.as_json(), "keep_newer": request.keep_newer}


def _what(request: PutBackRequest, tables: Tables) -> str:
    selection = request.selection
    name = tables.now.display_name
    if selection.whole:
        return f"restore table {name}"
    if selection.filters is not None:
        return f"restore the rows of {name} matching a filter"
    n = len(selection.keys)
    return f"restore {n} row{'s' * (n != 1)} of {name}"


# -- undo --------------------------------------------------------------------------------------


def put_back_undo_refusal(operation: RestoreOperation) -> str:
    if operation.status != RestoreOperation.Status.SUCCEEDED or operation.written_at is None:
        return "Only a restore of rows that succeeded can be undone."
    if operation.written_at - TICK not in operation.target.restorable_window():
        return "The moment before this restore is no longer kept, so it cannot be undone."
    return ""


def put_back_undo(
    *, operation: RestoreOperation, actor: User, keep_newer: bool = True, idempotency_key=None
) -> RestoreOperation:
    """Put the rows (or the table) the put-back wrote back as they were just before it.
    Rows changed since the put-back keep their newer value unless `keep_newer` is off."""
    if refusal := put_back_undo_refusal(operation):
        raise Refused(refusal)
    before = operation.written_at - TICK
    table = operation.selection["table"]
    span = Span(before, operation.written_at)
    if operation.kind == RestoreOperation.Kind.TABLE:
        selection = Selection(table=table, whole=True, span=span)
    else:
        selection = Selection(table=table, filters=Filters(table=table), span=span)
    return put_back_start(
        PutBackRequest(
            environment=operation.target,
            requested_by=actor,
            selection=selection,
            moment=before,
            keep_newer=keep_newer,
            undo_of=operation,
            idempotency_key=idempotency_key,
        )
    )
