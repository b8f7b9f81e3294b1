from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from portal.models import User


class HtmxHttpRequest(HttpRequest):
    """The request as views see it: signed in (LoginRequiredMiddleware) and with htmx details."""

    htmx: HtmxDetails
    user: User
