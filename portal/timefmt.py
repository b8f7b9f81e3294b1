import datetime


def utc_offset(moment: datetime.datetime) -> str:
    """ "UTC+05:30": the offset an aware moment carries, as the portal shows it."""
    offset = moment.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def local_moment(moment: datetime.datetime, *, seconds: bool = False) -> str:
    """ "Dec 11, 2026, 03:17 UTC+00:00": a moment in the viewer's time zone (the one the request
    activated), as every page shows times; for sentences built in Python (messages, refusals).
    """
    from django.utils import timezone

    try:
        local = timezone.localtime(moment)
    except OverflowError:  # the first or last hours of the calendar, seen from a far zone
        local = moment.astimezone(datetime.UTC)
    return f"{local_text(local, seconds=seconds)} {utc_offset(local)}"


def local_text(local: datetime.datetime, *, seconds: bool = False) -> str:
    """The date and time part of a moment already in the zone it is shown in."""
    return local.strftime("%b %-d, %Y, %H:%M:%S" if seconds else "%b %-d, %Y, %H:%M")
