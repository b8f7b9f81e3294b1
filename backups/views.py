"""Restore or manage: the System and Manual tabs, manual backups and the version update (the
restore itself: backups.restore_views). Every view renders a whole page for a plain request
and only the region htmx asked for otherwise."""

from __future__ import annotations

import datetime
import math

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from backups import lookups as backup_lookups
from backups import selectors, services, timeline
from backups.forms import BackupForm, MomentForm, VersionForm
from backups.models import ManualBackup, RestoreOperation
from environments import lookups, store
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
from portal.timefmt import local_text, utc_offset


def _tab_context(request, env: Environment, tab: str) -> dict:
    return {
        "environment": env,
        "tab": tab,
        "window": env.restorable_window(),
        "retention_days": env.retention.days,
    }


@require_GET
def system_tab(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = lookups.environment_for_backups(request.user, slug)
    if not env.backed_up:
        context = {**_tab_context(request, env, "system"), "not_backed_up": True}
        return render_partial(request, "backups/manage.html", context, partial="tab-body")
    now = timezone.now()
    # A zone typed by name or city; none means the viewer's. One that names no zone is said
    # next to the field, and meanwhile the page shows times in the viewer's zone.
    typed = request.GET.get("tz", "").strip()
    found = localtime.find_zone(typed) if typed else None
    zone = found.name if found and found.name else localtime.viewer_zone()
    asked = any(k in request.GET for k in ("date", "time", "preset")) or bool(
        found and not found.name
    )
    data = request.GET.copy()
    data["tz"] = (found.name or typed) if found else zone
    window = env.restorable_window(now=now)
    initial = localtime.initial_moment_data(now, zone)
    form = MomentForm(data if asked else None, now=now, window=window, initial=initial)
    candidates = changes = None
    if asked and form.is_valid():
        moment = form.cleaned_data["moment"]
        candidates = selectors.restore_candidates(env, moment, now=now)
        changes = store.changes_in_hour_before(env, [c.moment for c in candidates.items])
        if form.cleaned_data.get("preset"):
            # Show the moment the preset stands for in the inputs.
            form = MomentForm(None, now=now, initial=localtime.initial_moment_data(moment, zone))
    context = {
        **_tab_context(request, env, "system"),
        "form": form,
        "zone": zone,
        "now": now,
        "zone_options": mark_safe(localtime.zone_datalist_html(localtime.viewer_zone(), now)),
        "timeline": timeline.build(env, window, zone),
        "candidates": candidates,
        "candidate_rows": [(c, changes[c.moment]) for c in candidates.items] if candidates else [],
        # Formatted here: Django's date filter leaves out the zone of an ambiguous time.
        "ambiguous": [
            f"{local_text(c)} ({c.tzname()}, {utc_offset(c)})"
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
                b.pk for b in backups if b.kind in ManualBackup.BEFORE_OVERWRITE
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
        "manual_days": (env.manual_retention or datetime.timedelta(0)).days,
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
        except Refused as exc:
            if message := refusal_on_form(form, exc):
                form.add_error(None, message)
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
    backup = backup_lookups.backup_for_user(request.user, slug, pk)
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
            if message := refusal_on_form(form, exc):
                form.add_error(None, message)
        else:
            messages.success(request, f"Backup “{backup.label}” saved.")
            return redirect("backups:manual", slug=env.slug)
    return _backup_form_page(request, env, form, backup)


@require_http_methods(["GET", "POST"])
def backup_delete(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    backup = backup_lookups.backup_for_user(request.user, slug, pk)
    env = backup.environment
    error = ""
    if request.method == "POST":
        try:
            services.backup_delete(backup=backup, actor=request.user)
        except Refused as exc:
            error = refusal_message(exc)
        else:
            messages.success(request, f"Backup “{backup.label}” deleted.")
            return redirect_after_post(request, reverse("backups:manual", args=[env.slug]))
    return render_partial(
        request,
        "backups/backup_delete.html",
        {"environment": env, "backup": backup, "error": error},
        partial="dialog",
    )


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
        except Refused as exc:
            if message := refusal_on_form(form, exc):
                form.add_error(None, message)
        else:
            messages.success(
                request,
                f"{env.name} is on version {env.version}. A backup of "
                "the moment before the update was recorded.",
            )
            return redirect("environments:detail", slug=env.slug)
    return render(request, "backups/update_version.html", {"environment": env, "form": form})
