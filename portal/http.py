"""What every page does the same way: the request type, partial or whole page, redirect after
a POST, and where a service's refusal is shown."""

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from portal.errors import NotAllowed, Refused
from portal.models import User


class HtmxHttpRequest(HttpRequest):
    """The request as views see it: signed in (LoginRequiredMiddleware) and with htmx details."""

    htmx: HtmxDetails
    user: User


def render_partial(
    request: HtmxHttpRequest, template: str, context: dict, partial: str, *, status: int = 200
) -> HttpResponse:
    """The whole page for a plain request (no JavaScript, reload, bookmark); only the region
    `partial` (a {% partialdef %} of the page's template) when htmx asked for it."""
    if request.htmx and not request.htmx.boosted:
        template = f"{template}#{partial}"
    return render(request, template, context, status=status)


def redirect_after_post(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """POST, then redirect, then GET: htmx loads the whole page at `url` (HX-Redirect) instead
    of swapping a region; a plain form post gets a 302."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def refusal_message(refusal: Refused) -> str:
    """The message a page shows for a service's refusal. Being refused the right to act is not
    something a page shows beside a form: NotAllowed goes on up, and RefusalMiddleware answers
    it with 403 like PermissionDenied."""
    if isinstance(refusal, NotAllowed):
        raise refusal
    return refusal.message


def refusal_on_form(form: forms.Form, refusal: Refused, *, prefix: str = "") -> str:
    """Put a refusal on the form field it names (its name after `prefix`, when the form names
    the service's fields so); returns the message for the page when no field of the form is
    meant ("" when the field has it)."""
    message = refusal_message(refusal)
    field = f"{prefix}{refusal.field}" if refusal.field else None
    if field in form.fields:
        form.add_error(field, message)
        return ""
    return message
