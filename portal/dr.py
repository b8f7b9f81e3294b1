"""Disaster recovery as the portal sees it: is there a standby of its database, and how far
behind is it (issue 24; the setup is deploy/pg-dr, the runbook docs/operations.md).

The environments list shows it to Global admins. Where the figure comes from is a setting,
DR_STANDBY_STATUS, the dotted path of a function that returns a `StandbyStatus`: by default
`from_pg_stat_replication`, which asks the portal's own PostgreSQL, the primary, about the
standbys streaming from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils.module_loading import import_string

NONE, BEHIND, HIDDEN = "none", "behind", "hidden"


@dataclass(frozen=True)
class StandbyStatus:
    state: str  # NONE, BEHIND or HIDDEN (rows the portal's database role may not read)
    name: str = ""
    lag_seconds: float | None = None  # BEHIND with None: streaming, lag not yet measured

    @property
    def summary(self) -> str:
        if self.state == BEHIND:
            if self.lag_seconds is None:
                return "standby connected, lag not measured yet"
            return f"standby {round(self.lag_seconds)} s behind"
        if self.state == HIDDEN:
            return (
                "standby status hidden from the portal's database role "
                "(grant it pg_monitor; see docs/operations.md)"
            )
        return "no standby"


NO_STANDBY = StandbyStatus(NONE)


def standby_status() -> StandbyStatus:
    return import_string(settings.DR_STANDBY_STATUS)()


def no_standby() -> StandbyStatus:
    """For DR_STANDBY_STATUS where the portal's database has no standby by design."""
    return NO_STANDBY


# A standby replays: a receiver of WAL that does not (deploy/pg-dr's pg_receivewal into the
# repository) has no replay position. An idle standby that has replayed everything has no
# lag figure (PostgreSQL clears it): it is 0 s behind.
_QUERY = """
SELECT application_name, state, replay_lsn IS NOT NULL,
       extract(epoch FROM coalesce(
           replay_lag,
           CASE WHEN replay_lsn >= pg_current_wal_lsn() THEN interval '0' END))
FROM pg_stat_replication
"""


def from_pg_stat_replication() -> StandbyStatus:
    """The standby nearest to the primary, as the primary sees it (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return NO_STANDBY
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_QUERY)
            rows = cursor.fetchall()
    except DatabaseError:  # e.g. the portal reads a server in recovery: it has no standby
        return NO_STANDBY
    return status_from_rows(rows)


def status_from_rows(rows: list[tuple]) -> StandbyStatus:
    """rows: (application_name, state, replays, lag seconds) as _QUERY reads them. Without
    pg_read_all_stats (pg_monitor) a role sees other sessions' rows with their state hidden."""
    if not rows:
        return NO_STANDBY
    standbys = [r for r in rows if r[1] == "streaming" and r[2]]
    if not standbys:
        return StandbyStatus(HIDDEN) if any(r[1] is None for r in rows) else NO_STANDBY
    name, _state, _replays, lag = min(standbys, key=lambda r: (r[3] is None, r[3] or 0))
    return StandbyStatus(BEHIND, name=name, lag_seconds=None if lag is None else float(lag))
