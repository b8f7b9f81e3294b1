"""A restore in the browser: the restore panel and its overwrite confirmation, the progress
and page of a restore, and its undo. Every view renders a whole page for a plain request and
only the region htmx asked for otherwise."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseClientRefresh,
    reswap,
    retarget,
)

from backups import copies, put_backs, restores, selectors, undos
from backups import lookups as backup_lookups
from backups.change_forms import PutBackForm
from backups.forms import (
    ConfirmForm,
    CopyForm,
    PointForm,
    RestoreForm,
    UndoForm,
)
from backups.models import RestoreOperation
from environments import lookups, permissions
from portal.errors import Refused
from portal.http import (
    HtmxHttpRequest,
    redirect_after_post,
    refusal_message,
    refusal_on_form,
    render_partial,
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
    form = form_class(
        data,
        targets=targets,
        can_create=bool(permissions.can_create_environment(request.user)),
        preview=step == "preview",
        initial={"idempotency_key": uuid.uuid4().hex},
    )
    context = {
        "environment": source,
        "pick": point.data.get("pick", ""),
        "targets": targets,
        "form": form,
        "summary": None,
        "error": "",
        "production_nearby": selectors.production_nearby(request.user, source),
    }
    if not point.is_valid():  # refused on the panel, before anything is previewed
        context["error"] = point.errors["pick"][0]
        return _panel(request, context)
    context.update(moment=point.moment, backup=point.backup)
    target = form.targets.get(form.data.get("target", "")) if form.is_bound else None
    if target is not None:
        context["summary"] = selectors.overwrite_summary(source, point.moment, target)
        context["target"] = target
        context["changes_link"] = _changes_link(target, point.moment)
    if request.method == "GET" or step == "preview" or not form.is_valid():
        if step == "confirm" and form.errors and target:
            # The dialog again, naming the same changes (its hidden fields carry them).
            if not (form.has_error("new_name") or form.has_error("security_group")):
                context["details"] = form.details(target)
            return render_partial(request, "backups/restore.html", context, "confirm-dialog")
        return _panel(request, context)
    if form.new_target:  # nothing is overwritten, so nothing to confirm
        return _restore_to_new(request, context, source, point, form)

    wanted = restores.RestoreRequest(
        source=source,
        target=target,
        requested_by=request.user,
        moment=None if point.backup else point.moment,
        backup=point.backup,
        idempotency_key=f"portal-{form.cleaned_data['idempotency_key']}",
        **form.details(target),
    )
    try:
        if step != "confirm":
            restores.restore_validate(wanted)
            # The dialog names every change the restore makes to the target besides its data.
            details = {"new_name": wanted.new_name, "security_group": wanted.security_group}
            confirming = {**context, "confirming": True, "details": details}
            return render_partial(request, "backups/restore.html", confirming, "confirm-dialog")
        repeated = RestoreOperation.objects.filter(
            requested_by=request.user, idempotency_key=wanted.key
        ).exists()
        operation = restores.restore_start(wanted)
    except Refused as exc:
        # A refusal of what Edit details changes (a name taken, ...) goes beside that field,
        # once; any other is the panel's own message.
        if step != "confirm" and exc.field in ("new_name", "security_group"):
            context["error"] = refusal_on_form(form, exc)
        else:
            context["error"] = refusal_message(exc)
        return _panel(request, context)
    if not repeated:  # a second click of the same form lands on the same restore
        messages.info(request, f"Restore of {operation.target.name} started.")
    return redirect_after_post(request, operation.target_url)


def _restore_to_new(request, context, source, point, form) -> HttpResponse:
    wanted = restores.RestoreRequest(
        source=source,
        requested_by=request.user,
        moment=None if point.backup else point.moment,
        backup=point.backup,
        idempotency_key=f"portal-{form.cleaned_data['idempotency_key']}",
    )
    try:
        operation = copies.restore_to_new(wanted, **form.new_sandbox())
    except Refused as exc:
        context["error"] = refusal_on_form(form, exc, prefix="new_env_")
        return _panel(request, context)
    messages.info(request, f"{operation.target.name} is created; the restore into it started.")
    return redirect_after_post(request, operation.target_url)


# -- copy ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def copy_environment(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Copy environment: the source as it is now, everything or its schema, over a sandbox of
    its region (its name typed to confirm) or into a new one. A change of target (htmx, or
    the button shown without JavaScript) shows the fields that target needs."""
    source = lookups.environment_for_backups(request.user, slug)
    step = request.POST.get("step", "") if request.method == "POST" else ""
    form = CopyForm(
        request.POST if request.method == "POST" else None,
        targets=[t for t in selectors.restore_targets(request.user, source) if t != source],
        can_create=bool(permissions.can_create_environment(request.user)),
        preview=step == "preview",
        initial={"idempotency_key": uuid.uuid4().hex, "what": "everything"},
    )
    context = {"environment": source, "form": form, "error": ""}
    if request.method == "POST" and step == "copy" and form.is_valid():
        try:
            operation = copies.copy_start(
                source=source,
                requested_by=request.user,
                idempotency_key=f"portal-copy-{form.cleaned_data['idempotency_key']}",
                **form.copy_arguments(),
            )
        except Refused as exc:
            prefix = "new_env_" if form.new_target else ""
            context["error"] = refusal_on_form(form, exc, prefix=prefix)
        else:
            messages.info(request, f"Copy of {source.name} to {operation.target.name} started.")
            return redirect_after_post(request, operation.target_url)
    return render_partial(request, "backups/copy.html", context, partial="copy-form")


# -- a restore in progress -----------------------------------------------------------------------


@require_GET
def operation_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    op = backup_lookups.operation_for_user(request.user, pk)
    if request.htmx and not op.is_active:
        # Only a running restore polls: it just ended, so reload the page around it (the
        # environment's state, its data, the undo button) with the outcome on top; or, when
        # the new sandbox it was filling went with its failure, open the operation's page.
        if op.target_removed:
            return HttpResponseClientRedirect(reverse("backups:operation", args=[op.pk]))
        return HttpResponseClientRefresh()
    context = {"operation": op, "environment": op.target}
    if not request.htmx:
        context.update(
            {
                "can_undo": (
                    op.target.is_ready and not put_backs.put_back_undo_refusal(op)
                    if op.is_put_back
                    else selectors.undo_possible(op)
                ),
                "undone_by": op.undone_by.order_by("-id").first(),
                "retried_by": op.retried_by.order_by("-id").first(),
            }
        )
    return render_partial(request, "backups/operation.html", context, partial="progress")


@require_http_methods(["GET", "POST"])
def operation_undo(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Undo a restore: the same kind of confirmation as the restore itself (what will be
    replaced, the target's name typed), since undo overwrites the environment too."""
    op = backup_lookups.operation_for_user(request.user, pk)
    if op.is_put_back:
        return _put_back_undo(request, op)
    target = op.target
    form = UndoForm(
        request.POST or None, target=target, initial={"idempotency_key": uuid.uuid4().hex}
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            key = form.cleaned_data["idempotency_key"] or uuid.uuid4().hex
            undos.restore_undo(
                operation=op, actor=request.user, idempotency_key=f"portal-undo-{key}"
            )
        except Refused as exc:
            error = refusal_message(exc)
        else:
            messages.info(request, f"Undo of the {op.noun} of {target.name} started.")
            return redirect_after_post(request, reverse("environments:detail", args=[target.slug]))
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


def _put_back_undo(request: HtmxHttpRequest, op: RestoreOperation) -> HttpResponse:
    """Undo a put-back: the rows (or the table) it wrote go back as they were just before it;
    rows changed since keep their newer value unless the admin says otherwise."""
    env = op.target
    form = PutBackForm(
        request.POST or None,
        environment=env,
        initial={"keep_newer": "keep", "idempotency_key": uuid.uuid4().hex},
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            undo = put_backs.put_back_undo(
                operation=op,
                actor=request.user,
                keep_newer=form.cleaned_data["keep_newer"],
                idempotency_key=f"portal-undo-{form.cleaned_data['idempotency_key']}",
            )
        except Refused as exc:
            error = refusal_message(exc)
        else:
            messages.info(request, f"Undo of {op.label} started.")
            return redirect_after_post(request, reverse("backups:operation", args=[undo.pk]))
    context = {
        "operation": op,
        "environment": env,
        "form": form,
        "error": error,
        "refusal": put_backs.put_back_undo_refusal(op),
    }
    return render_partial(request, "backups/put_back_undo.html", context, partial="dialog")


def _changes_link(target, moment) -> str:
    """The target's Changes page from the restore point (or the start of its window) to now:
    the row changes a restore would replace."""
    start = max(moment, target.restorable_window().start)
    query = urlencode({"start": start.isoformat(), "end": timezone.now().isoformat()})
    return f"{reverse('backups:changes', args=[target.slug])}?{query}"
