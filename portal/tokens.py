"""Personal API tokens: made and revoked by their owner, checked on every API request.

A token reads `envp_<prefix>_<secret>`. The prefix is stored in clear to find the row; only
the SHA-256 of the whole token is stored, so a leaked database does not leak usable tokens.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from portal.audit import audit_record
from portal.errors import NotAllowed, Refused
from portal.models import ApiToken, User

TOKEN_PREFIX = "envp_"
# Writing last_used_at on every request would turn every GET into a write; a minute is exact
# enough to tell a token in use from a forgotten one.
LAST_USED_PRECISION = datetime.timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for `user`. Returns the row and the token itself, which is never kept."""
    name = (name or "").strip()
    if not name:
        raise Refused(
            "Enter a name for the token, such as the script that will use it.", field="name"
        )
    if len(name) > 100:
        raise Refused("The name can be at most 100 characters.", field="name")
    if not (user.is_authenticated and user.is_active):
        raise NotAllowed("Sign in to make a token.")
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        row = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            secret_hash=_digest(token),
            created_at=timezone.now(),
        )
        audit_record(
            action="token.create",
            actor=user,
            summary=f"Made API token {name}",
            details={"token": row.pk, "prefix": prefix},
        )
    return row, token


def token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    if token.user_id != actor.pk:
        raise NotAllowed("You can only revoke your own tokens.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action="token.revoke",
            actor=actor,
            summary=f"Revoked API token {token.name}",
            details={"token": token.pk, "prefix": token.prefix},
        )
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token that `raw` is, with its active user; None for anything else."""
    raw = (raw or "").strip()
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, _secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not prefix or len(prefix) > 16:
        return None
    row = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(raw)):
        return None
    if row.revoked_at is not None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row
