"""The tenant's storage capacity: what its environments store against settings.TENANT_CAPACITY_GB.

Creating, copying or restoring an environment is refused when less than
settings.CAPACITY_MIN_FREE_GB would remain afterwards, as the product we model does. What an
environment stores is its tables' own bytes, current and history (store.stored_bytes): rows a
restored table reads from its source are stored once, in the source, and counted there.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from environments import store
from portal.errors import Refused

GB = 1024**3


@dataclass(frozen=True)
class Capacity:
    total: int  # bytes
    used: int
    by_environment: dict[int, int]

    @property
    def free(self) -> int:
        return max(self.total - self.used, 0)

    @property
    def percent_used(self) -> int:
        return min(100, round(100 * self.used / self.total))


def tenant() -> Capacity:
    by_environment = store.stored_bytes()
    return Capacity(
        total=settings.TENANT_CAPACITY_GB * GB,
        used=sum(by_environment.values()),
        by_environment=by_environment,
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
            f"free, but at least {filesizeformat(minimum)} must remain free. Free some "
            "storage (delete data or environments) or raise TENANT_CAPACITY_GB."
        )
