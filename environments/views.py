"""Admin-center pages for environments: the list, one environment, and its switches."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backups import selectors as backup_selectors
from backups import services as backup_services
from backups.models import RestoreOperation
from backups.services import undo_possible
from backups.views import progress_context
from environments import services, store
from environments.forms import ConvertForm, EnvironmentFilterForm, SwitchForm, VersionForm
from environments.models import Environment, EnvironmentType
from portal import lookups, permissions
from portal.errors import NotAllowed, Refused
from portal.http import HtmxHttpRequest


def _require_admin_center(request: HtmxHttpRequest) -> None:
    if not permissions.can_use_admin_center(request.user):
        raise PermissionDenied("The admin center is for environment and tenant administrators.")


def _get_environment_for_admin(request: HtmxHttpRequest, slug: str) -> Environment:
    """The environment, if the user manages it: 404 when they cannot see it at all, 403 when
    they only use its data."""
    return lookups.environment_for_admin(request.user, slug)


@require_GET
def environment_list(request: HtmxHttpRequest) -> HttpResponse:
    _require_admin_center(request)
    form = EnvironmentFilterForm(request.GET or None)
    environments = permissions.manageable_environments(request.user)
    ordering = ["name"]
    sort = ""
    if form.is_bound and form.is_valid():
        if q := form.cleaned_data["q"].strip():
            environments = environments.filter(Q(name__icontains=q) | Q(slug__icontains=q))
        if form.cleaned_data["type"]:
            environments = environments.filter(type=form.cleaned_data["type"])
        ordering = form.ordering()
        sort = form.cleaned_data.get("sort") or ""
    context = {
        "form": form if form.is_bound else EnvironmentFilterForm(),
        "environments": environments.order_by(*ordering),
        "sort": sort or "name",
        "columns": [
            ("name", "Name"),
            ("type", "Type"),
            ("state", "State"),
            ("region", "Region"),
            ("admin_mode", "Administration mode"),
            ("created", "Created"),
        ],
    }
    template = "environments/list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#environment-table"
    return render(request, template, context)


def _detail_context(request: HtmxHttpRequest, env: Environment) -> dict:
    restores = list(
        RestoreOperation.objects.filter(target=env)
        .select_related("source", "target", "pre_restore_backup", "requested_by")
        .order_by("-created_at", "-id")[:6]
    )
    # Only the target's latest succeeded restore can be undone: check that one, not each row.
    latest_done = next(
        (op for op in restores if op.status == RestoreOperation.Status.SUCCEEDED), None
    )
    for op in restores:
        op.can_undo = op is latest_done and undo_possible(op)
    latest = restores[0] if restores else None
    recent = timezone.now() - datetime.timedelta(minutes=15)
    show = latest is not None and (latest.is_active or (latest.finished_at or recent) > recent)
    return {
        **(progress_context(latest) if show else {}),
        "restores": restores,
        "environment": env,
        "storage": store.storage_used(env),
        "retention_days": services.retention_for(env.type).days,
        "tables": store.current(env).tables(),
        "events": _recent_events(env),
        "manual_backups_refusal": backup_selectors.manual_backups_refusal(env),
        "can_convert": permissions.can_change_type(request.user, env),
    }


def _recent_events(env: Environment) -> list:
    """The latest audit events; one that queued a restore shows that restore's state now
    (queued, running, succeeded or failed), not the outcome of the queueing."""
    events = list(env.audit_events.select_related("actor")[:10])
    queued = ("restore.start", "restore.undo")
    operations = RestoreOperation.objects.in_bulk(
        [
            e.details.get("operation")
            for e in events
            if e.action in queued and isinstance(e.details.get("operation"), int)
        ]
    )
    for event in events:
        event.operation = (
            operations.get(event.details.get("operation")) if event.action in queued else None
        )
    return events


@require_GET
def environment_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = _get_environment_for_admin(request, slug)
    return render(request, "environments/detail.html", _detail_context(request, env))


@require_http_methods(["GET", "POST"])
def environment_convert(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = _get_environment_for_admin(request, slug)
    decision = permissions.can_change_type(request.user, env)
    target = (
        EnvironmentType.SANDBOX
        if env.type == EnvironmentType.PRODUCTION
        else (EnvironmentType.PRODUCTION)
    )
    form = ConvertForm(request.POST or None, initial={"type": target})
    error = "" if decision else decision.reason
    if request.method == "POST" and decision and form.is_valid():
        try:
            services.environment_change_type(
                environment=env, new_type=form.cleaned_data["type"], actor=request.user
            )
        except Refused as exc:
            error = exc.message
        else:
            messages.success(
                request, f"{env.name} is now a {env.get_type_display().lower()} environment."
            )
            return redirect("environments:detail", slug=env.slug)
    context = {
        "environment": env,
        "form": form,
        "target": target,
        "target_label": EnvironmentType(target).label,
        "error": error,
        "new_retention_days": services.retention_for(target).days,
        "old_retention_days": services.retention_for(env.type).days,
    }
    return render(request, "environments/convert.html", context, status=200)


@require_http_methods(["GET", "POST"])
def environment_update_version(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = _get_environment_for_admin(request, slug)
    form = VersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            backup_services.environment_update_version(
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
    return render(request, "environments/update_version.html", {"environment": env, "form": form})


def _switch(request: HtmxHttpRequest, slug: str, setter, label: str) -> HttpResponse:
    env = _get_environment_for_admin(request, slug)
    form = SwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Choose whether {label} should be on or off.")
    else:
        try:
            setter(environment=env, enabled=form.value, actor=request.user)
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except Refused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{label.capitalize()} is {form.cleaned_data['enabled']} for {env.name}."
            )
    if request.htmx:
        env.refresh_from_db()
        return render(
            request, "environments/detail.html#details-card", _detail_context(request, env)
        )
    return redirect("environments:detail", slug=env.slug)


@require_POST
def environment_admin_mode(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    return _switch(request, slug, services.environment_set_admin_mode, "administration mode")


@require_POST
def environment_background_operations(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    return _switch(
        request, slug, services.environment_set_background_operations, "background operations"
    )
