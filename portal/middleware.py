import zoneinfo
from urllib.parse import unquote

from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.utils import timezone

from portal.errors import NotAllowed

TZ_COOKIE = "tz"


def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimezoneMiddleware:
    """Show times in the viewer's zone: the one chosen in their profile, else the browser's
    (reported by static/js/portal.js in a cookie), else UTC. Storage stays UTC throughout."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        chosen = getattr(user, "time_zone", "") if user and user.is_authenticated else ""
        zone = _zone(chosen) or _zone(unquote(request.COOKIES.get(TZ_COOKIE, "")))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RefusalMiddleware:
    """One door for the refusals a page leaves to it: NotAllowed from a service or a
    permissions.Decision answers 403 with its reason, as PermissionDenied does. (The API maps
    refusals itself, portal.api.errors; the commands, to exit codes, portal.cli.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotAllowed):
            return response_for_exception(request, PermissionDenied(exception.message))
        return None
