"""Request and response shapes of webhook endpoints and their delivery log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.common_schemas import dump_only_choice, no_duplicates
from app.webhooks.models import DELIVERY_STATUSES, EVENT_TYPES
from app.webhooks.service import PING_EVENT

_URL = validate.Length(min=1, max=2000)
_URL_DESCRIPTION = (
    "https:// on the public internet, on the default port or 80, 8080, 8443. Refused: "
    "loopback, private, link-local, shared and metadata addresses in any spelling (decimal, "
    "octal or hex IPv4, IPv6 forms embedding an IPv4 address such as IPv4-mapped, NAT64, 6to4 "
    "and Teredo), local names (one label, `.local`, `.internal`, ...), and names that do not "
    "resolve or resolve to any such address. Stored with its host normalised (lower case, "
    "IDNA, no trailing dot, percent-decoded)."
)
_DESCRIPTION = validate.Length(max=200)
_EVENT_TYPES = [
    validate.Length(min=1, error="Subscribe to at least one event type."),
    validate.ContainsOnly(EVENT_TYPES, error="Event types must be among: {choices}."),
    no_duplicates("Event type"),
]


class WebhookEndpointSchema(Schema):
    id = fields.UUID(dump_only=True)
    url = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    event_types = fields.List(fields.String(), dump_only=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = fields.String(
        dump_only=True,
        metadata={
            "description": "The HMAC-SHA256 signing key. Shown only in this answer: store it "
            "now (rotate the secret to get a new one)."
        },
    )


class WebhookEndpointUpdateSchema(Schema):
    url = fields.String(
        validate=_URL,
        metadata={
            "description": _URL_DESCRIPTION,
            "example": "https://hooks.acme.example/switchboard",
        },
    )
    description = fields.String(validate=_DESCRIPTION)
    event_types = fields.List(
        fields.String(),
        validate=_EVENT_TYPES,
        metadata={"description": f"Among: {', '.join(EVENT_TYPES)}.", "example": EVENT_TYPES},
    )
    is_active = fields.Boolean(
        metadata={"description": "False: nothing is sent; due deliveries are given up (dead)."}
    )


class WebhookEndpointCreateSchema(WebhookEndpointUpdateSchema):
    url = fields.String(
        required=True,
        validate=_URL,
        metadata={
            "description": _URL_DESCRIPTION,
            "example": "https://hooks.acme.example/switchboard",
        },
    )
    description = fields.String(load_default="", validate=_DESCRIPTION)
    event_types = fields.List(
        fields.String(),
        load_default=lambda: ["sla.breached"],
        validate=_EVENT_TYPES,
        metadata={"description": f"Among: {', '.join(EVENT_TYPES)}.", "example": EVENT_TYPES},
    )
    is_active = fields.Boolean(load_default=True)


class WebhookEndpointQueryArgsSchema(Schema):
    is_active = fields.Boolean()


class WebhookAttemptSchema(Schema):
    attempted_at = fields.AwareDateTime(dump_only=True)
    status_code = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "None: no HTTP answer."}
    )
    error = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Why the attempt failed. A refused destination and an attempt with "
            "no HTTP answer (connection failed, TLS failed, timed out) each read the same "
            "whatever the cause, and never name an address."
        },
    )
    duration_ms = fields.Integer(dump_only=True, metadata={"description": "0 when refused."})


class WebhookDeliverySchema(Schema):
    id = fields.UUID(dump_only=True)
    endpoint_id = fields.UUID(dump_only=True)
    event_id = fields.UUID(dump_only=True)
    event_type = fields.String(dump_only=True)
    payload = fields.Dict(dump_only=True, metadata={"description": "The event's `data`."})
    status = dump_only_choice(DELIVERY_STATUSES)
    attempts = fields.Integer(
        dump_only=True, metadata={"description": "Tries since queued or last retried by hand."}
    )
    next_attempt_at = fields.AwareDateTime(
        dump_only=True, metadata={"description": "When a pending delivery is next tried."}
    )
    last_attempt_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    last_status_code = fields.Integer(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    delivered_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class WebhookDeliveryDetailSchema(WebhookDeliverySchema):
    attempt_log = fields.List(
        fields.Nested(WebhookAttemptSchema),
        dump_only=True,
        metadata={"description": "Every try, oldest first (hand retries included)."},
    )


class WebhookDeliveryQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    event_type = fields.String(validate=validate.OneOf((*EVENT_TYPES, PING_EVENT)))
