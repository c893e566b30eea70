"""Request and response shapes of campaigns, their lists and records, dispositions and the
do-not-contact registers."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.campaigns.models import (
    BLENDS,
    CAMPAIGN_STATES,
    DNC_KINDS,
    DNC_SOURCES,
    PURPOSES,
    RECORD_STATES,
)
from app.common_schemas import TrimmedString, dump_only_choice
from app.vocabulary import CATEGORIES, CHANNELS

CODE = validate.Regexp(
    r"^[a-z0-9_]{1,64}$", error="Use 1 to 64 lower-case letters, digits or underscores."
)
CLOCK = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="Use HH:MM (24-hour clock).")

# --- campaigns -------------------------------------------------------------------------------


class DispositionSchema(Schema):
    code = fields.String(required=True, validate=CODE, metadata={"example": "sold"})
    label = TrimmedString(required=True, validate=validate.Length(min=1, max=100))
    reached = fields.Boolean(
        load_default=False, metadata={"description": "The customer was reached."}
    )
    success = fields.Boolean(
        load_default=False, metadata={"description": "The campaign's goal was met (reached)."}
    )
    retry = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Try the record again (after the delay, below the attempt limit)."
        },
    )
    retry_after_minutes = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=60 * 24 * 30),
        metadata={"description": "This disposition's own retry delay; default the campaign's."},
    )
    do_not_contact = fields.Boolean(
        load_default=False,
        metadata={
            "description": "The customer asked not to be contacted: the record's phone "
            "and e-mail join the firm's register."
        },
    )

    @validates_schema
    def _fits(self, data, **_kwargs):
        if data.get("do_not_contact") and data.get("retry"):
            raise ValidationError("A do-not-contact disposition cannot retry.", "retry")


_WINDOW_DOC = "in the customer's local time (their zone, their country's public holidays)"


class _CampaignFields(Schema):
    name = TrimmedString(validate=validate.Length(min=1, max=100))
    purpose = fields.String(validate=validate.OneOf(PURPOSES))
    category = fields.String(
        validate=validate.OneOf(CATEGORIES),
        metadata={"description": "The category its attempts are filed under."},
    )
    queue_id = fields.UUID(metadata={"description": "The queue whose agents work it."})
    script = fields.String(validate=validate.Length(max=20_000))
    dispositions = fields.List(
        fields.Nested(DispositionSchema), validate=validate.Length(min=1, max=50)
    )
    weekdays = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=7)),
        validate=validate.Length(min=1, max=7),
        metadata={"description": f"ISO weekdays 1 (Monday) to 7, {_WINDOW_DOC}."},
    )
    window_start = fields.String(validate=CLOCK, metadata={"example": "09:00"})
    window_end = fields.String(validate=CLOCK, metadata={"example": "20:00"})
    skip_holidays = fields.Boolean(
        metadata={"description": "No attempts on the public holidays of the customer's country."}
    )
    max_attempts = fields.Integer(validate=validate.Range(min=1, max=20))
    retry_delay_minutes = fields.Integer(validate=validate.Range(min=1, max=60 * 24 * 30))
    starts_on = fields.Date(metadata={"description": "The first day (the customer's date)."})
    ends_on = fields.Date(allow_none=True, metadata={"description": "The last day, inclusive."})
    blend = fields.String(
        validate=validate.OneOf(BLENDS),
        metadata={
            "description": "How its records mix with inbound work on an agent's Next (BPO only): "
            "inbound_first, or time_share (share_bps of the agent's handle time)."
        },
    )
    share_bps = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=10_000),
        metadata={"description": "time_share: the share of an agent's last hour it aims at."},
    )


class CampaignCreateSchema(_CampaignFields):
    """A new campaign (a draft); the update schema leaves every field optional."""

    name = TrimmedString(required=True, validate=validate.Length(min=1, max=100))
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    queue_id = fields.UUID(required=True)
    script = fields.String(load_default="", validate=validate.Length(max=20_000))
    dispositions = fields.List(
        fields.Nested(DispositionSchema), required=True, validate=validate.Length(min=1, max=50)
    )
    weekdays = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=7)),
        load_default=lambda: [1, 2, 3, 4, 5],
        validate=validate.Length(min=1, max=7),
    )
    window_start = fields.String(required=True, validate=CLOCK, metadata={"example": "09:00"})
    window_end = fields.String(required=True, validate=CLOCK, metadata={"example": "20:00"})
    skip_holidays = fields.Boolean(load_default=True)
    max_attempts = fields.Integer(load_default=3, validate=validate.Range(min=1, max=20))
    retry_delay_minutes = fields.Integer(
        load_default=120, validate=validate.Range(min=1, max=60 * 24 * 30)
    )
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(load_default=None, allow_none=True)


class CampaignUpdateSchema(_CampaignFields):
    """Any of the campaign's fields; its channel is set once."""


class CampaignSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    purpose = fields.String()
    channel = fields.String()
    category = fields.String()
    queue_id = fields.UUID()
    script = fields.String()
    dispositions = fields.List(fields.Nested(DispositionSchema))
    weekdays = fields.List(fields.Integer())
    window_start = fields.String()
    window_end = fields.String()
    skip_holidays = fields.Boolean()
    max_attempts = fields.Integer()
    retry_delay_minutes = fields.Integer()
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    state = dump_only_choice(CAMPAIGN_STATES)
    blend = fields.String()
    share_bps = fields.Integer(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    records = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        dump_only=True,
        metadata={"description": "How many records are in each state."},
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class CampaignQueryArgsSchema(Schema):
    state = fields.String(validate=validate.OneOf(CAMPAIGN_STATES))


# --- lists and records -----------------------------------------------------------------------


class RecordRowSchema(Schema):
    """One row of a list: who to contact and where in the world they are."""

    name = TrimmedString(validate=validate.Length(max=200))
    phone = TrimmedString(validate=validate.Length(max=40))
    email = fields.Email(validate=validate.Length(max=254))
    customer_ref = TrimmedString(validate=validate.Length(max=100))
    time_zone = TrimmedString(validate=validate.Length(max=64))
    country = TrimmedString(validate=validate.Length(equal=2))
    language = TrimmedString(validate=validate.Length(max=16))
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.Raw(),
        validate=validate.Length(max=50),
        load_default=dict,
    )


class CampaignListSchema(Schema):
    id = fields.UUID()
    campaign_id = fields.UUID()
    name = fields.String()
    rows = fields.Integer()
    added = fields.Integer(metadata={"description": "New records."})
    merged = fields.Integer(metadata={"description": "Rows that repeated a record."})
    blocked = fields.Integer(metadata={"description": "Rows on a do-not-contact register."})
    loaded_at = fields.AwareDateTime()


class ListLoadArgsSchema(Schema):
    name = TrimmedString(
        load_default="list",
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The list's name (say, the file's)."},
    )


class RecordSchema(Schema):
    id = fields.UUID()
    campaign_id = fields.UUID()
    list_id = fields.UUID()
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    customer_ref = fields.String(allow_none=True)
    time_zone = fields.String()
    country = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    fields_ = fields.Dict(data_key="fields")
    state = dump_only_choice(RECORD_STATES)
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "From when it may be offered next (inside the window)."},
    )
    window_closes_at = fields.AwareDateTime(allow_none=True)
    callback_at = fields.AwareDateTime(allow_none=True)
    callback_agent_id = fields.UUID(allow_none=True)
    last_attempt_at = fields.AwareDateTime(allow_none=True)
    last_disposition = fields.String(allow_none=True)
    reached_at = fields.AwareDateTime(allow_none=True)
    succeeded_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()


class RecordQueryArgsSchema(Schema):
    state = fields.String(validate=validate.OneOf(RECORD_STATES))


# --- dispositions ----------------------------------------------------------------------------


class DispositionInSchema(Schema):
    code = fields.String(required=True, validate=CODE, metadata={"example": "call_back"})
    note = fields.String(load_default="", validate=validate.Length(max=5000))
    callback_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "A call-back the customer asked for, inside their window."},
    )
    callback_for = fields.String(
        load_default="me",
        validate=validate.OneOf(("me", "anyone")),
        metadata={"description": "Who makes the call-back: the agent itself, or anyone."},
    )


# --- the do-not-contact registers ------------------------------------------------------------


class DoNotContactInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(DNC_KINDS))
    value = TrimmedString(
        required=True,
        validate=validate.Length(min=1, max=254),
        metadata={"description": "A phone number (its digits are kept) or an e-mail address."},
    )
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


class DoNotContactSchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    value = fields.String()
    reason = fields.String()
    source = dump_only_choice(DNC_SOURCES)
    created_at = fields.AwareDateTime()


class DoNotContactQueryArgsSchema(Schema):
    kind = fields.String(validate=validate.OneOf(DNC_KINDS))
    q = fields.String(validate=validate.Length(min=1, max=254))
