"""The tenant's storage capacity: what its environments store against settings.TENANT_CAPACITY_GB.

Creating, copying or restoring an environment is refused when less than
settings.CAPACITY_MIN_FREE_GB would remain afterwards, as the product we model does. What an
environment stores is its tables' own bytes, current and history (store.stored_bytes): rows a
restored table reads from its source are stored once, in the source, and counted there.

The decision is the database's, not a check in Python: `reserve` takes the tenant's capacity
lock in the caller's transaction, counts what is stored and what operations under way have
reserved, and records the new reservation before the lock is released at commit. Whatever
takes the lock takes it last (after the environment rows it locks, after inserting what may
wait on a unique key), so that it never waits on a row while holding it: no deadlock.
`require_room` is the same sum without the lock, for a refusal before anything is asked.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from environments import store
from environments.models import CapacityReservation, DataTable
from portal.errors import Refused

GB = 1024**3

# pg_advisory_xact_lock's key for the tenant's capacity (one tenant per portal).
LOCK_KEY = zlib.crc32(b"envportal tenant capacity")


@dataclass(frozen=True)
class Capacity:
    total: int  # bytes
    stored: int
    reserved: int  # by operations under way, not stored yet
    by_environment: dict[int, int]

    @property
    def used(self) -> int:
        return self.stored + self.reserved

    @property
    def free(self) -> int:
        return max(self.total - self.used, 0)

    @property
    def percent_used(self) -> int:
        return min(100, round(100 * self.used / self.total))


def tenant() -> Capacity:
    by_environment = store.stored_bytes()
    reserved = CapacityReservation.objects.aggregate(n=Sum("bytes", default=0))["n"]
    return Capacity(
        total=settings.TENANT_CAPACITY_GB * GB,
        stored=sum(by_environment.values()),
        reserved=reserved,
        by_environment=by_environment,
    )


# What an admin can do about a refusal: which figures to look at, what frees storage (and
# when: a deleted environment is kept for recovery), and who can raise the capacity (a setting
# of the deployment, so whoever runs the portal, not anyone signed in to it).
ROOM_ADVICE = (
    "To make room, delete data or environments you no longer need (the Environments list "
    "shows what each one stores; a deleted environment's storage is freed once it can no "
    f"longer be recovered, after {settings.RECOVERY_DAYS} days), or ask whoever runs the "
    "portal to raise the tenant's storage capacity."
)


def require_room(action: str, adds: int = 0) -> None:
    """Refuse `action` ("create an environment", ...) when, after it stores `adds` bytes more,
    less than CAPACITY_MIN_FREE_GB of the tenant's capacity would be free."""
    capacity = tenant()
    minimum = settings.CAPACITY_MIN_FREE_GB * GB
    if capacity.free - adds < minimum:
        raise Refused(
            f"You cannot {action}: the tenant's storage capacity is "
            f"{filesizeformat(capacity.total)} and {filesizeformat(capacity.free)} of it is "
            f"free, but at least {filesizeformat(minimum)} must remain free. {ROOM_ADVICE}"
        )


def lock() -> None:
    """Hold the tenant's capacity until the caller's transaction ends. On SQLite every
    transaction already holds the database's one write lock from its start (IMMEDIATE)."""
    if not connection.in_atomic_block:
        raise RuntimeError("The capacity lock is held for a transaction: open one first.")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def reserve(
    *, action: str, adds: int = 0, table: DataTable | None = None
) -> CapacityReservation | None:
    """Under the capacity lock, refuse `action` as require_room does, else reserve the `adds`
    bytes it will store (for the flattening of `table`, if given) until the caller releases
    them. Returns the reservation, or None when it stores nothing (the check was enough)."""
    lock()
    require_room(action, adds)
    if adds <= 0:
        return None
    return CapacityReservation.objects.create(
        action=action[:100], bytes=adds, created_at=timezone.now(), table=table
    )


def release(reservation_id: int | None) -> None:
    """The operation that held the reservation has ended: stored, or given up."""
    if reservation_id is not None:
        CapacityReservation.objects.filter(pk=reservation_id).delete()
