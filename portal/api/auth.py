"""Who is calling: a personal API token (`Authorization: Bearer envp_...`) or the browser's
session (with its CSRF token on writes). Either way `request.auth` is the user, and the user's
rights are all the caller gets. Writes are rate limited per token (per user for sessions)."""

from __future__ import annotations

import datetime
import math
import time

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError, Throttled
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import BaseThrottle

from portal.counters import counter_hit, counter_value
from portal.models import User
from portal.tokens import token_authenticate


class TokenGuessing(Throttled):
    """Too many failed token checks from one address this minute."""


def _minute(now: float) -> tuple[int, datetime.datetime]:
    """The calendar minute the limits count in, and when it ends."""
    window = int(now // 60)
    return window, datetime.datetime.fromtimestamp((window + 1) * 60, tz=datetime.UTC)


def _seconds_left(now: float) -> int:
    return math.ceil((int(now // 60) + 1) * 60 - now)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User:
        now = time.time()
        window, ends = _minute(now)
        # REMOTE_ADDR: behind a proxy, have it set the client's address (see the README).
        key = f"api-token-failures:{request.META.get('REMOTE_ADDR', '')}:{window}"
        limit = settings.API_TOKEN_FAILURES_PER_MINUTE
        if limit > 0 and counter_value(key=key) >= limit:
            # Refused before the token is even looked at: guessing gains nothing.
            raise TokenGuessing(wait=_seconds_left(now))
        row = token_authenticate(token)
        if row is None:
            # The failure is counted first and its own count decides: of several bad tokens
            # checked at once (in any process), only those within the limit get a 401.
            if limit > 0 and counter_hit(key=key, expires_at=ends) > limit:
                raise TokenGuessing(wait=_seconds_left(now))
            # A bad token is an answer, not a reason to try the session cookie instead.
            raise AuthenticationError(message="That API token is not valid, or it was revoked.")
        request.api_token = row
        request.user = row.user
        return row.user


class BrowserSessionAuth(SessionAuth):
    """Django's session; CSRF is checked (on writes) only once a session user is found, so a
    caller without credentials gets 401 rather than a CSRF error."""

    def __call__(self, request: HttpRequest) -> User | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)


WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class WriteRateThrottle(BaseThrottle):
    """At most settings.API_WRITES_PER_MINUTE writes per token (or session user) per calendar
    minute, counted in the database for all processes (portal.counters). Reads are not
    limited. One instance serves every request (and thread), so it keeps no state."""

    def _ident(self, request: HttpRequest) -> str | None:
        token = getattr(request, "api_token", None)
        if token is not None:
            return f"token-{token.pk}"
        user = getattr(request, "auth", None)
        return f"user-{user.pk}" if user is not None else None

    def allow_request(self, request: HttpRequest) -> bool:
        limit = settings.API_WRITES_PER_MINUTE
        ident = self._ident(request)
        if request.method not in WRITE_METHODS or ident is None or limit <= 0:
            return True
        window, ends = _minute(time.time())
        return counter_hit(key=f"api-writes:{ident}:{window}", expires_at=ends) <= limit

    def wait(self) -> float | None:
        # Asked right after a refusal: the rest of the minute that refused it.
        return _seconds_left(time.time())
