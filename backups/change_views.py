"""The time machine's pages for putting things right: Changes (what changed between two
moments, row by row; Deleted records is the same page filtered to deletes) and the confirmation
of a put-back (Restore selected, Restore all matching, Restore table). The reads are
environments.changelog's; the put-back is backups.put_backs'."""

from __future__ import annotations

import datetime
import uuid
import zoneinfo
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from backups import put_backs
from backups.change_forms import PutBackForm, RangeForm, iso_moment
from backups.put_back_engine import MAX_KEYS, PutBackRequest, Selection
from environments import changelog, lookups, permissions
from environments.changelog import Filters, Span
from environments.models import ChangeBatch, Environment
from portal import localtime
from portal.errors import Refused
from portal.http import HtmxHttpRequest, refusal_message, render_partial

# What the range and the filters travel as, from page to page.
CARRIED = ("start", "end", "table", "kind", "who", "q")


def _range(request: HtmxHttpRequest, env: Environment, now: datetime.datetime):
    """The range form, and when it is valid the span and the filters it asks for (a refusal
    goes on its field). Empty, it is the last 24 hours."""
    zone = localtime.viewer_zone()
    form = RangeForm(request.GET, now=now, zone=zone)
    if not form.is_valid():
        return form, None, None
    data = form.cleaned_data
    start, end = data["span"]
    try:
        span = changelog.span_for(env, start, end, now=now)
        filters = Filters(table=data["table"], kind=data["kind"], who=data["who"], q=data["q"])
    except Refused as exc:
        form.add_error(exc.field if exc.field in ("table", "kind") else None, exc.message)
        return form, None, None
    # The inputs show the range in the viewer's zone (the exact moments ride along hidden).
    shown = RangeForm(
        initial={
            **{k: data[k] for k in ("table", "kind", "who", "q")},
            **_local("from", span.start, data.get("tz") or zone),
            **_local("to", span.end, data.get("tz") or zone),
            "tz": data.get("tz") or zone,
        },
        now=now,
        zone=zone,
    )
    shown.notes = form.notes
    return shown, span, filters


def _local(side: str, moment: datetime.datetime, zone: str) -> dict:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    return {f"{side}_date": local.date(), f"{side}_time": local.time().replace(microsecond=0)}


def _carried(span: Span, filters: Filters, **more) -> dict:
    found = {
        "start": span.start.isoformat(),
        "end": span.end.isoformat(),
        "table": filters.table,
        "kind": filters.kind,
        "who": filters.who,
        "q": filters.q,
        **more,
    }
    return {k: v for k, v in found.items() if v}


def _authors(env: Environment, span: Span) -> list[tuple[str, str]]:
    """Who made changes in the span (the Made by filter's choices): a range of the write
    batches' index, at most 50 names."""
    batches = ChangeBatch.objects.filter(environment=env, at__gt=span.start, at__lte=span.end)
    names = sorted(
        set(batches.exclude(author_name="").values_list("author_name", flat=True).distinct()[:50])
    )
    found = [(name, name) for name in names]
    if batches.filter(via=ChangeBatch.Via.UNKNOWN).exists():
        found.append((changelog.UNKNOWN_AUTHOR, "Unknown"))
    return found


@require_GET
def changes(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    env = lookups.environment_for_admin(request.user, slug)
    now = timezone.now()
    form, span, filters = _range(request, env, now)
    context = {
        "environment": env,
        "form": form,
        "zone": localtime.viewer_zone(),
        "zone_options": mark_safe(localtime.zone_datalist_html(localtime.viewer_zone(), now)),
        "can_put_back": bool(permissions.can_put_back(request.user, env)),
        "deleted_records": request.GET.get("kind") == "deleted",
    }
    if span is not None:
        try:
            after = (
                changelog.Cursor.parse(request.GET["after"]) if request.GET.get("after") else None
            )
            page = changelog.page(env, span, filters, after=after)
        except Refused as exc:
            context["problem"] = exc.message
            page = None
        if page is not None:
            carried = _carried(span, filters)
            context.update(
                {
                    "span": span,
                    "filters": filters,
                    "counts": changelog.counts(
                        env, span, Filters(kind=filters.kind, who=filters.who, q=filters.q)
                    ),
                    "restores": changelog.restores_in(env, span),
                    "page": page,
                    "authors": _authors(env, span),
                    "carried": carried,
                    "next_url": _url(env, {**carried, "after": page.next.token()})
                    if page.next
                    else "",
                    "first_url": _url(env, carried) if request.GET.get("after") else "",
                    "hidden": [(k, v) for k, v in carried.items()],
                }
            )
    return render_partial(request, "backups/changes.html", context, partial="changes-list")


def _url(env: Environment, params: dict) -> str:
    return f"{reverse('backups:changes', args=[env.slug])}?{urlencode(params)}"


# -- putting rows back -------------------------------------------------------------------------


def _selection(query: QueryDict, span: Span | None) -> Selection:
    mode, table = query.get("mode", "selected"), query.get("table", "")
    if mode == "table":
        return Selection(table=table, whole=True, span=span)
    if mode == "matching":
        filters = Filters(
            table=table,
            kind=query.get("kind", ""),
            who=query.get("who", ""),
            q=query.get("q", ""),
        )
        return Selection(table=table, span=span, filters=filters)
    keys = tuple(k[:64] for k in query.getlist("keys")[: MAX_KEYS + 1])
    return Selection(table=table, keys=keys, span=span)


def _span_of(query: QueryDict) -> Span | None:
    start, end = iso_moment(query.get("start", "")), iso_moment(query.get("end", ""))
    return Span(start, end) if start and end and start < end else None


@require_http_methods(["GET", "POST"])
def put_back(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Restore selected / Restore all matching / Restore table: what it will do (counts, the
    rows changed again since), then on POST the put-back, and its page."""
    env = lookups.environment_for_admin(request.user, slug)
    permissions.can_put_back(request.user, env).require()
    query = request.POST if request.method == "POST" else request.GET
    span = _span_of(query)
    selection = _selection(query, span)
    form = PutBackForm(
        request.POST or None,
        environment=env,
        initial={"keep_newer": "keep", "idempotency_key": uuid.uuid4().hex},
    )
    keep_newer = form.cleaned_data["keep_newer"] if form.is_bound and form.is_valid() else True
    request_ = PutBackRequest(
        environment=env,
        requested_by=request.user,
        selection=selection,
        moment=None,
        keep_newer=keep_newer,
        idempotency_key=None,
    )
    error, preview = "", None
    try:
        if request.method == "POST" and form.is_valid():
            op = put_backs.put_back_start(
                PutBackRequest(
                    environment=env,
                    requested_by=request.user,
                    selection=selection,
                    keep_newer=keep_newer,
                    idempotency_key=f"portal-put-back-{form.cleaned_data['idempotency_key']}",
                )
            )
            messages.info(request, f"{op.label} of {env.name} started.")
            return redirect("backups:operation", op.pk)
        preview = put_backs.put_back_preview(request_)
    except Refused as exc:
        error = refusal_message(exc)
    context = {
        "environment": env,
        "form": form,
        "selection": selection,
        "span": span,
        "preview": preview,
        "error": error,
        "hidden": _hidden(query),
        "back_url": _url(env, {k: query.get(k) for k in CARRIED if query.get(k)}),
    }
    return render_partial(request, "backups/put_back.html", context, partial="dialog")


def _hidden(query: QueryDict) -> list[tuple[str, str]]:
    """What the confirmation posts back: the selection as it was asked for."""
    found = [(k, query.get(k)) for k in ("mode", *CARRIED) if query.get(k)]
    found += [("keys", k[:64]) for k in query.getlist("keys")[: MAX_KEYS + 1]]
    return found
