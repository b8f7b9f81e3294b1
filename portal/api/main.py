"""The NinjaAPI instance served at /api/v1/ and its URL patterns."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from ninja import NinjaAPI

from portal.api import errors
from portal.api.auth import BrowserSessionAuth, TokenAuth, WriteRateThrottle
from portal.api.docs import SchemaPage

api = NinjaAPI(
    title="Environment admin center API",
    version="1",
    description=(
        "Environments, their backups and restores: the same powers, rules and permissions as "
        "the admin center. Authenticate with a personal API token from /settings/tokens/ "
        "(`Authorization: Bearer <token>`) or the browser session. Errors are "
        '`{"code", "message", "field"?}`: 400 bad input (including any NUL character, which '
        "no text may hold), 401 not signed in, 403 not allowed, 404 not found, 409 busy (e.g. "
        "being restored), 422 refused by a rule, 429 too many writes. The schema states the "
        "rules about a request's own values (patterns, lengths, allowed values; some are "
        "answered 422 with their own message); 422 also answers rules about the portal's "
        "state (a URL name already taken, a moment outside the restorable window)."
    ),
    urls_namespace="api-v1",
    auth=[TokenAuth(), BrowserSessionAuth()],
    throttle=[WriteRateThrottle()],
    docs=SchemaPage(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    docs_decorator=login_not_required,
)
errors.install(api)

from backups.api import router as backups_router  # noqa: E402
from backups.export_api import router as exports_router  # noqa: E402
from environments.api import router as environments_router  # noqa: E402
from environments.data_api import router as data_router  # noqa: E402

api.add_router("", environments_router)
api.add_router("", backups_router)
api.add_router("", exports_router)
api.add_router("", data_router)


def urls():
    """The API's URL patterns. Each view answers 401 JSON itself, so the login redirect of
    LoginRequiredMiddleware must not apply."""
    patterns, app_name, namespace = api.urls
    patterns = [*patterns, re_path(r"^.*$", _not_found)]
    for pattern in patterns:
        login_not_required(pattern.callback)
    return patterns, app_name, namespace


def _not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Anything else under /api/v1/ gets the API's 404, not the portal's HTML page."""
    return errors.error_response(api, request, 404, "not_found", "There is no such API endpoint.")
