"""Request and response shapes of queues and briefings.

`QueueCreateSchema` is also nested in the onboarding request: keep it free of anything that
needs a tenant or the database.
"""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.common_schemas import LanguageTag, TrimmedString, active_filter, no_duplicates
from app.vocabulary import CATEGORIES, CHANNELS

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


class QueueWarningSchema(Schema):
    code = fields.String(
        dump_only=True,
        metadata={
            "enum": ["channels_unserved"],
            "description": "channels_unserved: no active agent assigned to the queue works "
            "these channels (with a concurrency above 0), so its contacts on them wait.",
        },
    )
    queue_id = fields.UUID(dump_only=True)
    queue_name = fields.String(dump_only=True)
    channels = fields.List(
        fields.String(), dump_only=True, metadata={"description": "The channels unserved."}
    )
    channels_no_agent_works = fields.List(
        fields.String(),
        dump_only=True,
        metadata={"description": "Of them, those no active agent of the BPO works at all."},
    )
    message = fields.String(dump_only=True, metadata={"description": "The warning, in words."})


def warnings_field() -> fields.List:
    return fields.List(
        fields.Nested(QueueWarningSchema),
        dump_only=True,
        metadata={
            "description": "What the change leaves unworkable: one entry per active queue with "
            "channels no agent can serve (assign agents to it, e.g. PUT "
            "/v1/agents/{agent_id}/assignments/{queue_id}). Empty when every channel is served. "
            "Only in the answer to the change, never stored."
        },
    )


class QueueWrittenSchema(QueueSchema):
    """A queue as created or changed, with the warnings about who can serve it."""

    warnings = warnings_field()


_NAME = validate.Length(min=1, max=100)
# Bounds on lists, so that a body cannot make a request check thousands of items.
MAX_LANGUAGES = 50
MAX_BRIEFING_QUEUES = 500
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
        validate=[validate.Length(max=MAX_LANGUAGES), no_duplicates("Language")],
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
        validate=[validate.Length(max=MAX_LANGUAGES), no_duplicates("Language")],
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
    active = active_filter("queues")


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
        validate=[validate.Length(max=MAX_BRIEFING_QUEUES), no_duplicates("Queue")],
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
        validate=[validate.Length(max=MAX_BRIEFING_QUEUES), no_duplicates("Queue")],
        metadata={"description": "Queues of this firm; empty (the default): all of them."},
    )


class BriefingQueryArgsSchema(Schema):
    current = fields.Boolean(
        metadata={"description": "true: in force now; false: past or scheduled."}
    )
    queue_id = fields.UUID(
        metadata={"description": "Briefings concerning this queue (including firm-wide ones)."}
    )


# --- staffing --------------------------------------------------------------------------------

INTERVAL = re.compile(r"^(\d{1,4})(m|min|h)\Z")
MAX_INTERVAL_MINUTES = 24 * 60


class Interval(fields.String):
    """A staffing interval such as 15m, 30m, 60m or 1h, loaded as whole seconds."""

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        text = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        match = INTERVAL.match(text)
        if not match:
            raise ValidationError(f"{value!r} is not an interval; use e.g. '15m', '30m' or '1h'.")
        minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1)
        if not 1 <= minutes <= MAX_INTERVAL_MINUTES:
            raise ValidationError("The interval must be between 1 minute and 24 hours.")
        return minutes * 60


class ExactNumber(fields.Decimal):
    """A number read as a Decimal, so that 14 agents / (1 - 0.3) schedule 20 and not 21 (in
    binary floating point it is 20.000000000000004); written as a plain JSON number."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else float(value)


def _decimal(description: str, example, *validators, **kwargs) -> ExactNumber:
    return ExactNumber(
        allow_nan=False,
        validate=list(validators),
        metadata={"description": description, "example": example},
        **kwargs,
    )


_FRACTION_OPEN = validate.Range(min=0, max=1, min_inclusive=False, max_inclusive=False)


class StaffingQueryArgsSchema(Schema):
    interval = Interval(
        load_default=1800,
        metadata={
            "default": "30m",
            "description": "Length of the planning interval: Nm or Nh, 1 minute to 24 hours "
            "(default 30m).",
            "example": "30m",
        },
    )
    volume = _decimal(
        "Contacts expected per interval (a forecast; decimals allowed). Default: the queue's "
        "mean inbound contacts per interval over the last 28 days, among intervals with any.",
        100,
        validate.Range(min=0, max=10_000_000),
    )
    aht = _decimal(
        "Average handle time (talk + hold + after-contact work), seconds, 1 to 86400. Default: "
        "the mean of the queue's handled inbound contacts over the last 28 days.",
        180,
        validate.Range(min=1, max=86_400),
    )
    target = _decimal(
        "Service level to reach: share answered within `threshold`, strictly between 0 and 1. "
        "Default: the client firm's default SLA policy (80% if it has none).",
        0.8,
        _FRACTION_OPEN,
    )
    threshold = _decimal(
        "T of the service level, seconds, 0 to 86400. Default: the queue's answer threshold.",
        20,
        validate.Range(min=0, max=86_400),
    )
    shrinkage = _decimal(
        "Share of paid time agents are away from the phones (breaks, training, absence), "
        "0 or more and below 1 (default 0).",
        0.3,
        validate.Range(min=0, max=1, max_inclusive=False),
        load_default=0,
    )
    max_occupancy = _decimal(
        "Optional cap on occupancy (traffic / agents), above 0 and at most 1: staff more if "
        "the service level alone would keep agents busier than this.",
        0.85,
        validate.Range(min=0, max=1, min_inclusive=False),
    )


class StaffingLevelSchema(Schema):
    agents = fields.Integer(dump_only=True, metadata={"description": "Agents on the phones."})
    scheduled = fields.Integer(
        dump_only=True,
        metadata={"description": "Headcount to schedule: agents / (1 - shrinkage), rounded up."},
    )
    service_level = fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Expected share answered within the threshold (4 decimals); null "
            "when agents do not exceed the traffic (the queue grows without end)."
        },
    )
    asa_seconds = fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Expected average speed of answer (2 decimals); null as above."},
    )
    occupancy = fields.Float(
        dump_only=True,
        metadata={"description": "Traffic / agents (4 decimals); 1 at or below the traffic."},
    )
    probability_wait = fields.Float(
        dump_only=True,
        metadata={"description": "Erlang C: probability a contact waits at all (4 decimals)."},
    )


class StaffingCurvePointSchema(StaffingLevelSchema):
    meets_target = fields.Boolean(
        dump_only=True,
        metadata={"description": "Reaches the target (and respects max_occupancy, if given)."},
    )


class StaffingInputsSchema(Schema):
    volume = fields.Float(dump_only=True, metadata={"description": "Contacts per interval."})
    aht = fields.Float(dump_only=True, metadata={"description": "Seconds."})
    target = fields.Float(dump_only=True)
    threshold = fields.Float(dump_only=True, metadata={"description": "Seconds."})
    shrinkage = fields.Float(dump_only=True)
    max_occupancy = fields.Float(dump_only=True, allow_none=True)


class StaffingSourcesSchema(Schema):
    volume = fields.String(dump_only=True, metadata={"enum": ["request", "history"]})
    aht = fields.String(dump_only=True, metadata={"enum": ["request", "history"]})
    target = fields.String(dump_only=True, metadata={"enum": ["request", "sla_policy", "default"]})
    threshold = fields.String(dump_only=True, metadata={"enum": ["request", "queue"]})


class StaffingHistorySchema(Schema):
    from_ = fields.AwareDateTime(
        dump_only=True, data_key="from", metadata={"description": "Start of the window."}
    )
    to = fields.AwareDateTime(
        dump_only=True,
        metadata={"description": "End, exclusive: the start of the interval in progress."},
    )
    days = fields.Integer(dump_only=True)
    intervals_with_contacts = fields.Integer(dump_only=True)
    contacts = fields.Integer(
        dump_only=True, metadata={"description": "Inbound contacts received in the window."}
    )
    handled_contacts = fields.Integer(
        dump_only=True, metadata={"description": "Of those, answered or responded, then resolved."}
    )


class StaffingSchema(StaffingLevelSchema):
    queue_id = fields.UUID(dump_only=True)
    interval = fields.String(dump_only=True, metadata={"example": "30m"})
    interval_seconds = fields.Integer(dump_only=True, metadata={"example": 1800})
    inputs = fields.Nested(
        StaffingInputsSchema,
        dump_only=True,
        metadata={"description": "The figures used, whether given or taken (see `sources`)."},
    )
    sources = fields.Nested(
        StaffingSourcesSchema,
        dump_only=True,
        metadata={"description": "Where each input came from."},
    )
    history = fields.Nested(
        StaffingHistorySchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The window inputs were taken from; null when none was."},
    )
    traffic_erlangs = fields.Float(
        dump_only=True, metadata={"description": "volume x aht / interval (4 decimals)."}
    )
    curve = fields.List(
        fields.Nested(StaffingCurvePointSchema),
        dump_only=True,
        metadata={
            "description": "Staffing levels from agents - 2 to agents + 3 (none below 0), "
            "ascending. Levels not above the traffic are listed with null service level and "
            "ASA."
        },
    )
