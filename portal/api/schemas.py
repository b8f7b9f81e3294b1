"""Shared API schemas: camelCase on the wire, Python names in the code."""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any

from ninja import Schema
from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

ENVIRONMENT_REF = (
    "The environment's URL name (slug), e.g. `contoso-test`, or its numeric id. A slug is "
    "looked up first."
)


class CamelSchema(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it here as bad input rather than fail later.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        # Moments are used in UTC; one that has none (year 1 at +01:00) is bad input.
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            try:
                return value.astimezone(datetime.UTC)
            except OverflowError:
                raise ValueError("is out of range") from None
        return value


class Stated:
    """JSON-schema keywords for a rule that the server checks after pydantic: a service refuses
    what breaks it with 422 and its own message and field, which clients rely on, so pydantic
    must not refuse first with a 400 of its own. The schema still states the rule, so that a
    client (and schemathesis) knows which requests are valid. Keywords in Python spelling
    (max_length), or JSON-schema ones that are Python keywords by name (`**{"not": ...}`)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = {to_camel(name): value for name, value in keywords.items()}

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


# CamelSchema refuses NUL in any string (400); the schema says so with a pattern on each, as
# JSON schema has no other way to.
NO_NUL = r"^[^\x00]*$"
# What a service that strips the text first still finds a character in. Python strips more than
# ECMA-262's \s matches (\x1c-\x1f, \x85): those are named, so either reading is exact.
NOT_BLANK = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
# A moment whose UTC reading exists: Python's datetimes end at years 1 and 9999, so the first
# and last day, with an offset, may fall outside (400 "is out of range"). [0-9], not \d: in
# Python \d is any script's digit, which no ISO 8601 moment has.
MOMENT = (
    r"^(?!0000|0001-01-01|9999-12-31)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)


def Text(max_length: int, *, refused_past: int | None = None) -> Any:
    """Text the server keeps: no NUL, at most `max_length` characters. With `refused_past`,
    pydantic refuses only beyond that (400) and the service words the limit (422)."""
    return Annotated[
        str,
        Field(max_length=refused_past or max_length),
        Stated(pattern=NO_NUL, max_length=max_length),
    ]


def Name(max_length: int, *, refused_past: int | None = None) -> Any:
    """A name or label: as Text, and not blank (the service strips it, then asks for one)."""
    return Annotated[
        str,
        Field(max_length=refused_past or max_length),
        Stated(pattern=NOT_BLANK, max_length=max_length),
    ]


# An environment named in a body: any text, looked up (404 when nothing has that name or id).
EnvironmentRef = Annotated[str, Stated(pattern=NO_NUL)]

_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_text_only(value: Any) -> Any:
    # Pydantic would take 0.5 as half a second after 1970: a moment is ISO 8601 text here.
    if isinstance(value, datetime.datetime):
        return value
    if not isinstance(value, str) or not _ISO_MOMENT.match(value.strip()):
        raise ValueError(
            "must be a moment in ISO 8601 with its offset, e.g. 2026-11-20T09:30:00+01:00"
        )
    return value


# A moment as ISO 8601 text with an offset (or Z); numbers and dates without a time are refused.
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text_only), Stated(pattern=MOMENT)]
