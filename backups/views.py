"""Restore or manage: the System and Manual tabs, manual backups, the restore panel, the
overwrite confirmation, and the progress of a restore. Every view renders a whole page for a
plain request and only the region htmx asked for otherwise."""

from __future__ import annotations

import datetime
import math
import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseClientRefresh,
    reswap,
    retarget,
)

from backups import localtime, restores, selectors, services, timeline
from backups.forms import (
    BackupForm,
    ConfirmForm,
    MomentForm,
    PointForm,
    RestoreForm,
    UndoForm,
    VersionForm,
    initial_moment_data,
    viewer_zone,
)
from backups.models import ManualBackup, RestoreOperation
from environments import store
from environments.models import Environment
from portal import lookups, permissions
from portal.errors import NotAllowed, Refused
from portal.http import HtmxHttpRequest, render_partial
from portal.timefmt import utc_offset


def _get_backup_for_user(request: HtmxHttpRequest, slug: str, pk: int) -> ManualBackup:
    env = lookups.environment_for_backups(request.user, slug)
    return get_object_or_404(ManualBackup, pk=pk, environment=env, expires_at__gt=timezone.now())


def _get_operation_for_user(request: HtmxHttpRequest, pk: int) -> RestoreOperation:
    op = get_object_or_404(
        RestoreOperation.objects.select_related(
            "source", "target", "backup", "pre_restore_backup", "requested_by"
        ),
        pk=pk,
    )
    if not permissions.can_manage_environment(request.user, op.target):
        raise Http404("No such restore")
    return op


def _tab_context(request, env: Environment, tab: str) -> dict:
    return {
        "environment": env,
        "tab": tab,
        "window": selectors.restorable_window(env),
        "retention_days": selectors.system_retention(env.type).days,
    }


@require_GET
def system_tab(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = lookups.environment_for_backups(request.user, slug)
    now = timezone.now()
    # A zone typed by name or city; none means the viewer's. One that names no zone is said
    # next to the field, and meanwhile the page shows times in the viewer's zone.
    typed = request.GET.get("tz", "").strip()
    found = localtime.find_zone(typed) if typed else None
    zone = found.name if found and found.name else viewer_zone()
    asked = any(k in request.GET for k in ("date", "time", "preset")) or bool(
        found and not found.name
    )
    data = request.GET.copy()
    data["tz"] = (found.name or typed) if found else zone
    window = selectors.restorable_window(env, now=now)
    form = MomentForm(
        data if asked else None, now=now, window=window, initial=initial_moment_data(now, zone)
    )
    candidates = changes = None
    if asked and form.is_valid():
        moment = form.cleaned_data["moment"]
        candidates = selectors.restore_candidates(env, moment, now=now)
        changes = store.changes_in_hour_before(env, [c.moment for c in candidates.items])
        if form.cleaned_data.get("preset"):
            # Show the moment the preset stands for in the inputs.
            form = MomentForm(None, now=now, initial=initial_moment_data(moment, zone))
    context = {
        **_tab_context(request, env, "system"),
        "form": form,
        "zone": zone,
        "now": now,
        "zone_options": mark_safe(localtime.zone_datalist_html(viewer_zone(), now)),
        "timeline": timeline.build(env, window, zone),
        "candidates": candidates,
        "candidate_rows": [(c, changes[c.moment]) for c in candidates.items] if candidates else [],
        # Formatted here: Django's date filter leaves out the zone of an ambiguous time.
        "ambiguous": [
            f"{c:%Y-%m-%d %H:%M} ({c.tzname()}, {utc_offset(c)})"
            for c in (form.local.choices if form.local else ())
        ],
    }
    return render_partial(request, "backups/manage.html", context, partial="tab-body")


@require_GET
def manual_tab(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = lookups.environment_for_backups(request.user, slug)
    now = timezone.now()
    unexpired = selectors.unexpired_backups(env, now=now)
    kind = request.GET.get("kind", "")
    if kind not in ManualBackup.Kind.values:
        kind = ""
    per_kind = dict(unexpired.values("kind").annotate(n=Count("id")).values_list("kind", "n"))
    listed = unexpired.filter(kind=kind) if kind else unexpired
    backups = list(listed.select_related("created_by").order_by("-backup_at", "-id"))
    # A "Before restore" backup belongs to the restore that recorded it: name that restore.
    restores = {
        op.pre_restore_backup_id: op
        for op in RestoreOperation.objects.filter(
            pre_restore_backup__in=[
                b.pk for b in backups if b.kind == ManualBackup.Kind.PRE_RESTORE
            ]
        )
    }
    for backup in backups:
        # "in 28 days" for a 28-day backup made a moment ago: round the time left up.
        backup.days_left = math.ceil((backup.expires_at - now) / datetime.timedelta(days=1))
        backup.restore = restores.get(backup.pk)
    context = {
        **_tab_context(request, env, "manual"),
        "backups": backups,
        "kind": kind,
        "kinds": [("", "All", sum(per_kind.values()))]
        + [(value, label, per_kind.get(value, 0)) for value, label in ManualBackup.Kind.choices],
        "refusal": selectors.manual_backups_refusal(env),
        "manual_days": (selectors.manual_retention(env.type) or datetime.timedelta(0)).days,
    }
    return render_partial(request, "backups/manage.html", context, partial="tab-body")


# -- manual backups ------------------------------------------------------------------------------


def _backup_form_page(request, env, form, backup=None):
    return render(
        request, "backups/backup_form.html", {"environment": env, "form": form, "backup": backup}
    )


@require_http_methods(["GET", "POST"])
def backup_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = lookups.environment_for_backups(request.user, slug)
    if refusal := selectors.manual_backups_refusal(env):
        # Said on the page instead of a form that could only fail.
        return render(
            request,
            "backups/backup_form.html",
            {"environment": env, "form": None, "refusal": refusal},
            status=200 if request.method == "GET" else 422,
        )
    form = BackupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            backup = services.backup_create(
                environment=env,
                actor=request.user,
                label=form.cleaned_data["label"],
                notes=form.cleaned_data["notes"],
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except Refused as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"Backup “{backup.label}” created. It expires on "
                f"{timezone.localtime(backup.expires_at):%b %-d, %Y}.",
            )
            return redirect("backups:manual", slug=env.slug)
    return _backup_form_page(request, env, form)


@require_http_methods(["GET", "POST"])
def backup_edit(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    backup = _get_backup_for_user(request, slug, pk)
    env = backup.environment
    form = BackupForm(request.POST or None, initial={"label": backup.label, "notes": backup.notes})
    if request.method == "POST" and form.is_valid():
        try:
            services.backup_update(
                backup=backup,
                actor=request.user,
                label=form.cleaned_data["label"],
                notes=form.cleaned_data["notes"],
            )
        except Refused as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Backup “{backup.label}” saved.")
            return redirect("backups:manual", slug=env.slug)
    return _backup_form_page(request, env, form, backup)


@require_http_methods(["GET", "POST"])
def backup_delete(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    backup = _get_backup_for_user(request, slug, pk)
    env = backup.environment
    error = ""
    if request.method == "POST":
        try:
            services.backup_delete(backup=backup, actor=request.user)
        except Refused as exc:
            error = exc.message
        else:
            messages.success(request, f"Backup “{backup.label}” deleted.")
            url = reverse("backups:manual", kwargs={"slug": env.slug})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return render_partial(
        request,
        "backups/backup_delete.html",
        {"environment": env, "backup": backup, "error": error},
        partial="dialog",
    )


# -- restore -------------------------------------------------------------------------------------


def _panel(request: HtmxHttpRequest, context: dict) -> HttpResponse:
    """The restore panel with its messages. The Restore button's htmx request aims at the
    dialog slot; a panel that comes back instead (errors) replaces the panel."""
    response = render_partial(request, "backups/restore.html", context, partial="restore-panel")
    if request.htmx and request.method == "POST":
        response = retarget(response, "#restore-panel")
        response = reswap(response, "outerHTML")
    return response


@require_http_methods(["GET", "POST"])
def restore_panel(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The steps, each its own request: review (the target, Edit details), preview (what will
    be overwritten, on a change of target), the typed confirmation, then the start."""
    source = lookups.environment_for_backups(request.user, slug)
    point = PointForm(request.POST if request.method == "POST" else request.GET, environment=source)
    step = request.POST.get("step", "review") if request.method == "POST" else "review"
    data = request.POST if request.method == "POST" else None
    if request.method == "GET" and "target" in request.GET:
        data = request.GET.copy()  # a bookmarked "show what will be overwritten"
        data["idempotency_key"] = uuid.uuid4().hex
    targets = selectors.restore_targets(request.user, source)
    form_class = ConfirmForm if step == "confirm" else RestoreForm
    form = form_class(data, targets=targets, initial={"idempotency_key": uuid.uuid4().hex})
    context = {
        "environment": source,
        "pick": point.data.get("pick", ""),
        "targets": targets,
        "form": form,
        "summary": None,
        "error": "",
        "production_nearby": selectors.production_nearby(request.user, source),
    }
    if not point.is_valid():
        context["error"] = point.errors["pick"][0]
        return render(request, "backups/restore.html", context)
    context.update(moment=point.moment, backup=point.backup)
    target = form.targets.get(form.data.get("target", "")) if form.is_bound else None
    if target is not None:
        context["summary"] = selectors.overwrite_summary(source, point.moment, target)
        context["target"] = target
    if request.method == "GET" or step == "preview" or not form.is_valid():
        if step == "confirm" and form.errors and target:
            return render_partial(request, "backups/restore.html", context, "confirm-dialog")
        return _panel(request, context)

    wanted = {
        "source": source,
        "target": target,
        "requested_by": request.user,
        "moment": None if point.backup else point.moment,
        "backup": point.backup,
        **form.details(target),
    }
    try:
        if step != "confirm":
            restores.restore_validate(**wanted)
            confirming = {**context, "confirming": True}
            return render_partial(request, "backups/restore.html", confirming, "confirm-dialog")
        key = f"portal-{form.cleaned_data['idempotency_key']}"
        repeated = RestoreOperation.objects.filter(
            requested_by=request.user, idempotency_key=key
        ).exists()
        operation = restores.restore_start(**wanted, idempotency_key=key)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except Refused as exc:
        context["error"] = exc.message
        return _panel(request, context)
    if not repeated:  # a second click of the same form lands on the same restore
        messages.info(request, f"Restore of {operation.target.name} started.")
    url = reverse("environments:detail", kwargs={"slug": operation.target.slug})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# -- a restore in progress -----------------------------------------------------------------------


@require_GET
def operation_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    op = _get_operation_for_user(request, pk)
    if request.htmx and not op.is_active:
        # Only a running restore polls: it just ended, so reload the page around it (the
        # environment's state, its data, the undo button) with the outcome on top.
        return HttpResponseClientRefresh()
    context = {**selectors.progress_context(op), "environment": op.target}
    if not request.htmx:
        context.update(
            {
                "can_undo": selectors.undo_possible(op),
                "undone_by": op.undone_by.order_by("-id").first(),
                "retried_by": op.retried_by.order_by("-id").first(),
            }
        )
    return render_partial(request, "backups/operation.html", context, partial="progress")


@require_http_methods(["GET", "POST"])
def operation_undo(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Undo a restore: the same kind of confirmation as the restore itself (what will be
    replaced, the target's name typed), since undo overwrites the environment too."""
    op = _get_operation_for_user(request, pk)
    target = op.target
    form = UndoForm(
        request.POST or None, target=target, initial={"idempotency_key": uuid.uuid4().hex}
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            key = form.cleaned_data["idempotency_key"] or uuid.uuid4().hex
            restores.restore_undo(
                operation=op, actor=request.user, idempotency_key=f"portal-undo-{key}"
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except Refused as exc:
            error = exc.message
        else:
            messages.info(request, f"Undo of the restore of {target.name} started.")
            url = reverse("environments:detail", kwargs={"slug": target.slug})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    refusal = selectors.undo_refusal(op)
    before = op.pre_restore_backup
    context = {
        "operation": op,
        "environment": target,
        "form": form,
        "error": error,
        "refusal": refusal,
        "before": before,
        "changes": selectors.undo_changes(op),
        "summary": None
        if refusal
        else selectors.overwrite_summary(target, before.backup_at, target),
    }
    return render_partial(request, "backups/undo.html", context, partial="dialog")


# -- the version update, which records a backup first ------------------------------------------


@require_http_methods(["GET", "POST"])
def version_update(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = lookups.environment_for_admin(request.user, slug)
    form = VersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.environment_update_version(
                environment=env, new_version=form.cleaned_data["version"], actor=request.user
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except Refused as exc:
            form.add_error("version" if exc.field == "version" else None, exc.message)
        else:
            messages.success(
                request,
                f"{env.name} is on version {env.version}. A backup of "
                "the moment before the update was recorded.",
            )
            return redirect("environments:detail", slug=env.slug)
    return render(request, "backups/update_version.html", {"environment": env, "form": form})
