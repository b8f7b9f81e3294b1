"""Typed columns of an environment's tables, and the form that checks a row against them.

A table's columns are plain JSON (`DataTable.columns`). One form class per table does all value
checking, so the data browser, the API and the commands give the same messages.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

COLUMN_TYPES = ("text", "long_text", "email", "integer", "decimal", "boolean", "date", "choice")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnicodeJSONEncoder(DjangoJSONEncoder):
    """Store text as text (not \\u escapes): searching rows works the same on every database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)


TITLE_LENGTH = 100


def title_column(columns: list[dict]) -> dict | None:
    """The column the data browser's search looks in: the table's first text or email column,
    like a primary name column."""
    return next((c for c in columns if c["type"] in ("text", "email")), None)


def title(columns: list[dict], values: dict[str, Any]) -> str:
    column = title_column(columns)
    value = values.get(column["name"]) if column else None
    return str(value)[:TITLE_LENGTH] if value else ""


# Column names a table cannot use: each row's own key (beside the values in every page, the
# API and the exports), and what the row form itself sends (its CSRF token) or keeps (its
# columns): a column of that name would be shadowed by it.
RESERVED_NAMES = frozenset({"key", "columns", "csrfmiddlewaretoken"})
# Headings the pages show for a row's own parts: a column labelled so would show twice.
RESERVED_LABELS = frozenset({"key"})


def reserved_name_problem(name: str) -> str:
    """Why a column cannot have this name ("" when it can)."""
    if name in RESERVED_NAMES:
        return (
            f"{name!r} is a name the portal uses itself (every row has a key of its own); "
            "choose another column name."
        )
    return ""


def reserved_label_problem(label: str) -> str:
    if label.strip().casefold() in RESERVED_LABELS:
        return f"{label.strip()!r} is the heading of each row's own key; choose another label."
    return ""


def _refuse_a_second_title(columns: list[dict]) -> None:
    """The pages and the API show a row's title (its title column's value) under "Title"; a
    column called so must be that column, or two things would be shown as the title."""
    first = title_column(columns)
    for col in columns:
        called_title = col["name"] == "title" or col["label"].strip().casefold() == "title"
        if called_title and col is not first:
            raise ValidationError(
                f"Column {col['name']!r} cannot be called Title: a row's title is its table's "
                f"first text or email column ({first['name'] if first else 'none here'}). "
                "Call it otherwise, or make it the first text column."
            )


def validate_columns(columns: Any) -> list[dict]:
    """Check a table definition; return it normalised. Raises ValidationError."""
    if not isinstance(columns, list) or not columns:
        raise ValidationError("A table needs at least one column.")
    seen: set[str] = set()
    result = []
    for col in columns:
        if not isinstance(col, dict):
            raise ValidationError("Each column must be an object.")
        name = col.get("name", "")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValidationError(f"Column name {name!r} must be lowercase letters, digits, _.")
        if problem := reserved_name_problem(name):
            raise ValidationError(problem)
        if name in seen:
            raise ValidationError(f"Column {name!r} is defined twice.")
        seen.add(name)
        kind = col.get("type")
        if kind not in COLUMN_TYPES:
            raise ValidationError(f"Column {name!r} has unknown type {kind!r}.")
        clean = {
            "name": name,
            "label": str(col.get("label") or name.replace("_", " ").capitalize()),
            "type": kind,
            "required": bool(col.get("required", False)),
        }
        if kind in ("text", "long_text", "email"):
            clean["max_length"] = int(
                col.get("max_length") or (2000 if kind == "long_text" else 200)
            )
        if kind == "choice":
            choices = col.get("choices")
            if (
                not isinstance(choices, list)
                or not choices
                or not all(isinstance(c, str) for c in choices)
            ):
                raise ValidationError(f"Column {name!r} needs a list of text choices.")
            clean["choices"] = choices
        if problem := reserved_label_problem(clean["label"]):
            raise ValidationError(problem)
        result.append(clean)
    _refuse_a_second_title(result)
    return result


def _form_field(col: dict) -> forms.Field:
    common = {"label": col["label"], "required": col["required"]}
    match col["type"]:
        case "text":
            return forms.CharField(max_length=col["max_length"], **common)
        case "long_text":
            return forms.CharField(max_length=col["max_length"], widget=forms.Textarea, **common)
        case "email":
            return forms.EmailField(max_length=col["max_length"], **common)
        case "integer":
            return forms.IntegerField(min_value=-(2**53), max_value=2**53, **common)
        case "decimal":
            return forms.DecimalField(max_digits=18, decimal_places=2, **common)
        case "boolean":
            # A checkbox cannot be "required" in the sense of "must be ticked" here.
            return forms.BooleanField(label=col["label"], required=False)
        case "date":
            return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
        case "choice":
            choices = [("", "---------")] + [(c, c) for c in col["choices"]]
            return forms.ChoiceField(choices=choices, **common)
    raise ValidationError(f"Unknown column type {col['type']!r}")


def to_json(col: dict, value: Any) -> Any:
    """A cleaned form value as it is stored."""
    if value is None or value == "":
        return None if col["type"] != "boolean" else False
    if isinstance(value, decimal.Decimal):
        return str(value.quantize(decimal.Decimal("0.01")))
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def from_json(col: dict, value: Any) -> Any:
    """A stored value as a form's initial value."""
    if value is None:
        return None
    if col["type"] == "date":
        try:
            return datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            return value
    return value


class RowForm(forms.Form):
    """The base of every table's row form; fields are added per column by row_form_class."""

    columns: list[dict] = []

    def stored_values(self) -> dict[str, Any]:
        return {
            col["name"]: to_json(col, self.cleaned_data.get(col["name"])) for col in self.columns
        }


def row_form_class(columns: list[dict]) -> type[RowForm]:
    fields: dict[str, Any] = {col["name"]: _form_field(col) for col in columns}
    fields["columns"] = columns
    return type("TableRowForm", (RowForm,), fields)


def clean_values(columns: list[dict], values: Any) -> dict[str, Any]:
    """Check values against the columns, as the data browser's form does. Raises ValidationError
    with one message per field; unknown fields are refused rather than dropped silently."""
    if not isinstance(values, dict):
        raise ValidationError("Row values must be an object of column names to values.")
    known = {col["name"] for col in columns}
    errors: dict[str, list] = {
        name: ["There is no such column."] for name in sorted(set(values) - known)
    }
    data = {}
    for col in columns:
        raw = values.get(col["name"])
        if col["type"] == "boolean":
            if raw in (True, "true", "on", "1", 1):
                data[col["name"]] = "on"
        elif raw is not None:
            data[col["name"]] = (
                raw
                if isinstance(raw, str)
                else json.dumps(raw)
                if isinstance(raw, (dict, list))
                else str(raw)
            )
    form = row_form_class(columns)(data=data)
    if not form.is_valid():
        errors.update({field: list(messages) for field, messages in form.errors.items()})
    if errors:
        raise ValidationError(errors)
    return form.stored_values()


def display(col: dict, value: Any) -> str:
    if value is None or value == "":
        return ""
    if col["type"] == "boolean":
        return "Yes" if value else "No"
    return str(value)
