"""Request and response shapes of webhook endpoints and their delivery log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.common_schemas import dump_only_choice, no_duplicates
from app.webhooks.models import DELIVERY_STATUSES, EVENT_TYPES
from app.webhooks.service import PING_EVENT, ROTATION_WINDOW_MAX_SECONDS

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
    no_duplicates("Event type"),
]
_EVENT_TYPES_DESCRIPTION = (
    "The domain events this endpoint receives, named as the event catalogue names them (the "
    "*Events* section of these docs: when each happens, and its payload, which the delivery "
    "carries as its `data`)."
)


def _event_types(**kwargs) -> fields.List:
    """An endpoint's `event_types`: each one of the catalogue's events (an enum in the docs)."""
    one_of = validate.OneOf(EVENT_TYPES, error="Not an event of the catalogue: {input}.")
    return fields.List(
        fields.String(validate=one_of),
        validate=_EVENT_TYPES,
        metadata={"description": _EVENT_TYPES_DESCRIPTION, "example": ["contact.created"]},
        **kwargs,
    )


class WebhookEndpointSchema(Schema):
    id = fields.UUID(dump_only=True)
    url = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    event_types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        dump_only=True,
        metadata={"description": _EVENT_TYPES_DESCRIPTION},
    )
    is_active = fields.Boolean(dump_only=True)
    previous_secret_expires_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Until when the secret replaced by the last rotation signs "
            "deliveries beside the current one (a past time: it no longer does); null when "
            "the last rotation kept no window, or there was none."
        },
    )
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = fields.String(
        dump_only=True,
        metadata={
            "description": "The signing secret, `whsec_` + base64 of the HMAC-SHA256 key, as "
            "the Standard Webhooks libraries take it. Shown only in this answer: store it now "
            "(rotate the secret to get a new one)."
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
    event_types = _event_types()
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
    event_types = _event_types(load_default=lambda: ["sla.breached"])
    is_active = fields.Boolean(load_default=True)


class WebhookSecretRotateSchema(Schema):
    expire_previous_in_seconds = fields.Integer(
        validate=validate.Range(min=0, max=ROTATION_WINDOW_MAX_SECONDS),
        metadata={
            "description": "How long the replaced secret keeps signing deliveries beside the "
            "new one (both signatures in `webhook-signature`), so the receiver switches "
            "without refusing any; 0 stops it now. Default: the server's rotation window "
            "(24 hours unless configured); at most 7 days.",
            "example": 86400,
        },
    )


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
