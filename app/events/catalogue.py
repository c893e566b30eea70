"""The catalogue of domain events: each event's name, when it happens, and its payload as a
marshmallow schema. `record()` refuses a name that is not here; the API docs show the list
(`document()`), and tests check every recorded payload against its schema.

Payloads carry ids, states, channels, queues, agents and times: never the end customer's
personal data (name, e-mail, phone, subject or message text). One exception: the text of an
agent's reply (`contact.message.created` of kind `reply`), because the firm's own systems
deliver it to the end customer and can only do so with it. The end customer's own (inbound)
messages and internal notes are never carried: their event says that one was added, so a view
of the thread knows to refresh. Datetimes are ISO 8601 strings in UTC and ids are strings, as
they travel in JSON.
May import: marshmallow, app.vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema, fields, validate

from app.vocabulary import CATEGORIES, CHANNELS, DIRECTIONS, PRIORITIES


class _ContactPayloadSchema(Schema):
    """What every contact event says of the contact, as it is after the change."""

    contact_id = fields.UUID(required=True)
    external_id = fields.String(
        required=True, allow_none=True, metadata={"description": "The firm's own id, if given."}
    )
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    direction = fields.String(required=True, validate=validate.OneOf(DIRECTIONS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    status = fields.String(required=True, metadata={"description": "The status it moved to."})
    previous_status = fields.String(
        required=True, allow_none=True, metadata={"description": "None for a new contact."}
    )
    queue_id = fields.UUID(required=True)
    agent_id = fields.UUID(required=True, allow_none=True)
    department_id = fields.UUID(required=True, allow_none=True)
    received_at = fields.DateTime(required=True)


class ContactCreatedPayloadSchema(_ContactPayloadSchema):
    imported = fields.Boolean(
        required=True, metadata={"description": "True for history loaded by a contacts import."}
    )


class ContactAssignedPayloadSchema(_ContactPayloadSchema):
    previous_agent_id = fields.UUID(required=True, allow_none=True)


class ContactTransferredPayloadSchema(_ContactPayloadSchema):
    previous_queue_id = fields.UUID(required=True)


class ContactResolvedPayloadSchema(_ContactPayloadSchema):
    outcome = fields.String(
        required=True, allow_none=True, metadata={"description": "A claim's outcome."}
    )


class ContactCsatPayloadSchema(_ContactPayloadSchema):
    score = fields.Integer(required=True)


class ContactChangedPayloadSchema(_ContactPayloadSchema):
    """A lifecycle move that says nothing beyond the contact's new state."""


class MessagePayloadSchema(Schema):
    """A message added to a contact's thread."""

    id = fields.UUID(required=True)
    kind = fields.String(
        required=True,
        validate=validate.OneOf(("inbound", "reply", "note", "department")),
        metadata={
            "description": "inbound, reply, note (internal), or department (a department's answer "
            "through its link: the firm's own words, never sent)."
        },
    )
    channel = fields.String(
        required=True,
        validate=validate.OneOf(CHANNELS),
        metadata={"description": "The message's channel (by default the contact's)."},
    )
    external_id = fields.String(
        required=True, allow_none=True, metadata={"description": "The firm's own id, if given."}
    )
    created_at = fields.DateTime(required=True)
    body_format = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(("text", "html"))
    )
    body = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "A reply's text (HTML already sanitised), for the firm's systems to "
            "deliver; null for inbound messages and notes, which are never sent."
        },
    )


class ContactMessageCreatedPayloadSchema(_ContactPayloadSchema):
    """A message leaves the contact's status as it was: `previous_status` equals `status`."""

    message = fields.Nested(MessagePayloadSchema, required=True)


class ContactDepartmentAnsweredPayloadSchema(Schema):
    """A department answered an escalation through its mail's link; its text is in the thread
    (the message `message_id`, of kind `department`, which the firm's integration reads),
    never here."""

    contact_id = fields.UUID(required=True)
    escalation_id = fields.UUID(required=True)
    department_id = fields.UUID(required=True)
    message_id = fields.UUID(
        required=True,
        metadata={"description": "The answer in the contact's thread (kind `department`)."},
    )
    outcome = fields.String(required=True, validate=validate.OneOf(("done", "needs_more")))
    status = fields.String(
        required=True, metadata={"description": "The contact's status now (active, or queued)."}
    )
    agent_id = fields.UUID(required=True, allow_none=True)
    escalated_at = fields.DateTime(required=True)
    seconds_with_department = fields.Integer(required=True)


class _SlaPayloadSchema(Schema):
    contact_id = fields.UUID(required=True)
    external_id = fields.String(required=True, allow_none=True)
    clock = fields.String(required=True, validate=validate.OneOf(("first_response", "resolution")))
    target_seconds = fields.Integer(required=True, metadata={"description": "Business seconds."})
    due_at = fields.DateTime(required=True, allow_none=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    queue_id = fields.UUID(required=True)
    status = fields.String(required=True)


class SlaAtRiskPayloadSchema(_SlaPayloadSchema):
    at_risk_at = fields.DateTime(required=True)


class SlaBreachedPayloadSchema(_SlaPayloadSchema):
    breached_at = fields.DateTime(required=True)


class _InvoicePayloadSchema(Schema):
    invoice_id = fields.UUID(required=True)
    period = fields.String(required=True, metadata={"description": "YYYY-MM."})
    status = fields.String(required=True)
    currency = fields.String(required=True)
    total = fields.Integer(required=True, metadata={"description": "Minor units."})
    closed_at = fields.DateTime(required=True)


class InvoiceClosedPayloadSchema(_InvoicePayloadSchema):
    pass


class InvoicePaidPayloadSchema(_InvoicePayloadSchema):
    paid_at = fields.DateTime(required=True)


class InvoicePaymentFailedPayloadSchema(_InvoicePayloadSchema):
    payment_failed_at = fields.DateTime(required=True)


@dataclass(frozen=True)
class EventType:
    name: str
    when: str
    payload: type[Schema]

    @property
    def component(self) -> str:
        """The payload's schema name in the API docs, e.g. `SlaBreachedPayload`."""
        return self.payload.__name__.removesuffix("Schema")


_CHANGED = ContactChangedPayloadSchema
EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        "contact.created",
        "A contact is taken in (one, or each row of a contacts import).",
        ContactCreatedPayloadSchema,
    ),
    EventType(
        "contact.assigned", "A contact is assigned to an agent.", ContactAssignedPayloadSchema
    ),
    EventType(
        "contact.released", "An agent hands an assigned contact back to its queue.", _CHANGED
    ),
    EventType("contact.answered", "An agent answers a call or a chat.", _CHANGED),
    EventType("contact.responded", "An agent responds to a written contact.", _CHANGED),
    EventType("contact.held", "An agent puts a contact on hold.", _CHANGED),
    EventType("contact.waiting_customer", "A contact waits on the end customer.", _CHANGED),
    EventType("contact.escalated", "A contact is escalated to a department.", _CHANGED),
    EventType(
        "contact.department_answered",
        "The department a contact was escalated to answers through its link (done, or needs "
        "more); the contact is back with its agent, or in its queue.",
        ContactDepartmentAnsweredPayloadSchema,
    ),
    EventType("contact.resumed", "Work on a held, waiting or escalated contact resumes.", _CHANGED),
    EventType(
        "contact.transferred",
        "A contact moves to another queue.",
        ContactTransferredPayloadSchema,
    ),
    EventType("contact.resolved", "A contact is resolved.", ContactResolvedPayloadSchema),
    EventType("contact.closed", "A resolved contact is closed.", _CHANGED),
    EventType("contact.reopened", "A resolved or closed contact is reopened.", _CHANGED),
    EventType("contact.abandoned", "The end customer hangs up or leaves while queued.", _CHANGED),
    EventType(
        "contact.csat",
        "The end customer's satisfaction score is recorded.",
        ContactCsatPayloadSchema,
    ),
    EventType(
        "contact.message.created",
        "A message is added to a contact's thread: the end customer's (inbound), an agent's "
        "reply (with its text, to deliver), an internal note, or a department's answer "
        "(without).",
        ContactMessageCreatedPayloadSchema,
    ),
    EventType(
        "sla.at_risk",
        "An SLA clock of a contact passes its at-risk point (once per clock).",
        SlaAtRiskPayloadSchema,
    ),
    EventType(
        "sla.breached",
        "An SLA clock of a contact passes its deadline (once per clock).",
        SlaBreachedPayloadSchema,
    ),
    EventType(
        "invoice.closed", "A month is closed into a firm's invoice.", InvoiceClosedPayloadSchema
    ),
    EventType("invoice.paid", "Stripe reports the invoice paid.", InvoicePaidPayloadSchema),
    EventType(
        "invoice.payment_failed",
        "Stripe reports a failed payment of the invoice.",
        InvoicePaymentFailedPayloadSchema,
    ),
)
CATALOGUE: dict[str, EventType] = {event.name: event for event in EVENT_TYPES}

# The contact lifecycle's actions (app/contacts/lifecycle.py) and the event each records.
CONTACT_ACTIONS = {
    "assign": "contact.assigned",
    "release": "contact.released",
    "answer": "contact.answered",
    "respond": "contact.responded",
    "hold": "contact.held",
    "wait-customer": "contact.waiting_customer",
    "escalate": "contact.escalated",
    "resume": "contact.resumed",
    "transfer": "contact.transferred",
    "resolve": "contact.resolved",
    "close": "contact.closed",
    # An unreached campaign attempt is closed, as far as an integration can tell.
    "unreached": "contact.closed",
    "reopen": "contact.reopened",
    "abandon": "contact.abandoned",
    "csat": "contact.csat",
}

_PAYLOADS = {event.name: event.payload() for event in EVENT_TYPES}


def payload_errors(*, type: str, payload: dict) -> dict:
    """What is wrong with a payload for its event type (empty when it fits its schema)."""
    return _PAYLOADS[type].validate(payload)


# --- the API docs ---------------------------------------------------------------------------

TAG = "Events"
_INTRO = (
    "What happens in a client firm is recorded as a domain event, once, in the transaction "
    "that made it happen; webhook deliveries are made from these events (an endpoint "
    "receives the types its `event_types` may name and does name, in the delivery's `type`, "
    "with the payload below as its `data`). Payloads carry ids, states and times, never the "
    "end customer's personal data, except the text of an agent's reply "
    "(`contact.message.created` of kind `reply`), which the firm's systems deliver.\n\n"
    "| Event | When | Payload |\n|---|---|---|\n"
)


def document(spec) -> None:
    """Add the catalogue to an apispec document: a tag whose description lists every event,
    and each payload as a schema component."""
    rows = []
    for event in EVENT_TYPES:
        if event.component not in spec.components.schemas:  # one payload serves several events
            # Read-only: what we send, so no input rules (the window of instants) apply.
            fields_ = tuple(event.payload().fields)
            spec.components.schema(event.component, schema=event.payload(dump_only=fields_))
        ref = f"[{event.component}](#/components/schemas/{event.component})"
        rows.append(f"| `{event.name}` | {event.when} | {ref} |")
    spec.tag({"name": TAG, "description": _INTRO + "\n".join(rows)})
