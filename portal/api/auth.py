"""Who is calling: a personal API token (`Authorization: Bearer envp_...`) or the browser's
session (with its CSRF token on writes). Either way `request.auth` is the user, and the user's
rights are all the caller gets. Writes are rate limited per token (per user for sessions)."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.errors import AuthenticationError, Throttled
from ninja.security import HttpBearer, SessionAuth
from ninja.throttling import BaseThrottle

from portal.models import User
from portal.tokens import token_authenticate


class TokenGuessing(Throttled):
    """Too many failed token checks from one address this minute."""


def _failures_key(request: HttpRequest, now: float) -> str:
    # REMOTE_ADDR: behind a proxy, have it set the client's address (see the README).
    return f"api-token-failures:{request.META.get('REMOTE_ADDR', '')}:{int(now // 60)}"


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User:
        now = time.time()
        key = _failures_key(request, now)
        limit = settings.API_TOKEN_FAILURES_PER_MINUTE
        if limit > 0 and (cache.get(key) or 0) >= limit:
            # Refused before the token is even looked at: guessing gains nothing.
            raise TokenGuessing(wait=math.ceil((int(now // 60) + 1) * 60 - now))
        row = token_authenticate(token)
        if row is None:
            cache.add(key, 0, timeout=120)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=120)
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
    minute, counted in Django's cache. Reads are not limited."""

    def __init__(self) -> None:
        self._wait: float | None = None

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
        now = time.time()
        window = int(now // 60)
        key = f"api-writes:{ident}:{window}"
        cache.add(key, 0, timeout=120)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=120)
            count = 1
        if count > limit:
            self._wait = math.ceil((window + 1) * 60 - now)
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
