"""What the API accepts of any value, whatever the field: strings a database can store, instants
in the supported window, integers a column can hold.

Applied in one place for every /v1 request (`check_request`, a before-request hook: query
arguments and JSON bodies) and for every schema the parser loads (`check_loaded`, called by
`app.api_base.JSONBodyParser`); the contacts import calls both per row. Each returns
marshmallow-style errors by field, so a refusal is a 422 naming the field. Imports nothing of the
app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from marshmallow import Schema, fields, validate

# The window of instants the API accepts. Nothing a contact centre records happened before
# 2000, and nothing it plans (a calendar version, a rate card, a report's end) lies more than
# ten years ahead; outside it, an instant is a client's bug, and it would make the SLA engine
# count decades of business calendar.
EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_HORIZON = timedelta(days=3653)
WINDOW_TEXT = "Instants (and dates) are accepted from 2000-01-01T00:00:00Z to ten years after now."
# The range of an integer column (PostgreSQL `integer`), for integer fields without a
# narrower range of their own.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

NUL_MESSAGE = "Must not contain the NUL character (U+0000)."
SURROGATE_MESSAGE = "Must not contain a lone UTF-16 surrogate (U+D800 to U+DFFF)."


# A lone surrogate is all a str can hold in that range (a pair decodes to one character).
_SURROGATE = re.compile("[\ud800-\udfff]")


def latest_instant() -> datetime:
    return datetime.now(UTC) + FUTURE_HORIZON


def string_problem(text: str) -> str | None:
    """Why a string cannot be stored (NUL, lone surrogate), or None."""
    if "\x00" in text:
        return NUL_MESSAGE
    if _SURROGATE.search(text):
        return SURROGATE_MESSAGE
    return None


def check_strings(value) -> dict:
    """Errors by field (nested like the value) for every string, or key, that cannot be stored."""
    errors: dict = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key)
            problem = string_problem(name)
            if problem is not None:
                errors[printable(name)] = [f"Field name: {problem}"]
                continue
            found = check_strings(item)
            if found:
                errors[name] = found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = check_strings(item)
            if found:
                errors[index] = found
    elif isinstance(value, str):
        problem = string_problem(value)
        if problem is not None:
            return [problem]  # type: ignore[return-value]
    return errors


def check_loaded(schema: Schema, data) -> dict:
    """Errors by field (the names the client sent) for loaded instants and dates outside the
    window and integers beyond their column, in `data` as `schema` loaded it."""
    if schema.many and isinstance(data, list):
        single = {}
        for index, item in enumerate(data):
            found = _check_object(schema, item)
            if found:
                single[index] = found
        return single
    return _check_object(schema, data)


def check_value(field: fields.Field | None, value) -> list[str] | dict | None:
    """What is wrong with one loaded value of `field` (None when the field is unknown)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime):
        return _instant_problem(value)
    if isinstance(value, date):
        return _date_problem(value)
    if isinstance(value, int):
        low, high = int_range(field)
        if value < low or value > high:
            return [f"Must be between {low} and {high}."]
        return None
    if isinstance(value, Mapping):
        nested = _nested_schema(field)
        if nested is not None:
            return _check_object(nested, value) or None
        inner = field.value_field if isinstance(field, fields.Dict) else None
        found = {k: p for k, v in value.items() if (p := check_value(inner, v))}
        return found or None
    if isinstance(value, list | tuple | set | frozenset):
        nested = _nested_schema(field)
        if nested is not None:
            found = {i: p for i, v in enumerate(value) if (p := _check_object(nested, v))}
            return found or None
        inner = _inner(field)
        found = {i: p for i, v in enumerate(value) if (p := check_value(inner, v))}
        return found or None
    return None


# --- internals -------------------------------------------------------------------------------


def _check_object(schema: Schema, data) -> dict:
    if not isinstance(data, Mapping):
        return {}
    by_attribute = {(f.attribute or name): f for name, f in schema.load_fields.items()}
    errors: dict = {}
    for key, value in data.items():
        field = by_attribute.get(key)
        problem = check_value(field, value)
        if problem:
            name = (field.data_key or field.name) if field is not None else key
            errors[name or key] = problem
    return errors


def _instant_problem(value: datetime) -> list[str] | None:
    if value.tzinfo is None or value.utcoffset() is None:
        return None  # naive: the field's own rule (AwareDateTime) speaks for it
    if value < EARLIEST_INSTANT:
        return [f"Must not be before {EARLIEST_INSTANT.isoformat()}. {WINDOW_TEXT}"]
    if value > latest_instant():
        return [f"Must not be more than ten years ahead. {WINDOW_TEXT}"]
    return None


def _date_problem(value: date) -> list[str] | None:
    if value < EARLIEST_INSTANT.date():
        return [f"Must not be before {EARLIEST_INSTANT.date().isoformat()}. {WINDOW_TEXT}"]
    if value > latest_instant().date():
        return [f"Must not be more than ten years ahead. {WINDOW_TEXT}"]
    return None


def int_range(field: fields.Field | None) -> tuple[int, int]:
    """The range an integer field accepts: its own where it sets one, else the column's."""
    low, high = INT_MIN, INT_MAX
    for validator in getattr(field, "validators", ()) or ():
        if isinstance(validator, validate.Range):
            if validator.min is not None:
                low = max(low, validator.min) if validator.max is None else validator.min
            if validator.max is not None:
                high = validator.max
    return low, high


def _nested_schema(field: fields.Field | None) -> Schema | None:
    if isinstance(field, fields.Nested):
        nested = field.schema
        return nested if isinstance(nested, Schema) else None
    return None


def _inner(field: fields.Field | None) -> fields.Field | None:
    return field.inner if isinstance(field, fields.List) else None


def printable(name: str) -> str:
    """A name fit to quote back in an error (a NUL or lone surrogate escaped)."""
    return name.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
