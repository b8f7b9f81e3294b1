import datetime


def utc_offset(moment: datetime.datetime) -> str:
    """ "UTC+05:30": the offset an aware moment carries, as the portal shows it."""
    offset = moment.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"
