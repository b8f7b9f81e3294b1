"""CSV downloads from the browser: a table as it was at a moment (or now), and the Changes
list with its filters; the same files as the API's and `manage.py data`'s
(environments.csv_export). Moments in the query are ISO 8601 with their offset (UTC is what the
pages link with), e.g. `?at=2026-11-20T09:30:00Z`.

Bad input gets a page that says what is wrong (400), a refusal (a moment outside the restorable
window, a range the wrong way round) one that says why (422); who may read is decided by
environments.lookups, as for the API (404 unseen, 403 not allowed)."""

from __future__ import annotations

import datetime
import re

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from environments import changelog, csv_export, data_reads
from environments.lookups import environment_for_data
from portal.errors import Refused
from portal.http import HtmxHttpRequest, refusal_message

MOMENT_HELP = "Give a date and time in ISO 8601 with its offset, e.g. 2026-11-20T09:30:00Z."


class MomentField(forms.CharField):
    """A moment as ISO 8601 text with its offset, in UTC; empty is None."""

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        # A "+" left unencoded in a query string arrives as a space.
        text = re.sub(r" ([0-9]{2}:?[0-9]{2})$", r"+\1", text)
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"{text!r} is not a moment. {MOMENT_HELP}") from None
        if moment.tzinfo is None:
            raise ValidationError(f"{text!r} has no offset. {MOMENT_HELP}")
        try:
            return moment.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError(f"{text!r} is out of range.") from None


class TableExportForm(forms.Form):
    at = MomentField(required=False, label="As of")


class ChangesExportForm(forms.Form):
    to = MomentField(required=False, label="To")
    table = forms.CharField(required=False, max_length=63)
    kind = forms.ChoiceField(
        required=False, choices=[("", "Any")] + [(k, k) for k in changelog.KINDS]
    )
    who = forms.CharField(required=False, max_length=150)
    q = forms.CharField(required=False, max_length=100)

    # The Changes page carries its exact range as start and end: its query string works too.
    start = MomentField(required=False, label="From")
    end = MomentField(required=False, label="To")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = MomentField(required=False, label="From")  # a Python keyword


def _cannot(request: HtmxHttpRequest, env, message: str, back: str, status: int) -> HttpResponse:
    return render(
        request,
        "environments/export_refused.html",
        {"environment": env, "error": message, "back_url": back},
        status=status,
    )


def _form_problem(form: forms.Form) -> str:
    return " ".join(
        f"{form.fields[name].label or name}: {message}"
        for name, messages in form.errors.items()
        for message in messages
    )


@require_GET
def table_export(request: HtmxHttpRequest, slug: str, table: str) -> HttpResponse:
    """`?at=` (empty: now): every row of the table then, as CSV."""
    env = environment_for_data(request.user, slug)
    back = reverse("environments:tables", args=[env.slug])
    form = TableExportForm(request.GET)
    if not form.is_valid():
        return _cannot(request, env, _form_problem(form), back, 400)
    try:
        export = csv_export.table_export(env, table, form.cleaned_data["at"])
    except Refused as refusal:
        return _cannot(request, env, refusal_message(refusal), back, 422)
    return export.response()


@require_GET
def changes_export(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """`?from=&to=&table=&kind=&who=&q=` (or `start` and `end`, as the Changes page carries
    its range; by default the last 24 hours): every matching change, as CSV."""
    env = environment_for_data(request.user, slug)
    back = reverse("environments:tables", args=[env.slug])
    form = ChangesExportForm(request.GET)
    if not form.is_valid():
        return _cannot(request, env, _form_problem(form), back, 400)
    data = form.cleaned_data
    try:
        span = data_reads.changes_span(
            env, data["from"] or data["start"], data["to"] or data["end"]
        )
        filters = changelog.Filters(
            table=data["table"], kind=data["kind"], who=data["who"], q=data["q"]
        )
        export = csv_export.changes_export(env, span, filters)
    except Refused as refusal:
        return _cannot(request, env, refusal_message(refusal), back, 422)
    return export.response()
