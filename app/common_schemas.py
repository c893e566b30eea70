"""Schema pieces more than one domain's requests and answers are made of: trimmed names,
language tags, lists without repeats, the active filter of a list. Imports no domain."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from marshmallow import ValidationError, fields

# A BCP 47 primary language subtag (ISO 639): "es", "en", "ca", "eus"... no region or script.
LANGUAGE = re.compile(r"^[a-z]{2,3}\Z")


class TrimmedString(fields.String):
    """A string with surrounding whitespace removed, so " Billing " and "Billing" are one name."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def no_duplicates(what: str) -> Callable[[Iterable], None]:
    """A list validator refusing an item listed twice."""

    def check(values: Iterable) -> None:
        seen, twice = set(), []
        for value in values:
            if value in seen and value not in twice:
                twice.append(value)
            seen.add(value)
        if twice:
            raise ValidationError(f"{what} listed more than once: {', '.join(map(str, twice))}.")

    return check


class LanguageTag(fields.String):
    """A BCP 47 primary language subtag, case-insensitive on input, lowercase when stored."""

    def _deserialize(self, value, attr, data, **kwargs):
        tag = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if not LANGUAGE.match(tag):
            raise ValidationError(
                f"{value!r} is not a primary language tag; use e.g. 'es', 'en' or 'ca' "
                "(no region: routing by language ignores it)."
            )
        return tag


def active_filter(what: str) -> fields.Boolean:
    """The `active` query argument of a list of things that can be deactivated."""
    return fields.Boolean(
        metadata={"description": f"true: active {what} only; false: deactivated only."}
    )


def dump_only_choice(choices: Iterable[str]) -> fields.String:
    """A string the API only answers, documented with the values it can take."""
    return fields.String(dump_only=True, metadata={"enum": list(choices)})
