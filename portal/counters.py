"""Counts shared by every process of the portal, for limits and once-only records.

`make serve` runs several gunicorn processes, so a count in a per-process cache lets a client
multiply a limit by their number. The count lives in the existing database instead (no new
service), and the database decides each hit: one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`
adds one and answers the new count in a single statement (PostgreSQL, and SQLite 3.35+).
Django's cache API would not do, even on its database backend: `cache.incr` is a read followed
by a write, so two processes that read the same count both write count + 1 and a hit is lost.

A counter lives until its `expires_at`; the next hit after that starts it again at 1. Rows past
it are deleted by each worker's housekeeping (`counters_prune`).
"""

from __future__ import annotations

import datetime
import hashlib

from django.db import connection
from django.utils import timezone

from portal.models import RateCounter

KEY_LENGTH = RateCounter._meta.get_field("key").max_length


def _stored_key(key: str) -> str:
    # A key made from what a client sends (a username) may be longer than the column.
    if len(key) <= KEY_LENGTH:
        return key
    return f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def counter_hit(
    *, key: str, expires_at: datetime.datetime, now: datetime.datetime | None = None
) -> int:
    """Add one to the counter `key` and return its count, this hit included. A counter that
    does not exist yet, or that expired, starts at 1 and lives until `expires_at`."""
    now = now or timezone.now()
    ops = connection.ops
    table = ops.quote_name(RateCounter._meta.db_table)
    key_col, hits, expires = (ops.quote_name(c) for c in ("key", "hits", "expires_at"))
    expires_at_db = ops.adapt_datetimefield_value(expires_at)
    now_db = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_col}, {hits}, {expires}) VALUES (%s, 1, %s) "
            f"ON CONFLICT ({key_col}) DO UPDATE SET "
            f"{hits} = CASE WHEN {table}.{expires} > %s THEN {table}.{hits} + 1 ELSE 1 END, "
            f"{expires} = CASE WHEN {table}.{expires} > %s THEN {table}.{expires} "
            f"ELSE excluded.{expires} END "
            f"RETURNING {hits}",
            [_stored_key(key), expires_at_db, now_db, now_db],
        )
        return cursor.fetchone()[0]


def counter_value(*, key: str, now: datetime.datetime | None = None) -> int:
    """The count of `key` now, without adding to it (0 if it has none or it expired)."""
    now = now or timezone.now()
    row = (
        RateCounter.objects.filter(key=_stored_key(key), expires_at__gt=now)
        .values_list("hits", flat=True)
        .first()
    )
    return row or 0


def counters_prune(*, now: datetime.datetime | None = None) -> int:
    """Delete the counters that expired; returns how many."""
    deleted, _ = RateCounter.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
