"""Shared API schemas: camelCase on the wire, Python names in the code."""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any

from ninja import Schema
from pydantic import AwareDatetime, BeforeValidator, ConfigDict, field_validator
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
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text_only)]
