"""Refusals that services raise and every door (page, admin, API, command) shows as a message."""


class Refused(Exception):
    """A request the portal will not carry out; `str(error)` is fit to show to the person."""

    code = "refused"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(Refused):
    code = "forbidden"


class Conflict(Refused):
    """The thing is busy (for example being restored); try again later."""

    code = "conflict"
