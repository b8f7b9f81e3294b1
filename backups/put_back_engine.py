"""The write of a put-back (backups.put_backs): the rules it must pass, checked again when it
runs, and the one write transaction that puts the rows (or a table) back, run by the worker
inside backups.engine.restore_run (which keeps the operation: status, heartbeat, failure).

Rows added since the moment are deleted, deleted ones come back, changed ones get their old
values (`ChangeSet.put_back`, set-based, a chunk of rows per statement); a whole table is
replaced by a branch of itself as it was (`generations.table_replace`: no row copied). Rows
changed again after the range the admin looked at keep their newer value unless the admin
asked to put them back anyway. The write is made by the system for the admin who asked (its
batch's author: "alex (restore)", or "(undo)").
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils import timezone

from backups.models import RestoreOperation
from environments import changelog, generations, permissions, store
from environments.changelog import Filters, Span
from environments.columns import KEY_RE
from environments.models import ChangeBatch, DataTable, Environment
from portal.audit import audit_record
from portal.errors import Refused
from portal.models import User

TICK = datetime.timedelta(microseconds=1)
CHUNK = 1000  # rows read and written per statement
MAX_KEYS = 10_000  # rows that can be chosen one by one (more: restore all matching a filter)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which rows: `keys` chosen one by one, or every row the changes of `span` matching
    `filters` touched, or the `whole` table."""

    table: str
    keys: tuple[str, ...] = ()
    span: Span | None = None
    filters: Filters | None = None
    whole: bool = False

    def as_json(self) -> dict:
        found: dict = {"table": self.table}
        if self.whole:
            found["whole"] = True
        elif self.filters is not None:
            f = self.filters
            found["filters"] = {"kind": f.kind, "who": f.who, "q": f.q}
        else:
            found["keys"] = list(self.keys)
        if self.span is not None:
            found["start"], found["end"] = self.span.start.isoformat(), self.span.end.isoformat()
        return found

    @classmethod
    def from_json(cls, data: dict) -> Selection:
        span = None
        if data.get("start"):
            span = Span(
                datetime.datetime.fromisoformat(data["start"]),
                datetime.datetime.fromisoformat(data["end"]),
            )
        filters = None
        if "filters" in data:
            filters = Filters(table=data["table"], **data["filters"])
        return cls(
            table=data["table"],
            keys=tuple(data.get("keys", ())),
            span=span,
            filters=filters,
            whole=bool(data.get("whole")),
        )


@dataclass(frozen=True, kw_only=True)
class PutBackRequest:
    """A put-back as asked for, before any rule is checked. `moment`: as the rows were then
    (None: the start of the selection's span)."""

    environment: Environment
    requested_by: User
    selection: Selection
    moment: datetime.datetime | None = None
    keep_newer: bool = True
    idempotency_key: str | None = None
    undo_of: RestoreOperation | None = None

    @property
    def at(self) -> datetime.datetime:
        if self.moment is not None:
            return self.moment
        if self.selection.span is not None:
            return self.selection.span.start
        raise Refused("Say the moment to put the rows back as they were at.", field="moment")

    @property
    def kind(self) -> str:
        return RestoreOperation.Kind.TABLE if self.selection.whole else RestoreOperation.Kind.ROWS


@dataclass(frozen=True)
class Tables:
    """The table the rows go back into (live now) and the one they are read from (as it was
    at the moment: the same table, or the one a restore since replaced)."""

    now: DataTable
    then: DataTable


# -- the rules ---------------------------------------------------------------------------------


def check_put_back(request: PutBackRequest, *, now: datetime.datetime | None = None) -> Tables:
    """Every rule a put-back must pass, as pure reads (no lock): the person may, the
    environment is ready, the moment is in its window, the table is there now and was then
    (with the same columns, for rows), the keys are keys. Returns the two tables."""
    now = now or timezone.now()
    env = request.environment
    permissions.can_put_back(request.requested_by, env).require()
    env.refuse_unless_ready("put rows back")
    moment = request.at
    if moment not in env.restorable_window(now=now):
        window = env.restorable_window(now=now)
        raise Refused(
            f"{env.name} can be put back as it was at any moment from "
            f"{window.start:%Y-%m-%d %H:%M:%S} UTC to now; that moment is outside it.",
            field="moment",
        )
    selection = request.selection
    if selection.span is not None and selection.span.start >= selection.span.end:
        raise Refused("The start of the range must be before its end.", field="start")
    table_now = store.current(env).table(selection.table)
    if table_now is None:
        raise Refused(
            f"{env.name} has no table {selection.table!r} now (was it dropped?); "
            "restore the whole environment to bring it back.",
            field="table",
        )
    table_then = store.as_of(env, moment).table(selection.table)
    if table_then is None:
        made = (
            ""
            if table_now.valid_from <= moment
            else f" It was made at {table_now.valid_from:%Y-%m-%d %H:%M:%S} UTC: start the "
            "range after that."
        )
        raise Refused(
            f"{env.name} had no table {selection.table!r} at that moment.{made}", field="table"
        )
    if not selection.whole and table_then.columns != table_now.columns:
        raise Refused(
            f"{table_now.display_name} has other columns now than at that moment; "
            "restore the whole table instead.",
            field="table",
        )
    if not selection.whole and selection.filters is None:
        if not selection.keys:
            raise Refused("Choose at least one row to restore.", field="keys")
        if len(selection.keys) > MAX_KEYS:
            raise Refused(
                f"Choose at most {MAX_KEYS:,} rows one by one; restore all rows matching a "
                "filter instead.",
                field="keys",
            )
        bad = next((k for k in selection.keys if not KEY_RE.match(k)), None)
        if bad is not None:
            raise Refused(f"{bad[:70]!r} is not a row key.", field="keys")
    return Tables(now=table_now, then=table_then)


def chosen_keys(request: PutBackRequest, tables: Tables) -> list[str]:
    """The keys a put-back of rows touches (none for a whole table)."""
    selection = request.selection
    if selection.whole:
        return []
    if selection.filters is not None:
        if selection.span is None:
            raise Refused("Say the range of the changes to restore.", field="start")
        return list(changelog.keys_changed(request.environment, selection.span, selection.filters))
    return list(dict.fromkeys(selection.keys))


def changed_again(request: PutBackRequest, tables: Tables, keys: list[str]) -> set[str]:
    """Of the keys, those changed again after the range the admin looked at."""
    span = request.selection.span
    if span is None or not keys:
        return set()
    return changelog.changed_after(tables.now, keys, span.end)


def rows_at(table: DataTable, moment: datetime.datetime | None, keys: list[str]) -> dict:
    return {v.key: v.values for v in store.table_rows(table, moment).filter(key__in=keys)}


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


# -- the run (in the worker: backups.engine.restore_run) ---------------------------------------


def put_back_run(op: RestoreOperation, progress) -> None:
    """Write the put-back, in one transaction of the store: `progress(**fields)` is told the
    rows done so far. Raises to fail it (nothing then is written)."""
    selection = Selection.from_json(op.selection)
    request = PutBackRequest(
        environment=op.target,
        requested_by=op.requested_by,
        selection=selection,
        moment=op.moment,
        keep_newer=op.selection.get("keep_newer", True),
        undo_of=op.undo_of,
    )
    via = ChangeBatch.Via.UNDO if op.undo_of_id else ChangeBatch.Via.RESTORE
    by = store.Author.person(op.requested_by, via=via)
    with store.changes(op.target, by=by) as cs:
        # The rules again, now that the environment's row is held: nothing changes under it.
        tables = check_put_back(request)
        if selection.whole:
            progress(phase=RestoreOperation.Phase.COPYING, tables_total=1, rows_total=0)
            new_table = generations.table_replace(
                cs,
                current=tables.now,
                source=tables.then,
                moment=op.moment,
                made_by=f"Table {tables.now.display_name} restored as it was at "
                f"{op.moment:%Y-%m-%d %H:%M:%S} UTC ({op.label})",
            )
            changed = new_table.live_rows
        else:
            keys = chosen_keys(request, tables)
            again = changed_again(request, tables, keys) if request.keep_newer else set()
            keys = [k for k in keys if k not in again]
            progress(phase=RestoreOperation.Phase.COPYING, tables_total=1, rows_total=len(keys))
            changed = 0
            for done, chunk in enumerate(_chunks(keys), start=1):
                then = rows_at(tables.then, op.moment, chunk)
                changed += cs.put_back(tables.now, {k: then.get(k) for k in chunk})
                progress(rows_copied=min(done * CHUNK, len(keys)))
        written = cs.ts
    finished = timezone.now()
    RestoreOperation.objects.filter(pk=op.pk, status=RestoreOperation.Status.RUNNING).update(
        status=RestoreOperation.Status.SUCCEEDED,
        phase=RestoreOperation.Phase.DONE,
        finished_at=finished,
        heartbeat_at=finished,
        written_at=written,
        rows_copied=changed,
        tables_done=1,
        tables_total=1,
    )
    audit_record(
        action="restore.succeed",
        actor=op.requested_by,
        environment=op.target,
        summary=f"{'Undid' if op.undo_of_id else 'Put back'} {changed} row"
        f"{'s' * (changed != 1)} of {tables.now.display_name} in {op.target.name} as they were "
        f"at {op.moment:%Y-%m-%d %H:%M:%S} UTC",
        details={"operation": op.pk, "rows": changed},
    )
