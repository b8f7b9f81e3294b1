"""Shared parts of the manage.py commands that act as a person (environments, backups, restore).

Each command acts as the user named by `--as USERNAME` (or the PORTAL_USER environment
variable) and is subject to exactly that user's rights. Exit codes: 0 done, 1 refused (the
reason on stderr), 2 bad usage.
"""

from __future__ import annotations

import datetime
import os
from argparse import ArgumentParser

from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError
from django.http import Http404

from portal.errors import Refused
from portal.models import User

ACTOR_ENV = "PORTAL_USER"
REFUSED, USAGE = 1, 2


def add_actor_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        default=os.environ.get(ACTOR_ENV) or None,
        help=f"act as this user, with their rights (default: ${ACTOR_ENV})",
    )


def actor(options: dict) -> User:
    username = options.get("as_user")
    if not username:
        raise CommandError(
            f"Say who is acting: --as USERNAME, or set {ACTOR_ENV}.", returncode=USAGE
        )
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"There is no active user {username!r}.", returncode=REFUSED)
    return user


def refusal(exc: Exception) -> CommandError:
    """What a service or lookup said no with, as the command's error (exit code 1)."""
    if isinstance(exc, Refused):
        message = exc.message
    elif isinstance(exc, (Http404, PermissionDenied)):
        message = str(exc) or "Not found."
    else:
        raise exc
    return CommandError(message, returncode=REFUSED)


def parse_moment(text: str, option: str = "--at") -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"{option}: {text!r} is not an ISO 8601 date and time, e.g. 2026-11-20T09:30:00+01:00.",
            returncode=USAGE,
        ) from None
    if moment.tzinfo is None:
        raise CommandError(
            f"{option}: give the offset too, e.g. {text}+00:00 or {text}Z.", returncode=USAGE
        )
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        raise CommandError(f"{option}: {text!r} is out of range.", returncode=USAGE) from None


def when(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)
