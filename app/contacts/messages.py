"""A contact's thread: the end customer's messages, the agents' replies and internal notes;
adding one (its body cleaned and capped, its event recorded) and reading them oldest first.

Services take keyword arguments, return ORM objects (or a select to paginate) and never commit.
Who may add which kind is the caller's to check (app.auth.permissions: MESSAGE_*); the contact
given is one the caller may see.
May import: nh3, app.db, app.errors, app.inputs, app.contacts (models, events), tenants (models,
service).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import nh3
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from app import inputs
from app.contacts import events as contact_log
from app.contacts.models import BODY_FORMATS, MESSAGE_KINDS, Contact, ContactMessage
from app.db import db, utcnow
from app.errors import Conflict, Unprocessable
from tenants.models import Tenant
from tenants.service import Actor

# What a message may weigh once cleaned: a long e-mail, not a mailbox (UTF-8 bytes).
BODY_MAX_BYTES = 64 * 1024

# The HTML a message keeps: text formatting, paragraphs, quotes, lists and links. Everything
# else goes, with the text of <script> and <style> (nh3's default); no attribute but a link's
# target and title survives, so no style, class or event handler does.
ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "br",
        "code",
        "em",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "u",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# A link opened from a message cannot reach back into the page that showed it (noopener), nor
# tell the linked site where the reader came from (noreferrer).
LINK_REL = "noopener noreferrer"

_UNIQUE_EXTERNAL_ID = "uq_contact_messages_tenant_id_contact_id_external_id"


def clean_body(*, body: str, body_format: str) -> str:
    """Return the body as it is stored: plain text as given (trimmed), HTML sanitised."""
    if body_format == "html":
        body = nh3.clean(
            body,
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            url_schemes=set(URL_SCHEMES),
            link_rel=LINK_REL,
        )
    return body.strip()


def list_(*, contact: Contact, include_notes: bool) -> Select:
    """Select a contact's messages, oldest first; internal notes only if `include_notes`."""
    stmt = (
        select(ContactMessage)
        .where(ContactMessage.contact_id == contact.id)
        .order_by(ContactMessage.created_at, ContactMessage.id)
    )
    if not include_notes:
        stmt = stmt.where(ContactMessage.kind != "note")
    return stmt


def get_by_external_id(*, contact: Contact, external_id: str) -> ContactMessage | None:
    """Return the contact's message with this id of the firm's, if there is one."""
    return db.session.scalar(
        select(ContactMessage).where(
            ContactMessage.contact_id == contact.id, ContactMessage.external_id == external_id
        )
    )


def add(
    *,
    contact: Contact,
    kind: str,
    body: str,
    body_format: str = "text",
    actor: Actor,
    tenant: Tenant,
    channel: str | None = None,
    author_name: str | None = None,
    external_id: str | None = None,
    now: datetime | None = None,
) -> tuple[ContactMessage, bool]:
    """Add a message to a contact's thread and record its event; return it and whether it is
    new (a repeated `external_id` returns the message made the first time, even when two
    requests race).

    Raises Unprocessable (on `body`) for a body that is empty once cleaned or over
    BODY_MAX_BYTES, and Conflict when `external_id` names a message of another kind.
    """
    assert kind in MESSAGE_KINDS and body_format in BODY_FORMATS, (kind, body_format)
    assert tenant.id == contact.tenant_id
    if external_id is not None:
        existing = get_by_external_id(contact=contact, external_id=external_id)
        if existing is not None:
            return _replayed(existing, kind, external_id), False
    # The API refuses such text before it gets here; the web app's forms may not.
    problem = inputs.string_problem(body)
    if problem is not None:
        raise _invalid_body(problem)
    cleaned = clean_body(body=body, body_format=body_format)
    if not cleaned:
        raise _invalid_body("The message is empty (once its HTML is cleaned).")
    size = len(cleaned.encode("utf-8"))
    if size > BODY_MAX_BYTES:
        raise _invalid_body(
            f"The message is {size} bytes once cleaned; at most {BODY_MAX_BYTES} are kept."
        )
    message = ContactMessage(
        id=uuid.uuid4(),
        contact_id=contact.id,
        kind=kind,
        channel=channel or contact.channel,
        external_id=external_id,
        author_user_id=actor.user_id,
        author_client_id=actor.client_id,
        author_name=author_name,
        body=cleaned,
        body_format=body_format,
        created_at=now or utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except IntegrityError as exc:
        if external_id is None or _UNIQUE_EXTERNAL_ID not in str(exc.orig):
            raise
        # A concurrent request with the same external id committed first: answer its message.
        existing = get_by_external_id(contact=contact, external_id=external_id)
        if existing is None:
            raise
        return _replayed(existing, kind, external_id), False
    contact_log.message_created(contact, message)
    return message, True


def _replayed(existing: ContactMessage, kind: str, external_id: str) -> ContactMessage:
    if existing.kind != kind:
        # Never hand a caller a message of a kind it did not post (an integration, a note).
        raise Conflict(f"external_id {external_id!r} names another message of this contact.")
    return existing


def _invalid_body(message: str) -> Unprocessable:
    return Unprocessable(f"Invalid input: body. {message}", errors={"json": {"body": [message]}})
