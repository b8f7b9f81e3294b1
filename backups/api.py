"""API: backups (system window and manual backups), restore candidates, restores and their
operations. Every rule is in backups.services and environments.permissions; this module only
translates between JSON and those calls."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Annotated, Literal

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Header, Path, Query, Router, Status
from pydantic import ConfigDict, StrictBool

from backups import (
    copies,
    lookups,
    put_back_engine,
    put_backs,
    restores,
    selectors,
    services,
    undos,
)
from backups.models import ManualBackup, RestoreOperation
from environments import permissions
from environments.api import Slug
from environments.changelog import Filters, Span
from environments.columns import KEY_RE
from environments.lookups import (
    environment_for_admin,
    environment_for_backups,
    require_admin_center,
    visible_environment,
)
from environments.models import Environment
from portal.api.errors import error_responses
from portal.api.schemas import (
    ENVIRONMENT_REF,
    CamelSchema,
    EnvironmentRef,
    Moment,
    Name,
    Text,
)
from portal.errors import Refused

router = Router(tags=["backups and restore"], by_alias=True)

EnvRef = Path(..., description=ENVIRONMENT_REF, max_length=100)
IDEMPOTENCY = Header(
    None,
    alias="Idempotency-Key",
    max_length=100,
    pattern=r"^[^\x00]*$",
    description="Send the same key again (e.g. after a timeout) to get the same operation "
    "back instead of starting a second one.",
)


# -- manual backups and the system window -------------------------------------------------------


class BackupOut(CamelSchema):
    id: int
    label: str
    notes: str
    kind: Literal[tuple(ManualBackup.Kind.values)]  # type: ignore[valid-type]
    backup_point_date_time: datetime.datetime
    backup_expiry_date_time: datetime.datetime
    created_by: str | None = Field(description="Username of the person who made it.")


class WindowOut(CamelSchema):
    start_date_time: datetime.datetime
    end_date_time: datetime.datetime
    retention_days: int


class BackupListOut(CamelSchema):
    environment_id: int
    system_window: WindowOut = Field(
        description="System backups: any moment in this window can be restored."
    )
    manual_backups: list[BackupOut]


class BackupCreateIn(CamelSchema):
    label: Name(100, refused_past=1000)
    notes: Text(2000, refused_past=10000) = ""


class BackupUpdateIn(CamelSchema):
    label: Name(100, refused_past=1000) | None = None
    notes: Text(2000, refused_past=10000) | None = None


def backup_out(backup: ManualBackup) -> dict:
    return {
        "id": backup.pk,
        "label": backup.label,
        "notes": backup.notes,
        "kind": backup.kind,
        "backup_point_date_time": backup.backup_at,
        "backup_expiry_date_time": backup.expires_at,
        "created_by": backup.created_by.username if backup.created_by else None,
    }


def window_out(environment: Environment) -> dict:
    window = environment.restorable_window()
    return {
        "start_date_time": window.start,
        "end_date_time": window.end,
        "retention_days": environment.retention.days,
    }


@router.get(
    "/environments/{environment}/backups",
    response={200: BackupListOut, **error_responses(403, 404)},
    summary="The restorable window and the manual backups of an environment",
)
def backup_list(request: HttpRequest, environment: str = EnvRef):
    env = environment_for_backups(request.auth, environment)
    backups = (
        selectors.unexpired_backups(env).select_related("created_by").order_by("-backup_at", "-id")
    )
    return {
        "environment_id": env.pk,
        "system_window": window_out(env),
        "manual_backups": [backup_out(b) for b in backups],
    }


@router.post(
    "/environments/{environment}/backups",
    response={201: BackupOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Make a manual backup (production and sandbox only)",
)
def backup_create(request: HttpRequest, payload: BackupCreateIn, environment: str = EnvRef):
    env = environment_for_backups(request.auth, environment)
    backup = services.backup_create(
        environment=env, label=payload.label, notes=payload.notes, actor=request.auth
    )
    return Status(201, backup_out(backup))


@router.patch(
    "/environments/{environment}/backups/{backup_id}",
    response={200: BackupOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Change a manual backup's label or notes",
)
def backup_update(
    request: HttpRequest,
    payload: BackupUpdateIn,
    environment: str = EnvRef,
    backup_id: int = Path(..., ge=1, le=2**62),
):
    backup = lookups.backup_for_user(request.auth, environment, backup_id)
    label = backup.label if payload.label is None else payload.label
    notes = backup.notes if payload.notes is None else payload.notes
    backup = services.backup_update(backup=backup, label=label, notes=notes, actor=request.auth)
    return backup_out(backup)


@router.delete(
    "/environments/{environment}/backups/{backup_id}",
    response={204: None, **error_responses(403, 404, 409, 422, 429)},
    summary="Delete a manual backup",
)
def backup_delete(
    request: HttpRequest, environment: str = EnvRef, backup_id: int = Path(..., ge=1, le=2**62)
):
    backup = lookups.backup_for_user(request.auth, environment, backup_id)
    services.backup_delete(backup=backup, actor=request.auth)
    return Status(204, None)


# -- restore candidates -----------------------------------------------------------------------


class CandidatesQuery(CamelSchema):
    at: Moment = Field(description="ISO 8601 with an offset, e.g. 2026-11-20T09:30:00+01:00.")


class CandidateOut(CamelSchema):
    restore_point_date_time: datetime.datetime
    kind: Literal["point_in_time", "system", "manual"]
    label: str
    backup_id: int | None


class CandidatesOut(CamelSchema):
    requested_date_time: datetime.datetime
    exact: bool = Field(description="Whether the requested moment itself can be restored.")
    reason: str = Field(
        description="Why the exact moment is not available, or a note; empty otherwise."
    )
    system_window: WindowOut
    candidates: list[CandidateOut]


@router.get(
    "/environments/{environment}/restore-candidates",
    response={200: CandidatesOut, **error_responses(403, 404)},
    summary="The backups at or closest to a moment",
)
def restore_candidates(
    request: HttpRequest, query: Query[CandidatesQuery], environment: str = EnvRef
):
    env = environment_for_backups(request.auth, environment)
    result = selectors.restore_candidates(env, query.at.astimezone(datetime.UTC))
    return {
        "requested_date_time": result.requested,
        "exact": result.exact,
        "reason": result.reason,
        "system_window": {
            "start_date_time": result.window.start,
            "end_date_time": result.window.end,
            "retention_days": env.retention.days,
        },
        "candidates": [
            {
                "restore_point_date_time": c.moment,
                "kind": c.kind,
                "label": c.label,
                "backup_id": c.backup_id,
            }
            for c in result.items
        ],
    }


# -- restore and operations -------------------------------------------------------------------


def _given(*names: str, absent: tuple[str, ...] = ()) -> dict:
    """JSON schema: these properties are given and not null; those in `absent` are not."""
    not_null = {"not": {"type": "null"}}
    return {
        "required": list(names),
        "properties": {
            **{name: not_null for name in names},
            **{name: {"type": "null"} for name in absent},
        },
    }


# The restore point: a moment (or "latest") or a manual backup, never both (restore_start
# refuses both and neither with 422, before it looks at anything else).
MOMENT_OR_BACKUP = [_given("restorePointDateTime"), _given("backupId")]
_NEW_TARGET = ("targetEnvironmentName", "targetEnvironmentSlug")


class RestoreIn(CamelSchema):
    source_environment_id: int | EnvironmentRef = Field(description=ENVIRONMENT_REF)
    restore_point_date_time: Moment | Literal["latest"] | None = Field(
        None,
        description="The moment to restore (ISO 8601 with an offset), or `latest`. "
        "Give this or `backupId`.",
    )
    backup_id: int | None = Field(
        None,
        ge=1,
        le=2**62,
        description="A manual backup of the source. Give this or `restorePointDateTime`.",
    )
    target_environment_name: Name(100, refused_past=1000) | None = Field(
        None, description="Rename the target; omit to keep its name."
    )
    target_security_group_id: Text(100, refused_past=1000) | None = Field(
        None,
        description="Set the target's security group (empty string: none); omit to keep it.",
    )

    model_config = ConfigDict(json_schema_extra={"oneOf": MOMENT_OR_BACKUP})


class OperationOut(CamelSchema):
    id: int
    kind: Literal[tuple(RestoreOperation.Kind.values)] = Field(  # type: ignore[valid-type]
        description="`restore`, `copy` (everything), `copy_schema` (the schema only), `rows` "
        "(chosen rows put back in place) or `table` (one table put back in place)."
    )
    status: Literal[tuple(RestoreOperation.Status.values)]  # type: ignore[valid-type]
    phase: Literal[tuple(RestoreOperation.Phase.values)]  # type: ignore[valid-type]
    phase_label: str
    percent_complete: int
    source_environment_id: int
    source_environment: str = Field(description="The source's slug.")
    target_environment_id: int
    target_environment: str = Field(description="The target's slug.")
    restore_point_date_time: datetime.datetime
    backup_id: int | None
    target_environment_name: str | None
    requested_by: str | None
    created_date_time: datetime.datetime
    started_date_time: datetime.datetime | None
    finished_date_time: datetime.datetime | None
    tables_done: int
    tables_total: int
    rows_copied: int
    rows_total: int
    error: str
    undo_of_id: int | None
    selection: dict = Field(
        description="For `rows` and `table`: the table, and the keys, or the range and "
        "filters, or `whole`; `keep_newer`. Empty for the other kinds."
    )
    written_date_time: datetime.datetime | None = Field(
        description="For `rows` and `table`: when its write was made (what its undo reads back "
        "from)."
    )


def operation_out(op: RestoreOperation) -> dict:
    return {
        "id": op.pk,
        "kind": op.kind,
        "status": op.status,
        "phase": op.phase,
        "phase_label": op.get_phase_display(),
        "percent_complete": op.percent,
        "source_environment_id": op.source_id,
        "source_environment": op.source.slug,
        "target_environment_id": op.target_id,
        "target_environment": op.target.slug,
        "restore_point_date_time": op.moment,
        "backup_id": op.backup_id,
        "target_environment_name": op.new_name or None,
        "requested_by": op.requested_by.username if op.requested_by else None,
        "created_date_time": op.created_at,
        "started_date_time": op.started_at,
        "finished_date_time": op.finished_at,
        "tables_done": op.tables_done,
        "tables_total": op.tables_total,
        "rows_copied": op.rows_copied,
        "rows_total": op.rows_total,
        "error": op.error,
        "undo_of_id": op.undo_of_id,
        "selection": op.selection,
        "written_date_time": op.written_at,
    }


def _restore_point(request: HttpRequest, payload: RestoreIn | RestoreToNewIn):
    """(moment, backup) as restore_start takes them: a moment, LATEST, or a manual backup."""
    moment = backup = None
    if payload.backup_id is not None:
        backup = lookups.backup_to_restore(request.auth, payload.backup_id)
    if payload.restore_point_date_time == "latest":
        moment = restores.LATEST
    elif payload.restore_point_date_time is not None:
        moment = payload.restore_point_date_time.astimezone(datetime.UTC)
    return moment, backup


def _accepted(response: HttpResponse, op: RestoreOperation):
    op = RestoreOperation.objects.select_related("source", "target", "requested_by").get(pk=op.pk)
    response["Location"] = reverse("api-v1:operation_get", kwargs={"operation_id": op.pk})
    return Status(202, operation_out(op))


@router.post(
    "/environments/{environment}/restore",
    response={202: OperationOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Restore a source's backup over this (sandbox) environment",
    description="Answers 202 at once; the restore runs in the background. Poll the "
    "operation named in the Location header.",
)
def restore(
    request: HttpRequest,
    response: HttpResponse,
    payload: RestoreIn,
    environment: str = EnvRef,
    idempotency_key: str | None = IDEMPOTENCY,
):
    target = environment_for_admin(request.auth, environment)
    source = visible_environment(request.auth, payload.source_environment_id)
    moment, backup = _restore_point(request, payload)
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            requested_by=request.auth,
            moment=moment,
            backup=backup,
            new_name=payload.target_environment_name,
            security_group=payload.target_security_group_id,
            idempotency_key=idempotency_key,
        )
    )
    return _accepted(response, op)


class RestoreToNewIn(CamelSchema):
    restore_point_date_time: Moment | Literal["latest"] | None = Field(
        None,
        description="The moment to restore (ISO 8601 with an offset), or `latest`. "
        "Give this or `backupId`.",
    )
    backup_id: int | None = Field(
        None, ge=1, le=2**62, description="A manual backup of the source (this environment)."
    )
    target_environment_name: Name(100) = Field(description="The new sandbox's name.")
    target_environment_slug: Slug = Field(description="The new sandbox's URL name (unique).")
    target_security_group_id: Text(100) = ""

    model_config = ConfigDict(json_schema_extra={"oneOf": MOMENT_OR_BACKUP})


@router.post(
    "/environments/{environment}/restore-to-new",
    response={202: OperationOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Restore this environment's backup into a new sandbox environment",
    description="A separate endpoint rather than a flag of `/restore`, whose path names the "
    "environment to overwrite: here the path names the source, and the new sandbox is made "
    "in its region, with you as its admin (Global and Power Platform admins only). The "
    "sandbox and the queued restore are made together or not at all; answers 202 at once, "
    "like `/restore`.",
)
def restore_to_new(
    request: HttpRequest,
    response: HttpResponse,
    payload: RestoreToNewIn,
    environment: str = EnvRef,
    idempotency_key: str | None = IDEMPOTENCY,
):
    source = environment_for_backups(request.auth, environment)
    moment, backup = _restore_point(request, payload)
    try:
        op = copies.restore_to_new(
            restores.RestoreRequest(
                source=source,
                requested_by=request.auth,
                moment=moment,
                backup=backup,
                idempotency_key=idempotency_key,
            ),
            name=payload.target_environment_name,
            slug=payload.target_environment_slug,
            security_group=payload.target_security_group_id,
        )
    except Refused as exc:  # the new environment's fields, as this request names them
        exc.field = NEW_TARGET_FIELDS.get(exc.field, exc.field)
        raise
    return _accepted(response, op)


NEW_TARGET_FIELDS = {
    "name": "targetEnvironmentName",
    "slug": "targetEnvironmentSlug",
    "security_group": "targetSecurityGroupId",
}


class CopyIn(CamelSchema):
    copy_type: Literal["everything", "schemaOnly"] = Field(
        "everything", description="`schemaOnly`: the tables and their columns, no rows."
    )
    target_environment_id: int | EnvironmentRef | None = Field(
        None,
        description="The sandbox to overwrite (" + ENVIRONMENT_REF + "). Or give "
        "`targetEnvironmentName` and `targetEnvironmentSlug` for a new sandbox.",
    )
    target_environment_name: Name(100) | None = None
    target_environment_slug: Slug | None = None
    target_security_group_id: Text(100) = ""

    # One target: an existing sandbox, or a new one's name and URL name (copy() refuses both,
    # neither, or half of a new one with 422).
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                _given("targetEnvironmentId", absent=_NEW_TARGET),
                _given(*_NEW_TARGET, absent=("targetEnvironmentId",)),
            ]
        }
    )


@router.post(
    "/environments/{environment}/copy",
    response={202: OperationOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Copy this environment as it is now to a sandbox, or into a new sandbox",
    description="Everything, or the schema only. Over an existing sandbox of the same region "
    '(`targetEnvironmentId`) it replaces its data, records a "Before copy" backup and can be '
    "undone; with `targetEnvironmentName` and `targetEnvironmentSlug` it makes a new sandbox "
    "first (Global and Power Platform admins only). Answers 202 at once, like `/restore`.",
)
def copy(
    request: HttpRequest,
    response: HttpResponse,
    payload: CopyIn,
    environment: str = EnvRef,
    idempotency_key: str | None = IDEMPOTENCY,
):
    source = environment_for_backups(request.auth, environment)
    new = payload.target_environment_name is not None or payload.target_environment_slug
    if (payload.target_environment_id is None) == (not new):
        raise Refused(
            "Give either targetEnvironmentId, or targetEnvironmentName and "
            "targetEnvironmentSlug for a new sandbox.",
            field="targetEnvironmentId",
        )
    where: dict = {}
    if new:
        where["new"] = {
            "name": payload.target_environment_name or "",
            "slug": payload.target_environment_slug or "",
            "security_group": payload.target_security_group_id,
        }
    else:
        where["target"] = environment_for_admin(request.auth, payload.target_environment_id)
    try:
        op = copies.copy_start(
            source=source,
            requested_by=request.auth,
            schema_only=payload.copy_type == "schemaOnly",
            idempotency_key=idempotency_key,
            **where,
        )
    except Refused as exc:
        if new:
            exc.field = NEW_TARGET_FIELDS.get(exc.field, exc.field)
        raise
    return _accepted(response, op)


def _operation_for(request: HttpRequest, operation_id: int) -> RestoreOperation:
    require_admin_center(request.auth)
    return lookups.operation_for_user(request.auth, operation_id)


class OperationFilter(CamelSchema):
    environment: Text(100) | None = Field(
        None, description="Only the operations on this target environment."
    )
    status: Literal[tuple(RestoreOperation.Status.values)] | None = None  # type: ignore[valid-type]
    kind: Literal[tuple(RestoreOperation.Kind.values)] | None = None  # type: ignore[valid-type]
    limit: int = Field(50, ge=1, le=200, description="The newest this many.")


@router.get(
    "/operations",
    response={200: list[OperationOut], **error_responses(403, 404)},
    summary="Restores, copies, undos and put-backs on the environments you manage (and failed "
    "ones into a new sandbox, from them), newest first",
)
def operation_list(request: HttpRequest, filters: Query[OperationFilter]):
    require_admin_center(request.auth)
    operations = permissions.visible_operations(
        request.auth, RestoreOperation.objects.all()
    ).select_related("source", "target", "requested_by")
    if filters.environment is not None:
        operations = operations.filter(
            target=environment_for_admin(request.auth, filters.environment)
        )
    if filters.status:
        operations = operations.filter(status=filters.status)
    if filters.kind:
        operations = operations.filter(kind=filters.kind)
    return [operation_out(op) for op in operations.order_by("-created_at", "-id")[: filters.limit]]


@router.get(
    "/operations/{operation_id}",
    url_name="operation_get",
    response={200: OperationOut, **error_responses(403, 404)},
    summary="A restore operation: status and progress",
)
def operation_get(request: HttpRequest, operation_id: int = Path(..., ge=1, le=2**62)):
    return operation_out(_operation_for(request, operation_id))


@router.post(
    "/operations/{operation_id}/undo",
    response={202: OperationOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Undo a restore: put the target back as it was just before it",
)
def operation_undo(
    request: HttpRequest,
    response: HttpResponse,
    operation_id: int = Path(..., ge=1, le=2**62),
    idempotency_key: str | None = IDEMPOTENCY,
):
    op = _operation_for(request, operation_id)
    if op.is_put_back:
        undo = put_backs.put_back_undo(
            operation=op, actor=request.auth, idempotency_key=idempotency_key
        )
    else:
        undo = undos.restore_undo(operation=op, actor=request.auth, idempotency_key=idempotency_key)
    return _accepted(response, undo)


# -- putting rows back in place ------------------------------------------------------------------


KEY_PATTERN = KEY_RE.pattern


def _flag(name: str) -> dict:
    return {"required": [name], "properties": {name: {"const": True}}}


_AT = _given("restorePointDateTime")
_RANGE = _given("fromDateTime", "toDateTime")
# Which rows and as of when: chosen keys with a moment or a range; every row matching the
# changes of a range; or the whole table with a moment or a range.
# The server reads wholeTable first, then matching, then keys: a branch holds only when the
# flags read before it are not set.
_NOT_WHOLE = {"properties": {"wholeTable": {"const": False}}}
_NOT_MATCHING = {"properties": {"matching": {"const": False}}}
WHICH_ROWS = [
    {"allOf": [_given("keys"), _AT, _NOT_WHOLE, _NOT_MATCHING]},
    {"allOf": [_given("keys"), _RANGE, _NOT_WHOLE, _NOT_MATCHING]},
    {"allOf": [_flag("matching"), _RANGE, _NOT_WHOLE]},
    {"allOf": [_flag("wholeTable"), _AT]},
    {"allOf": [_flag("wholeTable"), _RANGE]},
]


class RestoreRowsIn(CamelSchema):
    table: Text(63) = Field(description="The table whose rows go back (by its name).")
    keys: list[Annotated[str, Field(pattern=KEY_PATTERN)]] | None = Field(
        None,
        min_length=1,
        max_length=put_back_engine.MAX_KEYS,
        description="Chosen rows, by key. Or give `matching`, or `wholeTable`.",
    )
    matching: StrictBool = Field(
        False,
        description="Every row the changes between `fromDateTime` and `toDateTime` matching "
        "`kind`, `who` and `search` touched.",
    )
    whole_table: StrictBool = Field(False, description="The whole table, by lineage.")
    from_date_time: Moment | None = Field(
        None,
        description="The start of the range the changes were looked at in; the rows go back "
        "as they were then unless `restorePointDateTime` says otherwise.",
    )
    to_date_time: Moment | None = Field(
        None, description="The end of that range: rows changed again after it are kept."
    )
    kind: Literal["added", "changed", "deleted"] | None = None
    who: Text(150) = ""
    search: Text(100) = ""
    restore_point_date_time: Moment | None = Field(
        None, description="Put the rows back as they were at this moment."
    )
    keep_newer: StrictBool = Field(
        True, description="Rows changed again after `toDateTime` keep their newer value."
    )

    model_config = ConfigDict(json_schema_extra={"anyOf": WHICH_ROWS})


def _put_back_request(request: HttpRequest, environment: str, payload: RestoreRowsIn):
    env = environment_for_admin(request.auth, environment)
    span = None
    if payload.from_date_time and payload.to_date_time:
        span = Span(
            payload.from_date_time.astimezone(datetime.UTC),
            payload.to_date_time.astimezone(datetime.UTC),
        )
    if payload.whole_table:
        selection = put_back_engine.Selection(table=payload.table, whole=True, span=span)
    elif payload.matching:
        if span is None:
            raise Refused(
                "Give fromDateTime and toDateTime for the changes to match.", field="from"
            )
        filters = Filters(
            table=payload.table, kind=payload.kind or "", who=payload.who, q=payload.search
        )
        selection = put_back_engine.Selection(table=payload.table, span=span, filters=filters)
    else:
        selection = put_back_engine.Selection(
            table=payload.table, keys=tuple(payload.keys or ()), span=span
        )
    moment = payload.restore_point_date_time
    return put_back_engine.PutBackRequest(
        environment=env,
        requested_by=request.auth,
        selection=selection,
        moment=moment.astimezone(datetime.UTC) if moment else None,
        keep_newer=payload.keep_newer,
    )


class RestoreRowsPreviewOut(CamelSchema):
    rows: int = Field(description="Rows chosen (for a whole table: its rows at the moment).")
    restore_point_date_time: datetime.datetime
    come_back: int = Field(description="Rows deleted since that come back.")
    change: int = Field(description="Rows changed since that get their old values.")
    go: int = Field(description="Rows added since that are deleted.")
    changed_again: list[str] = Field(description="The first rows changed again since the range.")
    changed_again_count: int
    kept: int = Field(description="Rows changed again that keep their newer value.")


@router.post(
    "/environments/{environment}/restore-rows/preview",
    response={200: RestoreRowsPreviewOut, **error_responses(403, 404, 409, 422, 429)},
    summary="What putting rows (or a table) back would do, changing nothing",
)
def restore_rows_preview(request: HttpRequest, payload: RestoreRowsIn, environment: str = EnvRef):
    preview = put_backs.put_back_preview(_put_back_request(request, environment, payload))
    return {
        "rows": preview.rows,
        "restore_point_date_time": preview.moment,
        "come_back": preview.restore,
        "change": preview.change,
        "go": preview.delete,
        "changed_again": preview.changed_again,
        "changed_again_count": preview.changed_again_count,
        "kept": preview.kept,
    }


@router.post(
    "/environments/{environment}/restore-rows",
    response={202: OperationOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Put chosen rows, the rows matching a filter, or a whole table back in place",
    description="As they were at a moment, in this same environment (production too), as one "
    "new write: rows added since are deleted, deleted ones come back, changed ones get their "
    "old values. Answers 202 at once; the write runs in the background (poll the operation). "
    "Undo it with `/operations/{id}/undo`.",
)
def restore_rows(
    request: HttpRequest,
    response: HttpResponse,
    payload: RestoreRowsIn,
    environment: str = EnvRef,
    idempotency_key: str | None = IDEMPOTENCY,
):
    wanted = _put_back_request(request, environment, payload)
    op = put_backs.put_back_start(dataclasses.replace(wanted, idempotency_key=idempotency_key))
    return _accepted(response, op)
