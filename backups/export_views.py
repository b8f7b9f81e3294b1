"""Exports in the browser: Export (from the System and Manual tabs), an environment's Exports
page with its schedule, Download and Verify, and Restore from a file with its progress. Every
view renders a whole page for a plain request and only the region htmx asked for otherwise;
what happens is decided in backups.exports, export_schedules and imports."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from backups import archive_storage, export_schedules, exports, imports
from backups import lookups as backup_lookups
from backups.export_forms import RestoreFileForm, ScheduleForm
from backups.forms import PointForm
from backups.models import Export
from environments import lookups, permissions
from environments.models import Environment
from portal import localtime
from portal.errors import Refused
from portal.http import (
    HtmxHttpRequest,
    redirect_after_post,
    refusal_message,
    refusal_on_form,
    render_partial,
)
from portal.timefmt import local_moment

# How many exports the Exports page lists at a time (Older ones a page further).
PAGE = 25


def _environment_for_exports(request: HtmxHttpRequest, slug: str) -> Environment:
    env = lookups.environment_for_admin(request.user, slug)
    permissions.can_export(request.user, env).require()
    return env


def _exports_url(env: Environment, export: Export | None = None) -> str:
    url = reverse("backups:exports", args=[env.slug])
    return f"{url}#export-{export.pk}" if export else url


# -- Export ----------------------------------------------------------------------------------


@require_POST
def export_start(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Export a moment: pick=latest, at:<ISO moment> (a System tab candidate) or backup:<id> (a
    manual backup). A refusal is said on the page the button was on, and nothing is queued."""
    env = _environment_for_exports(request, slug)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = _exports_url(env)
    pick = request.POST.get("pick", "").strip()
    point = PointForm({"pick": pick}, environment=env)
    if pick != "latest" and not point.is_valid():
        messages.error(request, point.errors["pick"][0])
        return redirect_after_post(request, back)
    key = request.POST.get("idempotency_key", "").strip()[:64]
    try:
        export = exports.export_start(
            environment=env,
            requested_by=request.user,
            moment=point.moment if point.backup is None else None,
            backup=point.backup,
            idempotency_key=f"portal-export-{key}" if key else "",
        )
    except Refused as exc:
        messages.error(request, refusal_message(exc))
        return redirect_after_post(request, back)
    messages.success(
        request,
        f"{export.label} of {env.name} as at {local_moment(export.moment, seconds=True)} is "
        "queued. It is listed here with its progress; you can leave this page meanwhile.",
    )
    return redirect_after_post(request, _exports_url(env))


# -- the Exports page and its schedule ---------------------------------------------------------


def _listed(request: HtmxHttpRequest, env: Environment) -> tuple[list[Export], int | None]:
    """A page of the environment's exports, newest first, from ?before=<id> (keyset)."""
    listed = (
        exports.visible_exports(request.user, env)
        .select_related("requested_by", "backup")
        .order_by("-created_at", "-id")
    )
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit() and len(before) < 18:
        anchor = listed.filter(pk=int(before)).values_list("created_at", flat=True).first()
        if anchor is not None:
            listed = listed.filter(
                Q(created_at__lt=anchor) | Q(created_at=anchor, id__lt=int(before))
            )
    page = list(listed[: PAGE + 1])
    older = page[PAGE - 1].pk if len(page) > PAGE else None
    return page[:PAGE], older


def _exports_page(
    request: HtmxHttpRequest, env: Environment, form: ScheduleForm | None = None, error: str = ""
) -> HttpResponse:
    schedule = export_schedules.schedule_of(env)
    zone = localtime.viewer_zone()
    listed, older = _listed(request, env)
    offered = env.type in export_schedules.SCHEDULED_TYPES
    now = timezone.now()
    context = {
        "environment": env,
        "exports": listed,
        "older": older,
        "paged": "before" in request.GET,  # an older page: offer the newest again
        "polling": any(e.is_active or e.is_verifying for e in listed),
        "schedule": schedule,
        "schedule_words": export_schedules.describe(schedule),
        "next_run": export_schedules.next_slot(schedule, now) if schedule else None,
        "schedule_offered": offered,
        "form": form or ScheduleForm.for_schedule(None, schedule, zone=zone),
        "error": error,
        "zone_options": mark_safe(localtime.zone_datalist_html(zone, now)),
        "backed_up": env.backed_up,
        "idempotency_key": uuid.uuid4().hex,
    }
    return render_partial(request, "backups/exports.html", context, partial="export-list")


@require_GET
def exports_page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    return _exports_page(request, _environment_for_exports(request, slug))


@require_http_methods(["GET", "POST"])
def export_schedule(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Set the export schedule: Off, Daily or Weekly at an hour of a time zone, keep N."""
    env = _environment_for_exports(request, slug)
    if request.method == "GET":
        return redirect_after_post(request, reverse("backups:exports", args=[env.slug]))
    schedule = export_schedules.schedule_of(env)
    form = ScheduleForm.for_schedule(request.POST, schedule, zone=localtime.viewer_zone())
    error = ""
    if form.is_valid():
        try:
            schedule = export_schedules.schedule_set(
                environment=env, actor=request.user, **form.cleaned_data
            )
        except Refused as exc:
            error = refusal_on_form(form, exc)
        else:
            words = export_schedules.describe(schedule)
            if schedule.frequency == schedule.Frequency.OFF:
                messages.success(request, f"Scheduled exports of {env.name} are off.")
            else:
                next_run = export_schedules.next_slot(schedule, timezone.now())
                messages.success(
                    request,
                    f"Scheduled exports of {env.name}: {words}. The next one runs at "
                    f"{local_moment(next_run)}.",
                )
            return redirect_after_post(request, reverse("backups:exports", args=[env.slug]))
    return _exports_page(request, env, form, error)


# -- one export: its row (polled while it runs), Download, Verify ----------------------------


@require_GET
def export_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    export = backup_lookups.export_for_user(request.user, pk)
    context = {"export": export, "environment": export.environment}
    return render_partial(request, "backups/export.html", context, partial="export-row")


@require_safe  # HEAD too: a download manager asks for the size first
def export_download(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    export = backup_lookups.export_for_user(request.user, pk)
    if not export.is_done:
        raise Http404(f"{export.label} has no archive to download ({export.get_status_display()}).")
    return archive_storage.ranged_response(
        request,
        name=export.file_name,
        size=export.size,
        filename=export.download_name,
        sha256=export.sha256,
    )


@require_POST
def export_verify(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    export = backup_lookups.export_for_user(request.user, pk)
    env = export.environment
    try:
        exports.export_verify_start(export, actor=request.user)
    except Refused as exc:
        messages.error(request, refusal_message(exc))
    else:
        messages.info(
            request,
            f"Checking {export.label}: every part of its archive is read again and compared "
            "with its checksum. The result is shown beside it.",
        )
    return redirect_after_post(request, _exports_url(env))


# -- Restore from a file -----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def restore_from_file(request: HtmxHttpRequest) -> HttpResponse:
    """An archive uploaded (streamed to the backups storage: Django keeps an upload above
    FILE_UPLOAD_MAX_MEMORY_SIZE in a temporary file) or picked from the storage, restored into
    a new sandbox. A refused upload is deleted again: nothing is left behind."""
    lookups.require_admin_center(request.user)
    permissions.can_restore_from_file(request.user).require()
    form = RestoreFileForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        stored=imports.stored_archives(),
        initial={"idempotency_key": uuid.uuid4().hex},
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        uploaded = ""
        try:
            if data["file"]:
                uploaded = imports.upload(data["file"], data["file"].name)
            key = data["idempotency_key"]
            operation = imports.import_start(
                requested_by=request.user,
                file_name=uploaded or data["stored"],
                name=data["name"],
                slug=data["slug"],
                region=data["region"],
                security_group=data["security_group"],
                idempotency_key=f"portal-file-{key}" if key else "",
            )
        except Refused as exc:
            if uploaded:
                archive_storage.delete(uploaded)
            if exc.field == "file" and not data["file"]:
                form.add_error("stored", refusal_message(exc))
            else:
                error = refusal_on_form(form, exc)
        else:
            messages.info(
                request,
                f"{operation.target.name} is created; the restore from "
                f"{operation.source_name or 'the file'} into it started.",
            )
            return redirect_after_post(
                request, reverse("environments:detail", args=[operation.target.slug])
            )
    return _restore_file_page(request, form, error)


def _restore_file_page(request: HtmxHttpRequest, form: RestoreFileForm, error: str) -> HttpResponse:
    return render_partial(
        request,
        "backups/restore_file.html",
        {"form": form, "error": error},
        partial="restore-file-form",
    )


@require_GET
def import_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    op = backup_lookups.import_for_user(request.user, pk)
    if request.htmx and not op.is_active:
        # It just ended: reload the sandbox's page (its state, its data), or open this one when
        # the sandbox went with the failure.
        if op.target.removed_at is not None or op.target.deleted_at is not None:
            return HttpResponseClientRedirect(reverse("backups:import", args=[op.pk]))
        return HttpResponseClientRefresh()
    context = {"operation": op, "environment": op.target}
    return render_partial(request, "backups/import.html", context, partial="import-progress")
