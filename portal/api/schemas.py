"""Shared API schemas: camelCase on the wire, Python names in the code."""

from __future__ import annotations

import datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, field_validator
from pydantic.alias_generators import to_camel

ENVIRONMENT_REF = (
    "The environment's URL name (slug), e.g. `contoso-test`, or its numeric id. A slug is "
    "looked up first."
)


class CamelSchema(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              extra="forbid")

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
