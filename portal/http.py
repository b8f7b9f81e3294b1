from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

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
