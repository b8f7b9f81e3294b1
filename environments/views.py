"""Admin-center pages for environments: the list, one environment, and its switches."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from environments import capacity, lookups, permissions, services, store
from environments.forms import (
    ConvertForm,
    DeleteForm,
    EnvironmentCreateForm,
    EnvironmentFilterForm,
    RecoverForm,
    SwitchForm,
)
from environments.models import Environment, EnvironmentType
from portal.errors import Refused
from portal.http import HtmxHttpRequest, refusal_message, refusal_on_form, render_partial
from portal.timefmt import local_moment


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The start page: the admin center for those who use it, else the environments whose
    data the user opens, else the Django admin for support staff."""
    user = request.user
    if permissions.can_use_admin_center(user):
        return redirect("environments:list")
    environments = permissions.data_environments(user).order_by("name")
    if environments.exists():
        return render(request, "environments/home.html", {"environments": environments})
    if permissions.is_support_staff(user):
        return redirect("admin:index")
    raise PermissionDenied("Your account has no role in any environment yet. Ask an administrator.")


def _get_environment_for_admin(request: HtmxHttpRequest, slug: str) -> Environment:
    """The environment, if the user manages it: 404 when they cannot see it at all, 403 when
    they only use its data."""
    return lookups.environment_for_admin(request.user, slug)


@require_GET
def environment_list(request: HtmxHttpRequest) -> HttpResponse:
    lookups.require_admin_center(request.user)
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
    tenant = capacity.tenant()
    environments = list(environments.order_by(*ordering))
    # What a restored environment still shares is stored by its source: said beside its own
    # figure, or the list would show "0 bytes" for an environment of thousands of rows.
    shared = store.shared_rows(env.pk for env in environments)
    for env in environments:
        env.stored_bytes = tenant.by_environment.get(env.pk, 0)
        env.shared_rows = shared.get(env.pk, 0)
    context = {
        "form": form if form.is_bound else EnvironmentFilterForm(),
        "environments": environments,
        "capacity": tenant,
        "can_create": permissions.can_create_environment(request.user),
        "can_recover": permissions.can_recover_environments(request.user),
        "can_restore_from_file": permissions.can_restore_from_file(request.user),
        "sort": sort or "name",
        "columns": [
            ("name", "Name"),
            ("type", "Type"),
            ("state", "State"),
            ("region", "Region"),
            ("admin_mode", "Administration mode"),
            ("created", "Created"),
            ("", "Storage"),  # not sortable: a sum over the tables, not a column
        ],
    }
    return render_partial(request, "environments/list.html", context, "environment-table")


@require_http_methods(["GET", "POST"])
def environment_new(request: HtmxHttpRequest) -> HttpResponse:
    lookups.require_admin_center(request.user)
    permissions.can_create_environment(request.user).require()
    form = EnvironmentCreateForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            env = services.environment_create(actor=request.user, **form.cleaned_data)
        except Refused as exc:
            error = refusal_on_form(form, exc)
        else:
            messages.success(request, f"{env.name} is created. It has no tables yet.")
            return redirect("environments:detail", slug=env.slug)
    context = {"form": form, "error": error, "capacity": capacity.tenant()}
    return render(request, "environments/new.html", context)


@require_http_methods(["GET", "POST"])
def environment_delete(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = _get_environment_for_admin(request, slug)
    decision = permissions.can_delete_environment(request.user, env)
    form = DeleteForm(request.POST or None)
    error = "" if decision else decision.reason
    if request.method == "POST" and decision and form.is_valid():
        try:
            services.environment_delete(environment=env, actor=request.user, **form.cleaned_data)
        except Refused as exc:
            error = refusal_on_form(form, exc)
        else:
            messages.success(
                request,
                f"{env.name} is deleted. A Global or Power Platform admin can recover it from "
                f"Deleted environments until {local_moment(env.recoverable_until)}.",
            )
            return redirect("environments:list")
    context = {
        "environment": env,
        "form": form,
        "error": error,
        "recovery_days": settings.RECOVERY_DAYS,
    }
    return render(request, "environments/delete.html", context)


@require_GET
def deleted_list(request: HtmxHttpRequest) -> HttpResponse:
    lookups.require_admin_center(request.user)
    permissions.can_recover_environments(request.user).require()
    context = {
        "environments": services.recoverable_environments(),
        "recovery_days": settings.RECOVERY_DAYS,
    }
    return render(request, "environments/deleted.html", context)


@require_http_methods(["GET", "POST"])
def environment_recover(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The Deleted environments list posts here at once; this page comes up only when the
    environment needs a new name (another one took its name since it was deleted)."""
    env = lookups.deleted_environment(request.user, pk)
    # The list's Recover button posts nothing but its token: still a bound (valid) form.
    form = RecoverForm(
        request.POST if request.method == "POST" else None, initial={"name": env.name}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.environment_recover(
                environment=env, actor=request.user, name=form.cleaned_data["name"] or None
            )
        except Refused as exc:
            if refusal_on_form(form, exc):  # not the name: back to the list, with why
                messages.error(request, refusal_message(exc))
                return redirect("environments:deleted")
        else:
            env.refresh_from_db()
            messages.success(request, f"{env.name} is recovered, as it was when it was deleted.")
            return redirect("environments:detail", slug=env.slug)
    taken = services.live_named(env.name, excluding=env)
    if form.errors or taken:  # the focus goes where the admin has to act: the name
        form.fields["name"].widget.attrs["autofocus"] = True
    context = {"environment": env, "form": form, "taken": taken}
    return render(request, "environments/recover.html", context)


def _detail_context(request: HtmxHttpRequest, env: Environment) -> dict:
    # The backup and restore parts of the page come from the backups app's template tags.
    return {
        "environment": env,
        "storage": store.storage_used(env),
        "branches": store.branches(env),
        "retention_days": env.retention.days,
        "tables": store.current(env).tables(),
        "events": env.audit_events.select_related("actor")[:10],
        "can_convert": permissions.can_change_type(request.user, env),
        "can_delete": permissions.can_delete_environment(request.user, env),
    }


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
            error = refusal_message(exc)
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
        "new_retention_days": Environment.retention_of(target).days,
        "old_retention_days": env.retention.days,
    }
    return render(request, "environments/convert.html", context, status=200)


def _switch(request: HtmxHttpRequest, slug: str, setter, label: str) -> HttpResponse:
    env = _get_environment_for_admin(request, slug)
    form = SwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Choose whether {label} should be on or off.")
    else:
        try:
            setter(environment=env, enabled=form.value, actor=request.user)
        except Refused as exc:
            messages.error(request, refusal_message(exc))
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
