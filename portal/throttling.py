"""Failed sign-ins are throttled by three limits, so that a guesser is slowed down without
handing them a way to lock others out:

- an account from one address (SIGNIN_FAILURE_LIMIT, 5 in AXES_COOLOFF_TIME, 15 minutes): the
  ordinary case, someone guessing one account;
- an account from anywhere (SIGNIN_ACCOUNT_FAILURE_LIMIT, 20 in the same time): a guesser who
  moves between addresses;
- an address for any account (SIGNIN_ADDRESS_FAILURE_LIMIT, 50 in SIGNIN_ADDRESS_WINDOW, 5
  minutes): a guesser trying many accounts. It is high and short because a whole office shares
  one address behind its NAT: a colleague's typos must never pause the Global admin's sign-in.

django-axes counts the failures in its own tables (one row per account, address and browser,
its failures added up while they keep coming within the cool-off); this is its database
handler, extended by the two limits it does not have, as its documentation suggests
(AXES_HANDLER), and a lockout page that says which limit was met (AXES_LOCKOUT_CALLABLE).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


@dataclass(frozen=True)
class Limit:
    by: tuple[str, ...]  # what the failures are counted by: "username", "ip_address"
    failures: int
    within: datetime.timedelta


def limits() -> list[Limit]:
    """The three limits, the narrowest first (a lockout is reported as the first one met)."""
    cooloff, address_window = settings.AXES_COOLOFF_TIME, settings.SIGNIN_ADDRESS_WINDOW
    return [
        Limit(("username", "ip_address"), settings.AXES_FAILURE_LIMIT, cooloff),
        Limit(("username",), settings.SIGNIN_ACCOUNT_FAILURE_LIMIT, cooloff),
        Limit(("ip_address",), settings.SIGNIN_ADDRESS_FAILURE_LIMIT, address_window),
    ]


def limit_met(*, username: str | None, ip_address: str | None) -> Limit | None:
    """The first limit these failed sign-ins have met, or None: sign-in may go on."""
    now = timezone.now()
    given = {"username": username, "ip_address": ip_address}
    for limit in limits():
        if any(given[name] is None for name in limit.by):
            continue
        failures = AccessAttempt.objects.filter(
            **{name: given[name] for name in limit.by}, attempt_time__gte=now - limit.within
        ).aggregate(n=Sum("failures_since_start", default=0))["n"]
        if failures >= limit.failures:
            return limit
    return None


class SignInThrottle(AxesDatabaseHandler):
    """Axes' database handler counts by account and address (AXES_LOCKOUT_PARAMETERS); this
    adds the limits by account alone and by address alone."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if not settings.AXES_LOCK_OUT_AT_FAILURE:
            return False
        username = get_client_username(request, credentials)
        return limit_met(username=username, ip_address=request.axes_ip_address) is not None

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        # Axes records the failure and locks by account and address; a failure that meets one
        # of the other limits locks here, on that same attempt (not one attempt later).
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None or request.axes_locked_out:
            return
        if self.is_whitelisted(request, credentials) or not self.is_locked(request, credentials):
            return
        request.axes_locked_out = True
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        )


def _reason(limit: Limit | None, username: str) -> str:
    who = f" for {username}" if username else ""
    if limit is None or limit.by == ("username", "ip_address"):
        return f"Too many failed sign-ins{who} from your address."
    if limit.by == ("username",):
        return f"Too many failed sign-ins{who}, from more than one address."
    return "Too many failed sign-ins from your address, for several accounts."


def lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """The lockout page (AXES_LOCKOUT_CALLABLE): which limit was met and how long to wait."""
    username = get_client_username(request, credentials) or ""
    limit = limit_met(username=username or None, ip_address=request.axes_ip_address)
    context = {
        "reason": _reason(limit, username),
        "cooloff_timedelta": limit.within if limit else settings.AXES_COOLOFF_TIME,
        "by_address": limit is not None and limit.by == ("ip_address",),
    }
    return render(
        request,
        settings.AXES_LOCKOUT_TEMPLATE,
        context,
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


def record_lockout(
    sender, request=None, username: str = "", ip_address: str = "", **kwargs
) -> None:
    """A sign-in lockout goes to the audit log, once per limit met per pause.

    django-axes sends this signal again for every attempt while the pause lasts, from whichever
    process gets it; the first hit of a counter that every process shares (and that the
    database decides) is the one recorded."""
    from portal.audit import audit_record
    from portal.counters import counter_hit

    now = timezone.now()
    limit = limit_met(username=username or None, ip_address=ip_address or None)
    if limit is None:  # a sign-in refused for another reason (a blacklisted address)
        limit = limits()[0]
    given = {"username": username, "ip_address": ip_address}
    key = "lockout-audited:" + ":".join(f"{name}={given[name]}" for name in limit.by)
    if counter_hit(key=key, expires_at=now + limit.within, now=now) > 1:
        return
    account = username[:100] or "an unknown account"
    if limit.by == ("ip_address",):
        summary = (
            f"Sign-in paused from address {ip_address} after {limit.failures} failures "
            f"for several accounts"
        )
    elif limit.by == ("username",):
        summary = (
            f"Sign-in paused for {account} after {limit.failures} failures "
            f"from more than one address"
        )
    else:
        summary = (
            f"Sign-in paused for {account} after {limit.failures} failures (address {ip_address})"
        )
    audit_record(
        action="auth.lockout",
        actor=None,
        outcome="refused",
        summary=summary,
        details={
            "username": username[:150],
            "ip_address": ip_address,
            "limit": "+".join(limit.by),
        },
    )
