"""Template helpers used across the portal (loaded as builtins in settings)."""

import datetime
import re

from django import template
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeData, mark_safe
from django.utils.timesince import timesince

from portal import icons
from portal.timefmt import local_text, utc_offset

register = template.Library()


@register.filter
def when(value: datetime.datetime | None, seconds: bool = False) -> str:
    """A moment in the viewer's time zone, with its offset, in a <time> element."""
    if not value:
        return ""
    try:
        local = timezone.localtime(value)
    except OverflowError:  # the first or last hours of the calendar, seen from a far zone
        local = value.astimezone(datetime.UTC)
    text = local_text(local, seconds=seconds)
    return format_html(
        '<time datetime="{}" title="{}">{} <span class="tz">{}</span></time>',
        value.astimezone(datetime.UTC).isoformat(),
        local.tzname() or "",
        text,
        utc_offset(local),
    )


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters changed (for sorting and paging links)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def duration(value: datetime.timedelta | None) -> str:
    """A short duration: "4 s", "2 min 5 s", "1 h 3 min"."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def ago(value: datetime.datetime | None) -> str:
    """How long ago, in words: "5 minutes ago", "just now"."""
    if not value:
        return ""
    now = timezone.now()
    if value > now - datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now, depth=1)} ago"


UTC_MOMENT = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?) UTC(?![+-]\d)")


@register.filter
def local_times(text: str) -> str:
    """A stored sentence with its "2026-11-20 09:30:00 UTC" moments shown like every other
    time of the portal: in the viewer's zone, with the offset."""
    # A message built with format_html is already safe (its own markup, its values escaped);
    # its pieces are kept as they are. Anything else is escaped.
    keep = isinstance(text, SafeData)
    text = str(text)  # a message of the messages framework, too

    def piece(part: str) -> str:
        return part if keep else conditional_escape(part)

    parts = []
    last = 0
    for match in UTC_MOMENT.finditer(text):
        try:  # the text may be anyone's (a label, a name): "2026-02-30 10:00 UTC" stays as is
            moment = datetime.datetime.fromisoformat(match.group(1)).replace(tzinfo=datetime.UTC)
        except ValueError:
            continue
        parts.append(piece(text[last : match.start()]))
        parts.append(when(moment, seconds=match.group(1).count(":") == 2))
        last = match.end()
    parts.append(piece(text[last:]))
    return mark_safe("".join(parts))


@register.simple_tag
def outcome(value: str, label: str) -> str:
    """The badge every Outcome and Status column shows: an operation's status (queued, running,
    succeeded, failed) or an audit event's outcome (succeeded, failed, refused), one style."""
    return format_html('<span class="state state-{}">{}</span>', value, label)


@register.inclusion_tag("includes/breadcrumbs.html")
def breadcrumbs(*trail: str) -> dict:
    """The trail to this page: label, url, label, url, ..., and last the page's own label."""
    *pairs, here = trail
    return {"links": list(zip(pairs[::2], pairs[1::2], strict=True)), "here": here}


@register.simple_tag
def icon(name: str) -> str:
    """An inline SVG icon (portal/icons.py) beside a label that stays text."""
    return icons.svg(name)
