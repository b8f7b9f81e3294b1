"""The restorable window drawn as bars of changes per hour, with backups and restores marked.

Server-rendered SVG, read from the hourly activity counts, not from history: one thin bar per
hour (168 for 7 days, 672 for 28), a time axis with a tick at each local midnight and the
dates under it, and over them a row of targets, each a link that fills the date and time with
the end of its span. A span is a day, or a few hours in a short window: wide enough (24 px or
more) to point at, few enough to move through with the arrow keys.

The chart runs on to the end of the span that holds now (today, in a window of days), drawn as
time still to come: today is a target of its own, as wide as any other day, that picks now, so
that the day before it picks its own last second (23:59:59 in the viewer's zone) instead of
taking in today's first hours and picking now.

Positions outside the bars are percentages of the chart's width (SVG attributes, not styles:
the Content-Security-Policy refuses inline styles), so the chart stretches with the page.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from backups.models import ManualBackup, RestoreOperation
from environments.models import Activity, Environment, Window
from environments.store import hour_of

HOUR = datetime.timedelta(hours=1)
SECOND = datetime.timedelta(seconds=1)
HEIGHT = 60  # of the bars, in the viewBox
CHART_HEIGHT = 104  # of the whole chart in px: bars, then the axis
PLOT_TOP, PLOT_HEIGHT = 4, 62  # where the bars are drawn, in px
# Hours a target may span, and how many targets the chart holds at most: the chart is at least
# 840 px wide (portal.css), and 840 / 29 targets of 5/6 of a span each leaves 24 px apiece.
SPANS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168)
MAX_TARGETS = 29
LONG_WINDOW = 8 * 24  # hours; beyond it a day has room for its number only


@dataclass(slots=True)
class Bar:
    x: int
    height: float
    changes: int


@dataclass(frozen=True)
class Marker:
    x: float
    kind: str
    title: str


@dataclass(frozen=True)
class Target:
    """A span of hours that one link selects: the end of its last hour (or now)."""

    start: int  # index of its first hour
    hours: int
    changes: int
    name: str  # "Nov 20, 00:00–24:00: 35 changes", its accessible name and tooltip
    query: str  # date and time in the viewer's zone


@dataclass(frozen=True)
class Tick:
    x: float  # hours from the first hour: a local midnight, or a span's edge
    day: bool


@dataclass(frozen=True)
class DayLabel:
    x: float  # hours from the first hour: the middle of the day's part in the window
    text: str
    month: str  # under the day number in a long window, at its start and where months turn


@dataclass(frozen=True)
class Timeline:
    width: int  # hours, the bars' viewBox
    height: int
    zone: str
    path: str  # every bar in one SVG path: the page stays light with 672 hours
    bars: list[Bar]
    markers: list[Marker]
    total_changes: int
    busiest: int
    now: float = 0.0  # hours from the first hour to now: after it, time still to come
    span: int = 1  # hours a target spans, at most (the first and last may take in a few more)
    targets: tuple[Target, ...] = ()
    ticks: tuple[Tick, ...] = ()
    labels: tuple[DayLabel, ...] = ()

    chart_height = CHART_HEIGHT
    plot_top = PLOT_TOP
    plot_height = PLOT_HEIGHT

    @property
    def unit(self) -> str:
        """What a target is called in the caption."""
        if self.span % 24 == 0:
            return "day" if self.span == 24 else f"{self.span // 24}-day span"
        return "hour" if self.span == 1 else f"{self.span}-hour span"

    @property
    def to_come(self) -> float:
        """The hours drawn after now, to the end of today's span."""
        return self.width - self.now

    def _pct(self, hours: float) -> str:
        return f"{hours * 100 / self.width:.3f}%"

    def axis(self) -> SafeString:
        """Day ticks through the bars and the axis, and the dates under them (SVG)."""
        parts = []
        for t in self.ticks:
            x = self._pct(t.x)
            parts.append(
                f'<line x1="{x}" x2="{x}" y1="{PLOT_TOP if t.day else PLOT_TOP + PLOT_HEIGHT}" '
                f'y2="{PLOT_TOP + PLOT_HEIGHT + (8 if t.day else 4)}" '
                f'class="{"tick-day" if t.day else "tick"}"/>'
            )
        for label in self.labels:
            x = self._pct(label.x)
            parts.append(
                f'<text x="{x}" y="{PLOT_TOP + PLOT_HEIGHT + 19}" '
                f'class="day-label">{escape(label.text)}</text>'
            )
            if label.month:
                parts.append(
                    f'<text x="{x}" y="{PLOT_TOP + PLOT_HEIGHT + 33}" '
                    f'class="month-label">{escape(label.month)}</text>'
                )
        return mark_safe("".join(parts))

    def target_links(self) -> SafeString:
        """One link per target (29 at most), built without the template engine."""
        tz = quote(self.zone, safe="")
        return mark_safe(
            "".join(
                f'<a href="?{escape(t.query)}&amp;tz={tz}" class="timeline-target" '
                f'aria-label="{escape(t.name)}"><rect x="{self._pct(t.start)}" y="0" '
                f'width="{self._pct(t.hours)}" height="100%"/><title>{escape(t.name)}</title></a>'
                for t in self.targets
            )
        )


def span_for(hours: int) -> int:
    """The shortest span that keeps the window within MAX_TARGETS targets."""
    return next((s for s in SPANS if hours <= MAX_TARGETS * s), SPANS[-1])


def _changes(n: int) -> str:
    return f"{n:,} change{'s' * (n != 1)}"


def _span_name(start: datetime.datetime, end: datetime.datetime | None, changes: int) -> str:
    """ "Nov 20, 14:00–15:00: 3 changes"; an end of None is now, the window's end."""
    if end is None:
        until = "now"
    elif end.date() == start.date():
        until = f"{end:%H:%M}"
    elif end.date() == start.date() + datetime.timedelta(
        days=1
    ) and end.time() == start.time() == datetime.time(0):
        until = "24:00"
    else:
        return f"{start:%b %-d, %H:%M} – {end:%b %-d, %H:%M}: {_changes(changes)}"
    return f"{start:%b %-d, %H:%M}–{until}: {_changes(changes)}"


def _span_key(local: datetime.datetime, span: int) -> object:
    """Which span of the viewer's clock a local hour falls in: days from midnight, 6 hours
    from 00, 06, 12, 18 and so on."""
    return local.toordinal() // (span // 24) if span >= 24 else (local.day, local.hour // span)


def _rest_of_span(last: datetime.datetime, tz: zoneinfo.ZoneInfo, span: int) -> int:
    """The hours after `last` (the hour of now) to the end of its span."""
    key = _span_key(last.astimezone(tz), span)
    rest = 0
    while rest < span and _span_key((last + (rest + 1) * HOUR).astimezone(tz), span) == key:
        rest += 1
    return rest


def _targets(
    first: datetime.datetime,
    hours: int,
    counts: list[int],
    window: Window,
    tz: zoneinfo.ZoneInfo,
    span: int,
) -> tuple[Target, ...]:
    # Spans follow the viewer's clock (days from midnight, 6 hours from 00, 06, 12, 18); an
    # hour belongs to the span its local start falls in.
    groups: list[list[int]] = []  # [first hour, hours, changes]
    key = None
    hour = first
    for i in range(hours):
        local = hour.astimezone(tz)
        k = _span_key(local, span)
        if k != key:
            groups.append([i, 0, 0])
            key = k
        groups[-1][1] += 1
        groups[-1][2] += counts[i]
        hour += HOUR
    # The window's ends cut spans short, and so can a change of clocks: a span shorter than
    # 5/6 of the rest joins its neighbour, so that no target gets too narrow to point at.
    least = max(1, span - span // 6)
    merged: list[list[int]] = []
    for group in groups:
        if merged and (group[1] < least or merged[-1][1] < least):
            merged[-1][1] += group[1]
            merged[-1][2] += group[2]
        else:
            merged.append(group)
    targets = []
    for start, length, changes in merged:
        begin = first + start * HOUR
        end = begin + length * HOUR
        # The end of the span's last hour, or now: the data as it was after those changes. A
        # span of days picks its last day's last second on the viewer's clock (23:59:59), even
        # where the hours are offset from the zone's (Kolkata's run from :30 to :30).
        last = end - SECOND
        if span % 24 == 0:
            day = (end - HOUR).astimezone(tz).date() + datetime.timedelta(days=1)
            last = datetime.datetime.combine(day, datetime.time(0), tzinfo=tz) - SECOND
            last = last.astimezone(datetime.UTC)
        if end > window.end:  # the span that holds now picks now (its day may have ended:
            last = window.end  # in Kolkata, the hour from 23:30 runs past midnight)
        pick = max(min(last, window.end), window.start).astimezone(tz)
        targets.append(
            Target(
                start=start,
                hours=length,
                changes=changes,
                name=_span_name(
                    begin.astimezone(tz), None if end > window.end else end.astimezone(tz), changes
                ),
                query=urlencode({"date": pick.date().isoformat(), "time": f"{pick:%H:%M:%S}"}),
            )
        )
    return tuple(targets)


def _axis(
    first: datetime.datetime, hours: int, tz: zoneinfo.ZoneInfo, targets: tuple[Target, ...]
) -> tuple[tuple[Tick, ...], tuple[DayLabel, ...]]:
    last = first + hours * HOUR
    day = first.astimezone(tz).date()
    long = hours > LONG_WINDOW
    ticks: list[Tick] = []
    days: list[tuple[float, float, datetime.date]] = []  # the part of each day in the window
    while True:
        start = days[-1][1] if days else 0.0
        midnight = datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time(0), tzinfo=tz
        ).astimezone(datetime.UTC)
        if midnight >= last:
            days.append((start, hours, day))
            break
        x = (midnight - first) / HOUR
        days.append((start, x, day))
        ticks.append(Tick(x, day=True))
        day += datetime.timedelta(days=1)
    midnights = {t.x for t in ticks}
    ticks += [Tick(t.start, day=False) for t in targets[1:] if t.start not in midnights]
    # A day is named when at least half of it is in the window (the one with most, if none).
    shown = [d for d in days if d[1] - d[0] >= 12] or [max(days, key=lambda d: d[1] - d[0])]
    labels = []
    month = None
    for start, end, date in shown:
        if long:
            text = f"{date.day}"
            label_month = f"{date:%b}" if date.month != month else ""
        else:
            text, label_month = f"{date:%a, %b %-d}", ""
        month = date.month
        labels.append(DayLabel((start + end) / 2, text, label_month))
    return tuple(ticks), tuple(labels)


def build(environment: Environment, window: Window, zone: str) -> Timeline:
    tz = zoneinfo.ZoneInfo(zone)
    first = hour_of(window.start)
    last = hour_of(window.end)
    span = span_for(int((last - first) / HOUR) + 1)
    hours = int((last - first) / HOUR) + 1 + _rest_of_span(last, tz, span)
    counts = [0] * hours  # by hour from the first
    for hour, changes in Activity.objects.filter(
        environment=environment, hour__gte=first, hour__lte=window.end
    ).values_list("hour", "changes"):
        counts[(hour - first) // HOUR] = changes
    busiest = max(counts, default=0)
    scale = (HEIGHT - 2) / busiest if busiest else 0
    bars = [
        Bar(x=i, height=round(changes * scale, 2), changes=changes)
        for i, changes in enumerate(counts)
    ]

    def x_of(moment: datetime.datetime) -> float:
        return (moment - first) / HOUR

    markers = [
        Marker(
            x_of(b.backup_at),
            b.kind,
            f"{b.get_kind_display()}: {b.label} ({b.backup_at.astimezone(tz):%b %-d, %H:%M})",
        )
        for b in ManualBackup.objects.filter(
            environment=environment, backup_at__gte=window.start
        ).exclude(kind__in=ManualBackup.BEFORE_OVERWRITE)
    ]
    markers += [
        Marker(
            x_of(op.finished_at),
            "restore",
            f"Restored from {op.source.name} ({op.finished_at.astimezone(tz):%b %-d, %H:%M})",
        )
        for op in RestoreOperation.objects.filter(
            target=environment,
            status=RestoreOperation.Status.SUCCEEDED,
            finished_at__gte=window.start,
        ).select_related("source")
    ]
    path = "".join(
        f"M{b.x} {HEIGHT - b.height:g}h0.86v{b.height:g}h-0.86z" for b in bars if b.height
    )
    targets = _targets(first, hours, counts, window, tz, span)
    ticks, labels = _axis(first, hours, tz, targets)
    return Timeline(
        width=hours,
        height=HEIGHT,
        zone=zone,
        path=path,
        bars=bars,
        markers=markers,
        total_changes=sum(counts),
        busiest=busiest,
        now=x_of(window.end),
        span=span,
        targets=targets,
        ticks=ticks,
        labels=labels,
    )
