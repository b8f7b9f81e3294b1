"""One error shape for the whole API: {"code", "message", "field"?}, with the right status.

400 bad input (validation), 401 no or bad credentials, 403 not allowed, 404 not found or not
visible, 409 the thing is busy (portal.errors.Conflict), 422 a rule says no (portal.errors.
Refused), 429 too many writes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from portal.errors import Conflict, NotAllowed, Refused


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


# Services name fields as Python does; the API names them as the request did.
API_FIELD_NAMES = {
    "moment": "restorePointDateTime",
    "backup": "backupId",
    "new_name": "targetEnvironmentName",
    "security_group": "targetSecurityGroupId",
    "target": "environment",
    "idempotency_key": "Idempotency-Key",
    "confirm_production": "confirmProduction",
    "as_of": "asOf",
}

_PLACES = {"body", "query", "path", "header", "cookie", "form", "file", "payload"}


def error_responses(*statuses: int) -> dict[int, Any]:
    """The documented error answers of an operation: 400 (bad input, such as a NUL
    character), 401 and 429 (too many failed token checks) are always possible."""
    return {status: ErrorOut for status in sorted({400, 401, 429, *statuses})}


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = API_FIELD_NAMES.get(field, field)
    return api.create_response(request, body, status=status)


def _validation_field(loc: Any) -> str | None:
    # The first name after the place (body, query, ...): a union's member tags come later.
    parts = [p for p in (loc or ()) if isinstance(p, str) and p not in _PLACES]
    return parts[0] if parts else None


def install(api: NinjaAPI) -> None:
    def on_validation(request, exc: ValidationError):
        first = exc.errors[0] if exc.errors else {}
        field = _validation_field(first.get("loc"))
        message = str(first.get("msg") or "The request is not valid.")
        if field:
            message = f"{field}: {message}"
        return error_response(api, request, 400, "invalid", message, field)

    def on_authentication(request, exc: AuthenticationError):
        message = (
            str(exc)
            if str(exc) != "Unauthorized"
            else ("Sign in, or send a personal API token as 'Authorization: Bearer <token>'.")
        )
        response = error_response(api, request, 401, "unauthenticated", message)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    def on_throttled(request, exc: Throttled):
        from portal.api.auth import TokenGuessing

        wait = f" Try again in {int(exc.wait)} seconds." if exc.wait else ""
        if isinstance(exc, TokenGuessing):
            response = error_response(
                api,
                request,
                429,
                "rate_limited",
                "Too many failed API token checks from your address: at most "
                f"{settings.API_TOKEN_FAILURES_PER_MINUTE} a minute.{wait}",
            )
        else:
            response = error_response(
                api,
                request,
                429,
                "rate_limited",
                f"Too many writes: at most {settings.API_WRITES_PER_MINUTE} a minute per "
                f"token.{wait}",
            )
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait))
        return response

    def on_http_error(request, exc: HttpError):
        codes = {400: "invalid", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        return error_response(
            api, request, exc.status_code, codes.get(exc.status_code, "error"), str(exc)
        )

    def on_not_found(request, exc: Http404):
        message = str(exc) if str(exc) else "Not found."
        return error_response(api, request, 404, "not_found", message)

    def on_permission_denied(request, exc: PermissionDenied):
        message = str(exc) or "You are not allowed to do that."
        return error_response(api, request, 403, "forbidden", message)

    def on_refused(request, exc: Refused):
        status = 403 if isinstance(exc, NotAllowed) else 409 if isinstance(exc, Conflict) else 422
        return error_response(api, request, status, exc.code, exc.message, exc.field)

    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(AuthenticationError, on_authentication)
    api.add_exception_handler(Throttled, on_throttled)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_permission_denied)
    api.add_exception_handler(Refused, on_refused)
