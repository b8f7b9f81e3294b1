"""The restorable window drawn as bars of changes per hour, with backups and restores marked.

Server-rendered SVG: one bar per hour of the window (168 for 7 days, 672 for 28), each a link
that fills the date and time; read from the hourly activity counts, not from history.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from backups.models import ManualBackup, RestoreOperation
from backups.selectors import Window
from environments.models import Activity, Environment
from environments.store import hour_of

HOUR = datetime.timedelta(hours=1)
HEIGHT = 60


@dataclass(frozen=True)
class Bar:
    x: int
    height: float
    y: float
    hour: datetime.datetime
    changes: int
    title: str
    query: str


@dataclass(frozen=True)
class Marker:
    x: float
    kind: str
    title: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    zone: str
    path: str  # every bar in one SVG path: the page stays light with 672 hours
    bars: list[Bar]
    markers: list[Marker]
    total_changes: int
    busiest: int

    def bar_links(self) -> SafeString:
        """One link per hour (672 for 28 days), built without the template engine."""
        tz = quote(self.zone)
        return mark_safe("".join(
            f'<a href="?{escape(b.query)}&amp;tz={tz}" tabindex="-1" class="bar-link">'
            f'<rect x="{b.x}" y="0" width="1" height="{self.height}" class="bar-hit"/>'
            f"<title>{escape(b.title)}</title></a>"
            for b in self.bars))


def build(environment: Environment, window: Window, zone: str) -> Timeline:
    tz = zoneinfo.ZoneInfo(zone)
    first = hour_of(window.start)
    hours = int((hour_of(window.end) - first) / HOUR) + 1
    counts = dict(Activity.objects.filter(environment=environment, hour__gte=first,
                                          hour__lte=window.end).values_list("hour", "changes"))
    busiest = max(counts.values(), default=0)
    bars = []
    for i in range(hours):
        hour = first + i * HOUR
        changes = counts.get(hour, 0)
        # The bar picks the end of its hour (or now): the data as it was after those changes.
        pick = min(hour + HOUR - datetime.timedelta(seconds=1), window.end)
        pick = max(pick, window.start)
        local = pick.astimezone(tz)
        height = round((HEIGHT - 2) * changes / busiest, 2) if busiest else 0
        bars.append(Bar(
            x=i, height=height, y=HEIGHT - height, hour=hour,
            changes=changes,
            title=f"{hour.astimezone(tz):%b %-d, %H:00}: {changes} change{'s' * (changes != 1)}",
            query=urlencode({"date": local.date().isoformat(),
                             "time": local.strftime("%H:%M:%S")}),
        ))

    def x_of(moment: datetime.datetime) -> float:
        return (moment - first) / HOUR

    markers = [
        Marker(x_of(b.backup_at), b.kind,
               f"{b.get_kind_display()}: {b.label} ({b.backup_at.astimezone(tz):%b %-d, %H:%M})")
        for b in ManualBackup.objects.filter(environment=environment,
                                             backup_at__gte=window.start)
        .exclude(kind=ManualBackup.Kind.PRE_RESTORE)
    ]
    markers += [
        Marker(x_of(op.finished_at), "restore",
               f"Restored from {op.source.name} ({op.finished_at.astimezone(tz):%b %-d, %H:%M})")
        for op in RestoreOperation.objects.filter(
            target=environment, status=RestoreOperation.Status.SUCCEEDED,
            finished_at__gte=window.start).select_related("source")
    ]
    path = "".join(f"M{b.x} {b.y:g}h0.86v{b.height:g}h-0.86z" for b in bars if b.height)
    return Timeline(width=hours, height=HEIGHT, zone=zone, path=path, bars=bars,
                    markers=markers,
                    total_changes=sum(counts.values()), busiest=busiest)


def changes_before(environment: Environment, moments: list[datetime.datetime]
                   ) -> dict[datetime.datetime, int]:
    """Changes in the hour before each moment, to the hour (one query)."""
    if not moments:
        return {}
    counts = dict(Activity.objects.filter(
        environment=environment, hour__gte=hour_of(min(moments) - HOUR),
        hour__lte=max(moments)).values_list("hour", "changes"))
    result = {}
    for moment in moments:
        start = hour_of(moment - HOUR)
        result[moment] = sum(n for hour, n in counts.items() if start <= hour < moment
                             and hour + HOUR > moment - HOUR)
    return result
