"""Request and response shapes of contacts, their events, actions and messages, and departments.

`DepartmentCreateSchema` is also nested in the onboarding request: keep it free of anything
that needs a tenant or the database.
"""

from __future__ import annotations

from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.common_schemas import LanguageTag, TrimmedString, active_filter, dump_only_choice
from app.contacts import lifecycle
from app.contacts.models import BODY_FORMATS, CONTACT_STATUSES, DEPARTMENT_KINDS, MESSAGE_KINDS
from app.contacts.search import MAX_QUERY_LENGTH
from app.db import utcnow
from app.sla.models import CLOCK_STATES
from app.vocabulary import CATEGORIES, CHANNELS, DIRECTIONS, PRIORITIES

_NAME = validate.Length(min=1, max=100)
_EMAIL = validate.Length(max=254)


def queue_wait_seconds_field() -> fields.Float:
    """A contact's queue wait, defined once wherever a contact is shown (issue 13, item 15)."""
    return fields.Float(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Queue wait: seconds from `received_at` to `answered_at` (inbound "
            "voice and chat; millisecond precision), the figure whose mean over answered "
            "contacts is the reports' ASA (`asa_seconds`). Null until answered, and for "
            "written channels and outbound contacts."
        },
    )


def queued_seconds_field() -> fields.Integer:
    """A contact's time in line, which is not its queue wait."""
    return fields.Integer(
        dump_only=True,
        metadata={
            "description": "Whole seconds spent in line (status `queued`), summed over every "
            "stay: up to each assignment, and again after a release, transfer or reopen. Not "
            "the queue wait: it stops at assignment, not at the answer."
        },
    )


class DepartmentSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    kind = dump_only_choice(DEPARTMENT_KINDS)
    email = fields.String(dump_only=True, allow_none=True)
    is_active = fields.Boolean(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class DepartmentUpdateSchema(Schema):
    name = TrimmedString(validate=_NAME, metadata={"example": "Returns desk"})
    kind = fields.String(validate=validate.OneOf(DEPARTMENT_KINDS))
    email = fields.Email(
        allow_none=True,
        validate=_EMAIL,
        metadata={"description": "Where escalations are sent; null: none."},
    )
    is_active = fields.Boolean(
        metadata={"description": "False: no new escalations go there; DELETE does the same."}
    )


class DepartmentCreateSchema(DepartmentUpdateSchema):
    name = TrimmedString(
        validate=_NAME,
        metadata={
            "description": "Required for kind `custom`; defaults to the kind's name otherwise "
            "(e.g. `Logistics`).",
            "example": "Logistics",
        },
    )
    kind = fields.String(
        required=True,
        validate=validate.OneOf(DEPARTMENT_KINDS),
        metadata={"example": "logistics"},
    )
    email = fields.Email(allow_none=True, load_default=None, validate=_EMAIL)

    class Meta:
        # A new department is always active.
        exclude = ("is_active",)

    @validates_schema(skip_on_field_errors=False)
    def _custom_needs_a_name(self, data: dict, **_kwargs) -> None:
        if data.get("kind") == "custom" and not data.get("name"):
            raise ValidationError("A custom department needs a name.", "name")


class DepartmentQueryArgsSchema(Schema):
    active = active_filter("departments")


# --- contacts --------------------------------------------------------------------------------

# How far in the future a received_at may lie: clocks of integrations drift.
CLOCK_SKEW = timedelta(minutes=1)
OUTCOMES = ("granted", "partially_granted", "denied")
HISTORICAL_STATUSES = ("queued", "resolved", "closed")
_EXTERNAL_ID = validate.Length(min=1, max=200)


class CustomerSchema(Schema):
    """The end customer; minimised: only what the firm needs to recognise them again."""

    name = TrimmedString(allow_none=True, validate=validate.Length(max=200))
    email = fields.Email(allow_none=True, validate=_EMAIL)
    phone = TrimmedString(
        allow_none=True,
        validate=validate.Regexp(
            r"^\+?[0-9 ()./-]{3,40}\Z", error="Not a phone number: digits, spaces, + ( ) . / -."
        ),
        metadata={"example": "+34 600 123 456"},
    )
    ref = TrimmedString(
        allow_none=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "The firm's own customer id.", "example": "C-20931"},
    )


class ContactCreateSchema(Schema):
    external_id = TrimmedString(
        allow_none=True,
        validate=_EXTERNAL_ID,
        metadata={
            "description": "The firm's own id of the contact. A repeat returns the contact made "
            "the first time (200, `Idempotent-Replayed: true`) instead of a second one.",
            "example": "ZD-448812",
        },
    )
    channel = fields.String(
        required=True, validate=validate.OneOf(CHANNELS), metadata={"example": "email"}
    )
    direction = fields.String(
        load_default="inbound",
        validate=validate.OneOf(DIRECTIONS),
        metadata={"description": "Default inbound. Agents record outbound contacts only."},
    )
    category = fields.String(
        required=True, validate=validate.OneOf(CATEGORIES), metadata={"example": "complaint"}
    )
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))
    language = LanguageTag(
        allow_none=True,
        load_default=None,
        metadata={"description": "BCP 47 primary language subtag.", "example": "es"},
    )
    subject = TrimmedString(load_default="", validate=validate.Length(max=300))
    body = fields.String(
        validate=validate.Length(max=50000),
        metadata={"description": "The message, or a summary of a call; `summary` is an alias."},
    )
    summary = fields.String(
        load_only=True,
        validate=validate.Length(max=50000),
        metadata={"description": "Alias of `body` (send one of them)."},
    )
    customer = fields.Nested(CustomerSchema, load_default=dict)
    remedy_requested = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=5000),
        metadata={"description": "What a claim asks for; required for claims."},
    )
    received_at = fields.AwareDateTime(
        metadata={
            "description": "When the contact arrived (default now; at most a minute ahead).",
            "example": "2026-03-02T10:15:00+01:00",
        }
    )
    queue_id = fields.UUID(
        allow_none=True,
        metadata={
            "description": "An active queue of the firm taking the channel; default: routed "
            "by channel, category and language."
        },
    )

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: dict, **_kwargs) -> None:
        errors: dict[str, list[str]] = {}
        if "body" in data and "summary" in data:
            errors["summary"] = ["Send body or summary, not both."]
        if data.get("category") == "claim":
            if not data.get("remedy_requested"):
                errors["remedy_requested"] = ["A claim must say what remedy is requested."]
            if data.get("channel") == "voice":
                errors["channel"] = ["A claim is written: voice contacts cannot be claims."]
        received_at = data.get("received_at")
        if received_at is not None and received_at > utcnow() + CLOCK_SKEW:
            errors["received_at"] = ["Must not be in the future."]
        if errors:
            raise ValidationError(errors)


class ContactImportRowSchema(ContactCreateSchema):
    """A historical contact: a new one, or one already resolved or closed with its times."""

    status = fields.String(load_default="queued", validate=validate.OneOf(HISTORICAL_STATUSES))
    answered_at = fields.AwareDateTime(allow_none=True)
    first_response_at = fields.AwareDateTime(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    disposition = TrimmedString(allow_none=True, validate=validate.Length(min=1, max=64))
    resolution_note = fields.String(allow_none=True, validate=validate.Length(max=20000))
    outcome = fields.String(allow_none=True, validate=validate.OneOf(OUTCOMES))
    compensation_amount = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0)
    )
    csat = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=5))

    @validates_schema(skip_on_field_errors=False)
    def _history(self, data: dict, **_kwargs) -> None:
        errors: dict[str, list[str]] = {}
        status = data.get("status", "queued")
        finished = status in ("resolved", "closed")
        if finished and data.get("resolved_at") is None:
            errors["resolved_at"] = [f"Required for a {status} contact."]
        if status == "closed" and data.get("closed_at") is None:
            errors["closed_at"] = ["Required for a closed contact."]
        if not finished:
            for name in (
                "answered_at",
                "first_response_at",
                "resolved_at",
                "closed_at",
                "disposition",
                "resolution_note",
                "outcome",
                "compensation_amount",
                "csat",
            ):
                if data.get(name) is not None:
                    errors[name] = ["Only for a resolved or closed contact."]
        elif data.get("category") == "claim" and data.get("outcome") is None:
            errors["outcome"] = ["A resolved claim needs its outcome."]
        errors.update(claim_outcome_errors(data))
        # Each moment follows the one before it.
        order = ["received_at", "answered_at", "first_response_at", "resolved_at", "closed_at"]
        previous = None
        for name in order:
            moment = data.get(name)
            if moment is None:
                continue
            if previous is not None and moment < data[previous]:
                errors.setdefault(name, []).append(f"Must not be before {previous}.")
            if moment > utcnow() + CLOCK_SKEW:
                errors.setdefault(name, []).append("Must not be in the future.")
            previous = name
        if errors:
            raise ValidationError(errors)


def claim_outcome_errors(data: dict) -> dict[str, list[str]]:
    """What is wrong with the outcome and compensation of a claim (or of a non-claim)."""
    errors: dict[str, list[str]] = {}
    outcome, amount = data.get("outcome"), data.get("compensation_amount")
    if data.get("category") not in (None, "claim") and outcome is not None:
        errors["outcome"] = ["Only claims have an outcome."]
    if outcome == "granted" and amount is None:
        errors["compensation_amount"] = ["A granted claim needs its compensation (minor units)."]
    elif outcome in (None, "denied") and amount is not None:
        errors["compensation_amount"] = ["Only a granted or partially granted claim pays."]
    return errors


class ContactCustomerSchema(Schema):
    name = fields.String(dump_only=True, allow_none=True, attribute="customer_name")
    email = fields.String(dump_only=True, allow_none=True, attribute="customer_email")
    phone = fields.String(dump_only=True, allow_none=True, attribute="customer_phone")
    ref = fields.String(dump_only=True, allow_none=True, attribute="customer_ref")


# One instance for every contact dumped (a list page dumps hundreds).
_CUSTOMER = ContactCustomerSchema()


class ContactSchema(Schema):
    id = fields.UUID(dump_only=True)
    external_id = fields.String(dump_only=True, allow_none=True)
    channel = dump_only_choice(CHANNELS)
    direction = dump_only_choice(DIRECTIONS)
    category = dump_only_choice(CATEGORIES)
    priority = dump_only_choice(PRIORITIES)
    language = fields.String(dump_only=True, allow_none=True)
    subject = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    customer = fields.Function(
        lambda contact: _CUSTOMER.dump(contact),
        dump_only=True,
        metadata={
            "description": "The end customer: name, email, phone, ref (the firm's own id).",
            "type": "object",
            "properties": {
                k: {"type": ["string", "null"]} for k in ("name", "email", "phone", "ref")
            },
        },
    )
    customer_contact_number = fields.Integer(
        dump_only=True,
        metadata={"description": "1 for the end customer's first contact with the firm, 2..."},
    )
    remedy_requested = fields.String(dump_only=True, allow_none=True)
    outcome = fields.String(dump_only=True, allow_none=True, metadata={"enum": list(OUTCOMES)})
    compensation_amount = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "Minor units."}
    )
    queue_id = fields.UUID(dump_only=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    department_id = fields.UUID(dump_only=True, allow_none=True)
    status = dump_only_choice(CONTACT_STATUSES)
    status_since = fields.AwareDateTime(dump_only=True)
    allowed_actions = fields.Function(
        lambda contact: api_actions(contact),
        dump_only=True,
        metadata={
            "description": "What may be done to the contact now.",
            "type": "array",
            "items": {"type": "string"},
        },
    )
    disposition = fields.String(dump_only=True, allow_none=True)
    resolution_note = fields.String(dump_only=True, allow_none=True)
    csat = fields.Integer(dump_only=True, allow_none=True)
    reopen_count = fields.Integer(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)
    queued_at = fields.AwareDateTime(
        dump_only=True, metadata={"description": "When it (last) joined its queue."}
    )
    assigned_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    answered_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    first_response_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    resolved_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    closed_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    abandoned_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    sla_state = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "enum": list(CLOCK_STATES),
            "description": "The worst state of the contact's SLA clocks (see `GET .../sla`); "
            "null when no clock applies.",
        },
    )
    sla_due_at = fields.AwareDateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The nearest deadline of its running SLA clocks."},
    )
    answer_threshold_seconds = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "T of the service level for this contact (voice and chat), fixed "
            "when it arrived: the SLA policy's, else the queue's."
        },
    )
    queue_wait_seconds = queue_wait_seconds_field()
    queued_seconds = queued_seconds_field()
    talk_seconds = fields.Integer(dump_only=True)
    hold_seconds = fields.Integer(dump_only=True)
    acw_seconds = fields.Integer(dump_only=True)
    handle_seconds = fields.Function(
        lambda c: c.talk_seconds + c.hold_seconds + c.acw_seconds,
        dump_only=True,
        metadata={"description": "Talk + hold + after-contact work.", "type": "integer"},
    )
    campaign_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The outbound campaign this contact is an attempt of."},
    )
    campaign_record_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The campaign's record (customer) it attempted."},
    )
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


def api_actions(contact) -> list[str]:
    """The lifecycle actions the contact's API takes now: a campaign's attempt ends through
    its disposition, not `resolve`."""
    allowed = lifecycle.allowed_actions(status=contact.status, channel=contact.channel)
    if getattr(contact, "campaign_record_id", None) is not None:
        return [a for a in allowed if a != "resolve"]
    return allowed


class ContactQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(CONTACT_STATUSES))
    queue_id = fields.UUID()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    agent_id = fields.UUID()
    created_from = fields.AwareDateTime(metadata={"description": "Created at or after."})
    created_to = fields.AwareDateTime(metadata={"description": "Created before."})
    q = fields.String(
        validate=validate.Length(min=1, max=MAX_QUERY_LENGTH),
        metadata={
            "description": "Search: an e-mail address or phone number finds the contacts of "
            "that end customer exactly (phones by their digits); other text finds the firm's "
            "customer id (`customer.ref`), `external_id` or contact id exactly, or contacts "
            "with every word (or word start) in the subject, the customer's name or the "
            "thread's messages. Best first: exact identifiers, then the best word matches, "
            "then the newest.",
            "example": "ana@example.com",
        },
    )

    @validates("q")
    def _not_blank(self, value: str, **_kwargs) -> None:
        if not value.strip():
            raise ValidationError("Type something to search for.")

    @validates_schema
    def _range(self, data: dict, **_kwargs) -> None:
        start, end = data.get("created_from"), data.get("created_to")
        if start is not None and end is not None and end <= start:
            raise ValidationError("Must be after created_from.", "created_to")


class ContactEventSchema(Schema):
    id = fields.UUID(dump_only=True)
    occurred_at = fields.AwareDateTime(dump_only=True)
    action = fields.String(dump_only=True)
    from_status = fields.String(dump_only=True, allow_none=True)
    to_status = fields.String(dump_only=True)
    actor_user_id = fields.UUID(dump_only=True, allow_none=True)
    actor_client_id = fields.String(dump_only=True, allow_none=True)
    agent_id = fields.UUID(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True, allow_none=True)
    details = fields.Dict(dump_only=True)


class ContactImportSchema(Schema):
    imported = fields.Integer(dump_only=True)
    ids = fields.List(fields.UUID(), dump_only=True, metadata={"description": "In row order."})


# --- actions ---------------------------------------------------------------------------------

_NOTE = validate.Length(min=1, max=5000)


class ContactActionSchema(Schema):
    """Any action: an optional note for the history."""

    note = fields.String(allow_none=True, validate=_NOTE, metadata={"example": "Customer called"})


class DepartmentAnswerSchema(Schema):
    """A department's answer through its link (app/web/department_answers.py)."""

    body = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    outcome = fields.String(required=True, validate=validate.OneOf(("done", "needs_more")))


class MessageBodySchema(Schema):
    """A message's text: plain, or HTML that is sanitised before it is kept."""

    body = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "Plain text, or HTML when `body_format` is `html`: kept are text "
            "formatting, paragraphs, quotes, lists and links (`href`, `title`; given "
            '`rel="noopener noreferrer"`); scripts, styles, other tags and attributes (event '
            "handlers included) are removed. At most 64 KiB once cleaned (a 422 on `body`).",
            "example": "Your refund was issued today.",
        },
    )
    body_format = fields.String(
        load_default="text", validate=validate.OneOf(BODY_FORMATS), metadata={"example": "text"}
    )


class ContactRespondSchema(ContactActionSchema):
    message = fields.Nested(
        MessageBodySchema,
        metadata={
            "description": "The reply's text, added to the contact's thread as a `reply` "
            "message (and its `contact.message.created` event) with the action."
        },
    )


class ContactAssignSchema(ContactActionSchema):
    agent_id = fields.UUID(
        required=True,
        metadata={"description": "An active agent assigned to the contact's queue."},
    )


class ContactTransferSchema(ContactActionSchema):
    queue_id = fields.UUID(
        required=True,
        metadata={"description": "An active queue of the same firm that takes the channel."},
    )


class ContactEscalateSchema(ContactActionSchema):
    department_id = fields.UUID(required=True, metadata={"description": "An active department."})
    note = fields.String(
        required=True,
        validate=_NOTE,
        metadata={"description": "What the back office must do.", "example": "Refund 2 months"},
    )


class ContactResolveSchema(ContactActionSchema):
    disposition = TrimmedString(
        required=True, validate=validate.Length(min=1, max=64), metadata={"example": "refunded"}
    )
    resolution_note = fields.String(
        required=True,
        validate=validate.Length(min=1, max=20000),
        metadata={"example": "Refunded the March invoice."},
    )
    ended_at = fields.AwareDateTime(
        metadata={
            "description": "When the conversation ended (default now): talk time runs to it, "
            "after-contact work from it."
        }
    )
    outcome = fields.String(
        validate=validate.OneOf(OUTCOMES), metadata={"description": "Required for claims."}
    )
    compensation_amount = fields.Integer(
        strict=True,
        validate=validate.Range(min=0),
        metadata={"description": "Minor units; required when a claim is granted."},
    )


class ContactCsatSchema(ContactActionSchema):
    score = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=5), metadata={"example": 5}
    )


# --- messages --------------------------------------------------------------------------------


class ContactMessageSchema(Schema):
    id = fields.UUID(dump_only=True)
    contact_id = fields.UUID(dump_only=True)
    kind = fields.String(
        dump_only=True,
        metadata={
            "enum": list(MESSAGE_KINDS),
            "description": "`inbound` (the end customer's), `reply` (to the end customer), `note` "
            "(internal: the firm's integration reads it only if the firm shares notes), "
            "`department` (a department's answer to an escalation, through its mail's link: "
            "never sent to the end customer, always read by the firm's integration).",
        },
    )
    channel = dump_only_choice(CHANNELS)
    external_id = fields.String(dump_only=True, allow_none=True)
    author_user_id = fields.UUID(
        dump_only=True, allow_none=True, metadata={"description": "The person who wrote it."}
    )
    author_client_id = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The API client it came through (the firm's integration)."},
    )
    author_name = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "Inbound: the end customer's name, as the firm sent it. "
            "Department: the name of the department that answered the escalation."
        },
    )
    body = fields.String(dump_only=True)
    body_format = dump_only_choice(BODY_FORMATS)
    created_at = fields.AwareDateTime(dump_only=True)


POSTED_MESSAGE_KINDS = ("inbound", "reply", "note")


class ContactMessageCreateSchema(MessageBodySchema):
    kind = fields.String(
        required=True,
        # A department answers through its link only (app/contacts/department_answers.py).
        validate=validate.OneOf(POSTED_MESSAGE_KINDS),
        metadata={
            "description": "`inbound`: the end customer's (the firm's integration); `reply`: "
            "to the end customer (the agent holding the contact); `note`: internal (staff).",
            "example": "inbound",
        },
    )
    channel = fields.String(
        validate=validate.OneOf(CHANNELS),
        metadata={"description": "Default: the contact's channel."},
    )
    external_id = TrimmedString(
        allow_none=True,
        validate=_EXTERNAL_ID,
        metadata={
            "description": "The firm's own id of the message. A repeat on the same contact "
            "returns the message made the first time (200, `Idempotent-Replayed: true`).",
            "example": "ZD-448812-3",
        },
    )
    author_name = TrimmedString(
        allow_none=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Inbound only: the end customer's name as they signed."},
    )

    @validates_schema
    def _author_of_inbound_only(self, data: dict, **_kwargs) -> None:
        if data.get("author_name") is not None and data.get("kind") != "inbound":
            raise ValidationError(
                "Only an inbound message names its author; ours are known by the caller.",
                "author_name",
            )
