"""Filters for settings.LOGGING."""

import copy
import logging


class ForbiddenInOneLine(logging.Filter):
    """A refused request (403) is an everyday answer, not a fault: log it as one line, with
    the reason given, and no traceback. Django logs each with the PermissionDenied's traceback,
    which buries the faults (500s) that need reading.

    The record is copied, not changed (a filter may return a record since Python 3.12): other
    handlers of the same record, such as Sentry's, still get the traceback if they want it."""

    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:
        if getattr(record, "status_code", None) != 403 or not record.exc_info:
            return True
        one = copy.copy(record)
        reason = str(record.exc_info[1] or "").strip()
        message = record.getMessage()
        if reason:
            message = f"{message}: {' '.join(reason.split())}"
        one.msg, one.args = message, None
        one.exc_info = one.exc_text = one.stack_info = None
        return one
