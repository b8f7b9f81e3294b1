"""Turning a date and time typed in the admin's own time zone into one exact moment.

A local time can fail to exist (the clocks jumped forward over it) or exist twice (they went
back): both are said, never silently shifted.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo
from dataclasses import dataclass

from portal.timefmt import utc_offset as offset_label


@functools.cache
def zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})


def zone_choices(now: datetime.datetime) -> list[tuple[str, str]]:
    return list(_zone_choices_at(now.replace(minute=0, second=0, microsecond=0)))


@functools.lru_cache(maxsize=4)
def _zone_choices_at(hour: datetime.datetime) -> tuple[tuple[str, str], ...]:
    # Offsets change only at daylight-saving switches, which happen on the hour.
    return tuple((name, f"{name} ({offset_label(hour.astimezone(zoneinfo.ZoneInfo(name)))})")
                 for name in zone_names())


def zone_options_html(selected: str, now: datetime.datetime) -> str:
    """The <option>s of the time zone picker (600 of them), built without the template engine,
    which would spend most of the page's time on them."""
    from django.utils.html import escape

    return "".join(
        f'<option value="{escape(name)}"{" selected" if name == selected else ""}>'
        f"{escape(label)}</option>"
        for name, label in zone_choices(now))


@dataclass(frozen=True)
class LocalMoment:
    moment: datetime.datetime | None  # aware, when the local time names exactly one moment
    error: str = ""
    choices: tuple[datetime.datetime, ...] = ()  # the two moments of an ambiguous local time


def resolve(day: datetime.date, clock: datetime.time, zone: str, fold: int | None = None
            ) -> LocalMoment:
    tz = zoneinfo.ZoneInfo(zone)
    naive = datetime.datetime.combine(day, clock)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    try:
        first.astimezone(datetime.UTC)
    except OverflowError:  # the first or last hours of year 1 or 9999 in a far zone
        return LocalMoment(None, error=f"{naive:%Y-%m-%d %H:%M} is out of range.")
    # A local time that does not survive the round trip through UTC never happened there.
    if first.astimezone(datetime.UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return LocalMoment(None, error=(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks went forward over "
            "it. Choose a time before or after the change."))
    # Moments leave here in UTC: an aware local time with fold=1 never compares equal to a
    # moment in another zone (PEP 495), which would quietly break lookups downstream.
    if first.utcoffset() != second.utcoffset():
        if fold in (0, 1):
            return LocalMoment((second if fold else first).astimezone(datetime.UTC))
        return LocalMoment(None, error=(
            f"{naive:%Y-%m-%d %H:%M} happened twice in {zone}: the clocks went back. Choose "
            "which one you mean."), choices=(first, second))
    return LocalMoment(first.astimezone(datetime.UTC))
