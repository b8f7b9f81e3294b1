"""Turning a date and time typed in the admin's own time zone into one exact moment.

A local time can fail to exist (the clocks jumped forward over it) or exist twice (they went
back): both are said, never silently shifted.
"""

from __future__ import annotations

import datetime
import functools
import re
import zoneinfo
from collections.abc import Container
from dataclasses import dataclass

from django.utils import timezone

from portal.timefmt import utc_offset as offset_label


@functools.cache
def zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})


@functools.lru_cache(maxsize=4)
def _zone_offsets_at(hour: datetime.datetime) -> tuple[tuple[str, str], ...]:
    # Offsets change only at daylight-saving switches, which happen on the hour.
    return tuple(
        (name, offset_label(hour.astimezone(zoneinfo.ZoneInfo(name)))) for name in zone_names()
    )


def zone_datalist_html(first: str, now: datetime.datetime) -> str:
    """The <option>s of the time zone field's <datalist> (600 of them), `first` (the viewer's
    zone) at the top, built without the template engine, which would spend most of the
    page's time on them."""
    options = _zone_options_at(now.replace(minute=0, second=0, microsecond=0))
    top = options.get(first, "")
    return top + "".join(html for name, html in options.items() if name != first)


@functools.lru_cache(maxsize=4)
def _zone_options_at(hour: datetime.datetime) -> dict[str, str]:
    from django.utils.html import escape

    # The offset is the option's label: browsers show it beside the name.
    return {
        name: f'<option value="{escape(name)}">{offset}</option>'
        for name, offset in _zone_offsets_at(hour)
    }


@dataclass(frozen=True)
class ZoneMatch:
    name: str | None  # the IANA name, when the text names exactly one zone
    error: str = ""


_OFFSET_SUFFIX = re.compile(r"\s*\(UTC[+-]\d\d:\d\d\)$")


def _folded(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).casefold()


@functools.cache
def _zone_index() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Zones by their folded full name, and by their folded city (the part after the last /)."""
    names: dict[str, str] = {}
    cities: dict[str, list[str]] = {}
    for name in zone_names():
        names[_folded(name)] = name
        cities.setdefault(_folded(name.rsplit("/", 1)[-1]), []).append(name)
    return names, {city: _one_if_aliases(found) for city, found in cities.items()}


_SAMPLES = tuple(
    datetime.datetime(year, month, 1, 12, tzinfo=datetime.UTC)
    for year in range(1970, 2038)
    for month in (1, 4, 7, 10)
)


def _one_if_aliases(found: list[str]) -> tuple[str, ...]:
    """Old names linger beside current ones ("America/Buenos_Aires" beside
    "America/Argentina/Buenos_Aires", "Singapore" beside "Asia/Singapore"): when every zone a
    city names keeps the same clock, they are one zone, and the most specific name stands."""
    if len(found) > 1:
        offsets = {
            tuple(m.astimezone(zoneinfo.ZoneInfo(n)).utcoffset() for m in _SAMPLES) for n in found
        }
        if len(offsets) == 1:
            return (sorted(found, key=lambda n: (-n.count("/"), n))[0],)
    return tuple(found)


def find_zone(text: str) -> ZoneMatch:
    """The zone a person typed: its IANA name in any case ("europe/paris"), or a city that
    names one zone ("Kolkata", "new york"); a label copied with its offset is accepted too."""
    text = _OFFSET_SUFFIX.sub("", text.strip())
    names, cities = _zone_index()
    key = _folded(text)
    if key in names:
        return ZoneMatch(names[key])
    found = cities.get(key, ())
    if len(found) == 1:
        return ZoneMatch(found[0])
    if found:
        return ZoneMatch(
            None,
            error=(f"“{text}” matches several time zones: {', '.join(found)}. Type the full name."),
        )
    return ZoneMatch(
        None,
        error=(
            f"“{text}” is not a time zone we know. Type a name from the list, such as "
            "Europe/Paris, or a city, such as Kolkata."
        ),
    )


@dataclass(frozen=True)
class LocalMoment:
    moment: datetime.datetime | None  # aware, when the local time names exactly one moment
    error: str = ""
    choices: tuple[datetime.datetime, ...] = ()  # the two moments of an ambiguous local time


def resolve(
    day: datetime.date,
    clock: datetime.time,
    zone: str,
    fold: int | None = None,
    *,
    within: Container[datetime.datetime] | None = None,
) -> LocalMoment:
    """The moment a local time names. One that happened twice is asked about only when both
    readings are `within` the moments that can be used (a window): with one, it is taken;
    with none, it is left to the caller to say why that moment cannot be used."""
    found = _resolve(day, clock, zone, fold)
    if found.choices and within is not None:
        readings = [c.astimezone(datetime.UTC) for c in found.choices]
        inside = [r for r in readings if r in within]
        if len(inside) < 2:
            return LocalMoment((inside or readings)[0])
    return found


def _resolve(day: datetime.date, clock: datetime.time, zone: str, fold: int | None) -> LocalMoment:
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
        return LocalMoment(
            None,
            error=(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {zone}: the clocks went forward over "
                "it. Choose a time before or after the change."
            ),
        )
    # Moments leave here in UTC: an aware local time with fold=1 never compares equal to a
    # moment in another zone (PEP 495), which would quietly break lookups downstream.
    if first.utcoffset() != second.utcoffset():
        if fold in (0, 1):
            return LocalMoment((second if fold else first).astimezone(datetime.UTC))
        return LocalMoment(
            None,
            error=(
                f"{naive:%Y-%m-%d %H:%M} happened twice in {zone}: the clocks went back. Choose "
                "which one you mean."
            ),
            choices=(first, second),
        )
    return LocalMoment(first.astimezone(datetime.UTC))


def viewer_zone() -> str:
    """The viewer's time zone (from the browser, see portal.middleware), or UTC."""
    name = timezone.get_current_timezone_name()
    return name if name in zone_names() else "UTC"


def initial_moment_data(now: datetime.datetime, zone: str) -> dict:
    """A date, time and zone form's fields filled with `now` as read in `zone`."""
    local = now.astimezone(zoneinfo.ZoneInfo(zone))
    return {"date": local.date(), "time": local.time().replace(microsecond=0), "tz": zone}
