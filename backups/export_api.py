"""API: exports (an environment at a moment as an archive in the backups storage), their
download and verify, the export schedule, and restore from a file. Every rule is in
backups.exports, backups.export_schedules, backups.imports and environments.permissions; this
module only translates between JSON (or a multipart upload) and those calls."""

from __future__ import annotations

import datetime
import json
import zoneinfo
from typing import Annotated, Any, Literal

import pydantic
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Status
from ninja.errors import ValidationError
from pydantic import ConfigDict

from backups import archive_storage, export_schedules, exports, imports, lookups
from backups.api import IDEMPOTENCY, EnvRef
from backups.models import ArchiveImport, Export, ExportSchedule
from environments import permissions
from environments.api import RegionName, Slug
from environments.lookups import environment_for_admin
from portal.api.errors import error_responses
from portal.api.schemas import CamelSchema, Moment, Name, Stated, Text
from portal.errors import Conflict, Refused

router = Router(tags=["exports and restore from a file"], by_alias=True)

ExportId = Path(..., ge=1, le=2**62)


# -- exports ------------------------------------------------------------------------------------


class ExportIn(CamelSchema):
    restore_point_date_time: Moment | None = Field(
        None,
        description="The moment to export (ISO 8601 with an offset); omit it (and `backupId`) "
        "for the environment as it is now.",
    )
    backup_id: int | None = Field(
        None,
        ge=1,
        le=2**62,
        description="A manual backup of this environment: its moment is exported. Give this or "
        "`restorePointDateTime`, not both.",
    )

    # At most one of the two (the server refuses both with 422).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"restorePointDateTime": {"type": "null"}}},
                {"properties": {"backupId": {"type": "null"}}},
            ]
        }
    )


class ExportOut(CamelSchema):
    id: int
    environment_id: int
    environment: str = Field(description="The environment's slug.")
    environment_name: str = Field(description="Its name when the export was asked for.")
    status: Literal[tuple(Export.Status.values)]  # type: ignore[valid-type]
    percent_complete: int
    restore_point_date_time: datetime.datetime = Field(description="The moment exported.")
    backup_id: int | None
    scheduled_for_date_time: datetime.datetime | None = Field(
        description="The schedule's slot it was made for; null when a person asked for it."
    )
    requested_by: str | None
    created_date_time: datetime.datetime
    started_date_time: datetime.datetime | None
    finished_date_time: datetime.datetime | None
    tables_done: int
    tables_total: int
    rows_done: int
    rows_total: int
    error: str
    file_name: str = Field(description="The archive's name in the backups storage, once done.")
    size: int = Field(description="The archive's size in bytes, once done.")
    sha256: str = Field(description="The archive's SHA-256 in hex, once done.")
    rows: int
    verifying: bool = Field(description="A check of the stored archive is queued or running.")
    verified_date_time: datetime.datetime | None
    verified_ok: bool | None = Field(description="The last check's result; null: never checked.")
    verify_error: str
    expired_date_time: datetime.datetime | None
    download_url: str | None = Field(description="Where to download the archive, once done.")


def export_out(export: Export) -> dict:
    return {
        "id": export.pk,
        "environment_id": export.environment_id,
        "environment": export.environment.slug,
        "environment_name": export.environment_name,
        "status": export.status,
        "percent_complete": export.percent,
        "restore_point_date_time": export.moment,
        "backup_id": export.backup_id,
        "scheduled_for_date_time": export.scheduled_for,
        "requested_by": export.requested_by.username if export.requested_by else None,
        "created_date_time": export.created_at,
        "started_date_time": export.started_at,
        "finished_date_time": export.finished_at,
        "tables_done": export.tables_done,
        "tables_total": export.tables_total,
        "rows_done": export.rows_done,
        "rows_total": export.rows_total,
        "error": export.error,
        "file_name": export.file_name,
        "size": export.size,
        "sha256": export.sha256,
        "rows": export.rows,
        "verifying": export.is_verifying,
        "verified_date_time": export.verified_at,
        "verified_ok": export.verified_ok,
        "verify_error": export.verify_error,
        "expired_date_time": export.expired_at,
        "download_url": (
            reverse("api-v1:export_download", kwargs={"export_id": export.pk})
            if export.is_done
            else None
        ),
    }


def _with_relations(export: Export) -> Export:
    return Export.objects.select_related("environment", "requested_by").get(pk=export.pk)


def _export_for(request: HttpRequest, export_id: int) -> Export:
    return lookups.export_for_user(request.auth, export_id)


def _accepted(response: HttpResponse, export: Export):
    response["Location"] = reverse("api-v1:export_get", kwargs={"export_id": export.pk})
    return Status(202, export_out(_with_relations(export)))


@router.post(
    "/environments/{environment}/exports",
    response={202: ExportOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Export the environment as it was at a moment (or a manual backup's) as an archive",
    description="Answers 202 at once; the worker writes the archive to the backups storage. "
    "Poll the export named in the Location header, then download it. Refused (422) when the "
    "moment is outside the restorable window.",
)
def export_create(
    request: HttpRequest,
    response: HttpResponse,
    payload: ExportIn,
    environment: str = EnvRef,
    idempotency_key: str | None = IDEMPOTENCY,
):
    env = environment_for_admin(request.auth, environment)
    if payload.restore_point_date_time is not None and payload.backup_id is not None:
        raise Refused("Give restorePointDateTime or backupId, not both.", field="backupId")
    backup = None
    if payload.backup_id is not None:
        permissions.can_export(request.auth, env).require()
        backup = lookups.backup_of(env, payload.backup_id)
    try:
        export = exports.export_start(
            environment=env,
            requested_by=request.auth,
            moment=payload.restore_point_date_time,
            backup=backup,
            idempotency_key=idempotency_key or "",
        )
    except Refused as exc:  # the moment's rules (data_reads) name it as_of
        exc.field = "restorePointDateTime" if exc.field in ("as_of", "moment") else exc.field
        raise
    return _accepted(response, export)


class ExportPage(CamelSchema):
    exports: list[ExportOut] = Field(description="Newest first.")
    next: int | None = Field(description="Pass it as `after` for older exports; null: none.")


class ExportListQuery(CamelSchema):
    after: int | None = Field(
        None, ge=1, le=2**62, description="The `next` of the page before: older exports."
    )
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/environments/{environment}/exports",
    response={200: ExportPage, **error_responses(403, 404)},
    summary="The environment's exports, newest first, `limit` at a time",
)
def export_list(request: HttpRequest, query: Query[ExportListQuery], environment: str = EnvRef):
    env = environment_for_admin(request.auth, environment)
    found = exports.visible_exports(request.auth, env).select_related("environment", "requested_by")
    if query.after is not None:
        found = found.filter(pk__lt=query.after)
    page = list(found.order_by("-id")[: query.limit + 1])
    more = len(page) > query.limit
    page = page[: query.limit]
    return {"exports": [export_out(e) for e in page], "next": page[-1].pk if more else None}


@router.get(
    "/exports/{export_id}",
    url_name="export_get",
    response={200: ExportOut, **error_responses(403, 404)},
    summary="An export: status, progress, the archive's size and SHA-256, the last check",
)
def export_get(request: HttpRequest, export_id: int = ExportId):
    return export_out(_export_for(request, export_id))


ARCHIVE_BODY = {
    "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}
DOWNLOAD_HEADERS = {
    "ETag": {"description": "The archive's SHA-256 in hex, quoted.", "schema": {"type": "string"}},
    "Repr-Digest": {
        "description": "`sha-256=:<base64>:` (RFC 9530): check the whole file with it.",
        "schema": {"type": "string"},
    },
    "Accept-Ranges": {"schema": {"type": "string"}},
}


@router.get(
    "/exports/{export_id}/download",
    url_name="export_download",
    response={**error_responses(403, 404, 409)},
    summary="Download an export's archive (resumable with Range)",
    description="Streamed with its size; the SHA-256 is in the ETag and in Repr-Digest. A "
    "single `Range: bytes=N-` resumes a broken download (206); `If-Range` with the ETag makes "
    "sure the rest is of the same file. 409 while the export is not done.",
    openapi_extra={
        "responses": {
            200: {"description": "The archive.", "content": ARCHIVE_BODY},
            206: {
                "description": "The part of the archive asked for with Range.",
                "content": ARCHIVE_BODY,
                "headers": DOWNLOAD_HEADERS,
            },
            416: {"description": "The range asked for is outside the archive."},
        }
    },
)
def export_download(request: HttpRequest, export_id: int = ExportId):
    export = _export_for(request, export_id)
    if not export.is_done:
        raise Conflict(
            f"{export.label} has no archive to download ({export.get_status_display()}).",
        )
    return archive_storage.ranged_response(
        request,
        name=export.file_name,
        size=export.size,
        filename=export.download_name,
        sha256=export.sha256,
    )


@router.post(
    "/exports/{export_id}/verify",
    response={202: ExportOut, **error_responses(403, 404, 409, 422, 429)},
    summary="Check the stored archive again against its manifest and SHA-256",
    description="Answers 202 at once (`verifying` is true); the worker reads the archive and "
    "records `verifiedDateTime`, `verifiedOk` and `verifyError`.",
)
def export_verify(request: HttpRequest, response: HttpResponse, export_id: int = ExportId):
    export = _export_for(request, export_id)
    export = exports.export_verify_start(export, actor=request.auth)
    return _accepted(response, export)


# -- the export schedule ----------------------------------------------------------------------


TIME_ZONES = sorted(zoneinfo.available_timezones())


class ScheduleIn(CamelSchema):
    frequency: Literal[tuple(ExportSchedule.Frequency.values)]  # type: ignore[valid-type]
    hour: Annotated[int, Stated(minimum=0, maximum=23)] = Field(
        2, ge=-(2**31), le=2**31, description="The hour (0-23) in `timeZone`."
    )
    weekday: Annotated[int, Stated(minimum=0, maximum=6)] = Field(
        6, ge=-(2**31), le=2**31, description="For weekly: 0 Monday ... 6 Sunday."
    )
    time_zone: Annotated[str, Field(max_length=64), Stated(enum=TIME_ZONES)] = Field(
        "UTC", description="An IANA time zone, e.g. `Europe/Paris`."
    )
    keep: Annotated[int, Stated(minimum=1, maximum=export_schedules.KEEP_MAX)] = Field(
        7, ge=-(2**31), le=2**31, description="Keep the last this many scheduled exports."
    )


class ScheduleOut(CamelSchema):
    environment_id: int
    frequency: Literal[tuple(ExportSchedule.Frequency.values)]  # type: ignore[valid-type]
    hour: int
    weekday: int
    time_zone: str
    keep: int
    description: str = Field(description='As the page says it: "Daily at 02:00 (UTC), ...".')
    next_run_date_time: datetime.datetime | None = Field(description="Null when off.")
    last_failure_date_time: datetime.datetime | None = Field(
        description="The last scheduled export that failed, until one succeeds."
    )
    last_failure: str


def schedule_out(env, schedule: ExportSchedule | None) -> dict:
    shown = schedule or ExportSchedule(environment=env)
    return {
        "environment_id": env.pk,
        "frequency": shown.frequency,
        "hour": shown.hour,
        "weekday": shown.weekday,
        "time_zone": shown.time_zone,
        "keep": shown.keep,
        "description": export_schedules.describe(schedule),
        "next_run_date_time": (
            export_schedules.next_slot(schedule, timezone.now()) if schedule else None
        ),
        "last_failure_date_time": shown.last_failure_at,
        "last_failure": shown.last_failure,
    }


SCHEDULE_FIELDS = {"time_zone": "timeZone"}


@router.get(
    "/environments/{environment}/export-schedule",
    response={200: ScheduleOut, **error_responses(403, 404)},
    summary="When the environment's exports are made on their own, and the last failure",
)
def schedule_get(request: HttpRequest, environment: str = EnvRef):
    env = environment_for_admin(request.auth, environment)
    permissions.can_export(request.auth, env).require()
    return schedule_out(env, export_schedules.schedule_of(env))


@router.put(
    "/environments/{environment}/export-schedule",
    response={200: ScheduleOut, **error_responses(403, 404, 422, 429)},
    summary="Set the export schedule: off, daily or weekly at an hour, keeping the last N",
    description="Production and sandbox environments only. The hour is in `timeZone`.",
)
def schedule_put(request: HttpRequest, payload: ScheduleIn, environment: str = EnvRef):
    env = environment_for_admin(request.auth, environment)
    try:
        schedule = export_schedules.schedule_set(
            environment=env,
            actor=request.auth,
            frequency=payload.frequency,
            hour=payload.hour,
            weekday=payload.weekday,
            time_zone=payload.time_zone,
            keep=payload.keep,
        )
    except Refused as exc:
        exc.field = SCHEDULE_FIELDS.get(exc.field, exc.field)
        raise
    return schedule_out(env, schedule)


# -- restore from a file ------------------------------------------------------------------------

# A name in the backups storage: a relative path with no ".." part (imports.manifest_of refuses
# the others with 422).
STORED_NAME = r"^(?!/)(?!(?:[^\x00]*/)?\.\.(?:/|$))[^\x00]+$"


class ImportFields(CamelSchema):
    name: Name(100) = Field(description="The new sandbox's name.")
    slug: Slug = Field(description="The new sandbox's URL name (unique).")
    region: RegionName | Literal[""] = Field(
        "", description="The new sandbox's region; empty: the archive's (if this portal has it)."
    )
    security_group_id: Text(100) = ""


class ImportIn(ImportFields):
    file_name: Annotated[str, Field(max_length=255), Stated(pattern=STORED_NAME)] = Field(
        description="An archive in the backups storage (see `GET /archives`)."
    )


class ImportUploadIn(ImportFields):
    """The form fields of a multipart upload (the file is read apart)."""


class ImportOut(CamelSchema):
    id: int
    status: Literal[tuple(ArchiveImport.Status.values)]  # type: ignore[valid-type]
    phase: Literal[tuple(ArchiveImport.Phase.values)]  # type: ignore[valid-type]
    phase_label: str
    percent_complete: int
    file_name: str
    file_size: int
    target_environment_id: int
    target_environment: str = Field(description="The new sandbox's slug.")
    target_environment_name: str
    source_environment_name: str = Field(description="As the archive's manifest names it.")
    source_region: str
    restore_point_date_time: datetime.datetime | None = Field(
        description="The moment the archive holds."
    )
    tables_done: int
    tables_total: int
    rows_done: int
    rows_total: int
    error: str
    requested_by: str | None
    created_date_time: datetime.datetime
    started_date_time: datetime.datetime | None
    finished_date_time: datetime.datetime | None


def import_out(op: ArchiveImport) -> dict:
    return {
        "id": op.pk,
        "status": op.status,
        "phase": op.phase,
        "phase_label": op.get_phase_display(),
        "percent_complete": op.percent,
        "file_name": op.file_name,
        "file_size": op.file_size,
        "target_environment_id": op.target_id,
        "target_environment": op.target.slug,
        "target_environment_name": op.target_name,
        "source_environment_name": op.source_name,
        "source_region": op.source_region,
        "restore_point_date_time": op.moment,
        "tables_done": op.tables_done,
        "tables_total": op.tables_total,
        "rows_done": op.rows_done,
        "rows_total": op.rows_total,
        "error": op.error,
        "requested_by": op.requested_by.username if op.requested_by else None,
        "created_date_time": op.created_at,
        "started_date_time": op.started_at,
        "finished_date_time": op.finished_at,
    }


def _schema_of(model: type[pydantic.BaseModel], **extra: Any) -> dict:
    schema = model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    schema["additionalProperties"] = False
    for name, value in extra.items():
        schema["properties"][name] = value
        schema["required"] = [*schema.get("required", []), name]
    return schema


IMPORT_FIELDS = {
    "security_group": "securityGroupId",
    "name": "name",
    "slug": "slug",
    "region": "region",
}


def _validated(model: type[pydantic.BaseModel], data: Any, place: str):
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [{**e, "loc": (place, *e["loc"])} for e in exc.errors(include_url=False)]
        raise ValidationError(errors) from None


def _upload_request(request: HttpRequest):
    """(fields, uploaded file) of a multipart request; the file stays on disk (Django's upload
    handlers write a big one to a temporary file)."""
    fields = {key: request.POST.get(key) for key in request.POST}
    uploaded = request.FILES.getlist("file")
    if len(uploaded) != 1 or set(request.FILES) != {"file"}:
        raise ValidationError(
            [
                {
                    "loc": ("form", "file"),
                    "msg": "Send one file, named `file`.",
                    "type": "missing",
                }
            ]
        )
    return _validated(ImportUploadIn, fields, "form"), uploaded[0]


def _json_request(request: HttpRequest) -> ImportIn:
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(
            [{"loc": ("body",), "msg": "The body is not JSON.", "type": "json_invalid"}]
        ) from None
    return _validated(ImportIn, data, "body")


@router.post(
    "/imports",
    response={202: ImportOut, **error_responses(403, 409, 422, 429)},
    summary="Restore from a file: an export archive into a new sandbox",
    description="Upload the archive (`multipart/form-data`, the file as `file`), or name one "
    "already in the backups storage (JSON, `fileName`; see `GET /archives`). The manifest is "
    "read at once: another kind of file or a newer format is refused (422) and nothing is "
    "made. Otherwise the new sandbox is made (state Restoring) and the answer is 202; the "
    "worker checks the whole archive, then loads it. Poll the Location. Global and Power "
    "Platform admins only.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _schema_of(ImportIn)},
                "multipart/form-data": {
                    "schema": _schema_of(
                        ImportUploadIn,
                        file={"type": "string", "format": "binary", "minLength": 1},
                    )
                },
            },
        }
    },
)
def import_create(
    request: HttpRequest, response: HttpResponse, idempotency_key: str | None = IDEMPOTENCY
):
    permissions.can_restore_from_file(request.auth).require()
    content_type = request.content_type or ""
    uploaded = None
    if content_type == "multipart/form-data":
        fields, uploaded = _upload_request(request)
    elif content_type == "application/json":
        fields = _json_request(request)
    else:
        raise ValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": "Send JSON (application/json) or an upload (multipart/form-data).",
                    "type": "content_type",
                }
            ]
        )
    if uploaded is not None:
        file_name = imports.upload(uploaded, uploaded.name or "archive.tar")
    else:
        file_name = fields.file_name
    try:
        op = imports.import_start(
            requested_by=request.auth,
            file_name=file_name,
            name=fields.name,
            slug=fields.slug,
            region=fields.region,
            security_group=fields.security_group_id,
            idempotency_key=idempotency_key or "",
        )
    except Refused as exc:
        if uploaded is not None:  # nothing is kept of a refused upload
            archive_storage.delete(file_name)
        exc.field = (
            ("file" if uploaded is not None else "fileName")
            if exc.field == "file"
            else IMPORT_FIELDS.get(exc.field, exc.field)
        )
        raise
    if uploaded is not None and op.file_name != file_name:
        archive_storage.delete(file_name)  # the same idempotency key again: the first one's
    op = ArchiveImport.objects.select_related("target", "requested_by").get(pk=op.pk)
    response["Location"] = reverse("api-v1:import_get", kwargs={"import_id": op.pk})
    return Status(202, import_out(op))


@router.get(
    "/imports/{import_id}",
    url_name="import_get",
    response={200: ImportOut, **error_responses(403, 404)},
    summary="A restore from a file: status, phase, progress, the new sandbox",
)
def import_get(request: HttpRequest, import_id: int = Path(..., ge=1, le=2**62)):
    permissions.can_restore_from_file(request.auth).require()
    op = ArchiveImport.objects.select_related("target", "requested_by").filter(pk=import_id).first()
    if op is None:
        raise Http404(f"There is no restore from a file {import_id}.")
    return import_out(op)


class ArchiveOut(CamelSchema):
    name: str = Field(description="Give it as `fileName` to `POST /imports`.")
    size: int


@router.get(
    "/archives",
    response={200: list[ArchiveOut], **error_responses(403)},
    summary="The archives in the backups storage one can restore from, by name",
)
def archive_list(request: HttpRequest):
    permissions.can_restore_from_file(request.auth).require()
    return [{"name": name, "size": size} for name, size in imports.stored_archives()]
