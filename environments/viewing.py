"""What the data browser shows: the data now, or as it was at a moment of the environment's
restorable window, read only. The moment travels in the address (`?at=<ISO moment in UTC>`),
so a page at a moment can be bookmarked, reloaded and shared, and every link of the browser
keeps it; the As of control sends a date, a time and a time zone, which become that address."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from environments import store
from environments.forms import AsOfForm, unviewable
from environments.models import Environment
from portal import localtime
from portal.timefmt import local_text, utc_offset

AT = "at"
# What the As of control sends; with any of them the request is the control's, not a page's.
TYPED = ("date", "time", "fold")


def at_text(moment: datetime.datetime) -> str:
    """A moment as the address carries it: ISO 8601 in UTC, to the microsecond it has."""
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Viewing:
    moment: datetime.datetime | None  # None: now
    form: AsOfForm
    problem: str = ""  # why the moment asked for cannot be shown (HTML: times are <time>s)
    status: int = 200
    go_to: str = ""  # the address of the moment the As of control named

    @property
    def params(self) -> dict[str, str]:
        """The query parameters every link of the browser keeps."""
        return {AT: at_text(self.moment)} if self.moment else {}

    @property
    def query(self) -> str:
        return f"?{urlencode(self.params)}" if self.moment else ""

    @property
    def shows_data(self) -> bool:
        return not (self.problem or self.form.errors or self.go_to)

    def snapshot(self, environment: Environment) -> store.Snapshot:
        if self.moment is None:
            return store.current(environment)
        return store.as_of(environment, self.moment)

    def ambiguous(self) -> list[str]:
        """The two readings of a local time the clocks passed twice, to choose from."""
        local = self.form.local
        # Formatted here: Django's date filter leaves out the zone of an ambiguous time.
        return [
            f"{local_text(c)} ({c.tzname()}, {utc_offset(c)})"
            for c in (local.choices if local else ())
        ]


def viewing(
    request: HttpRequest, environment: Environment, *, keep: tuple[str, ...] = ()
) -> Viewing:
    """The moment the request asks for: `at`, or the As of control's date, time and zone (then
    `go_to` is the address of that moment, with the parameters named in `keep`), or none."""
    now = timezone.now()
    window = environment.restorable_window(now=now)
    zone = localtime.viewer_zone()

    def control(data=None, moment=None) -> AsOfForm:
        initial = localtime.initial_moment_data(moment or now, zone)
        return AsOfForm(data, environment=environment, window=window, initial=initial)

    if any(name in request.GET for name in TYPED):
        form = control(request.GET)
        if not form.is_valid():
            return Viewing(None, form)
        params = {AT: at_text(form.cleaned_data["moment"])}
        params.update((name, request.GET[name]) for name in keep if request.GET.get(name))
        return Viewing(form.cleaned_data["moment"], form, go_to=f"?{urlencode(params)}")
    raw = request.GET.get(AT, "").strip()
    if not raw:
        return Viewing(None, control())
    moment = parse_moment(raw)
    if moment is None:
        problem = format_html(
            "“{}” in the address is not a moment with its time zone, so there is nothing to "
            "show at it. Choose a date and a time, or see the data as it is now.",
            raw[:100],
        )
        return Viewing(None, control(), problem=problem, status=400)
    problem = unviewable(environment, window, moment)
    if problem:
        return Viewing(None, control(), problem=problem, status=400)
    return Viewing(moment, control(moment=moment))


def parse_moment(raw: str) -> datetime.datetime | None:
    """An ISO 8601 moment with its offset, in UTC; None for anything else."""
    try:  # Feb 30th, +25:00, year 1 minus an hour... are not moments
        moment = parse_datetime(raw)
    except (ValueError, OverflowError):
        return None
    if moment is None or timezone.is_naive(moment):
        return None
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        return None
