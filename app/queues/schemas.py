"""Request and response shapes of queues and briefings.

`QueueCreateSchema` is also nested in the onboarding request: keep it free of anything that
needs a tenant or the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.vocabulary import CATEGORIES, CHANNELS

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


# --- queues ----------------------------------------------------------------------------------


class QueueSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    channels = fields.List(fields.String(), dump_only=True)
    categories = fields.List(
        fields.String(), dump_only=True, metadata={"description": "Empty: every category."}
    )
    languages = fields.List(
        fields.String(), dump_only=True, metadata={"description": "Empty: every language."}
    )
    answer_threshold_seconds = fields.Integer(dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


_NAME = validate.Length(min=1, max=100)
_CHANNELS = [
    validate.Length(min=1, error="List at least one channel."),
    validate.ContainsOnly(CHANNELS, error="Channels must be among: {choices}."),
    no_duplicates("Channel"),
]
_CATEGORIES = [
    validate.ContainsOnly(CATEGORIES, error="Categories must be among: {choices}."),
    no_duplicates("Category"),
]
_THRESHOLD = validate.Range(min=1, max=3600)


class QueueUpdateSchema(Schema):
    name = TrimmedString(validate=_NAME, metadata={"example": "Billing (es)"})
    description = fields.String(validate=validate.Length(max=2000))
    channels = fields.List(
        fields.String(), validate=_CHANNELS, metadata={"example": ["voice", "email"]}
    )
    categories = fields.List(
        fields.String(),
        validate=_CATEGORIES,
        metadata={"description": "Empty: every category.", "example": ["complaint", "claim"]},
    )
    languages = fields.List(
        LanguageTag(),
        validate=no_duplicates("Language"),
        metadata={
            "description": "BCP 47 primary language subtags; empty: every language.",
            "example": ["es", "ca"],
        },
    )
    answer_threshold_seconds = fields.Integer(
        strict=True,
        validate=_THRESHOLD,
        metadata={"description": "T of the service level, 1-3600 seconds.", "example": 20},
    )
    is_active = fields.Boolean(metadata={"description": "False takes the queue out of routing."})


class QueueCreateSchema(QueueUpdateSchema):
    name = TrimmedString(required=True, validate=_NAME, metadata={"example": "General"})
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    channels = fields.List(
        fields.String(), required=True, validate=_CHANNELS, metadata={"example": ["voice"]}
    )
    categories = fields.List(
        fields.String(),
        load_default=list,
        validate=_CATEGORIES,
        metadata={"description": "Empty (the default): every category."},
    )
    languages = fields.List(
        LanguageTag(),
        load_default=list,
        validate=no_duplicates("Language"),
        metadata={"description": "BCP 47 primary language subtags; empty (the default): all."},
    )
    answer_threshold_seconds = fields.Integer(
        strict=True,
        load_default=20,
        validate=_THRESHOLD,
        metadata={"description": "T of the service level, 1-3600 seconds (default 20)."},
    )

    class Meta:
        # A new queue is always active; deactivation is DELETE.
        exclude = ("is_active",)


class QueueQueryArgsSchema(Schema):
    active = fields.Boolean(
        metadata={"description": "true: active queues only; false: deactivated only."}
    )


# --- briefings -------------------------------------------------------------------------------


class BriefingSchema(Schema):
    id = fields.UUID(dump_only=True)
    title = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    effective_from = fields.AwareDateTime(dump_only=True)
    effective_to = fields.AwareDateTime(
        dump_only=True, allow_none=True, metadata={"description": "Null: until withdrawn."}
    )
    queue_ids = fields.List(
        fields.UUID(), dump_only=True, metadata={"description": "Empty: every queue of the firm."}
    )
    created_by_user_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


_TITLE = validate.Length(min=1, max=200)
_BODY = validate.Length(min=1, max=20000)


class BriefingUpdateSchema(Schema):
    title = TrimmedString(validate=_TITLE)
    body = fields.String(validate=_BODY)
    effective_from = fields.AwareDateTime(metadata={"example": "2026-12-01T09:00:00+01:00"})
    effective_to = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "After effective_from; null: until withdrawn."},
    )
    queue_ids = fields.List(
        fields.UUID(),
        validate=no_duplicates("Queue"),
        metadata={"description": "Queues of this firm; empty: all of them."},
    )

    @validates_schema(skip_on_field_errors=False)
    def _period(self, data: dict, **_kwargs) -> None:
        start, end = data.get("effective_from"), data.get("effective_to")
        if start is not None and end is not None and end <= start:
            raise ValidationError("Must be after effective_from.", "effective_to")


class BriefingCreateSchema(BriefingUpdateSchema):
    title = TrimmedString(required=True, validate=_TITLE, metadata={"example": "Fibre outage"})
    body = fields.String(
        required=True,
        validate=_BODY,
        metadata={"example": "Madrid north is down until 18:00; offer no technician visits."},
    )
    effective_from = fields.AwareDateTime(
        metadata={"description": "Default: now.", "example": "2026-12-01T09:00:00+01:00"}
    )
    queue_ids = fields.List(
        fields.UUID(),
        load_default=list,
        validate=no_duplicates("Queue"),
        metadata={"description": "Queues of this firm; empty (the default): all of them."},
    )


class BriefingQueryArgsSchema(Schema):
    current = fields.Boolean(
        metadata={"description": "true: in force now; false: past or scheduled."}
    )
    queue_id = fields.UUID(
        metadata={"description": "Briefings concerning this queue (including firm-wide ones)."}
    )
