"""What the contacts domain tells the domain event log (app/events): a contact taken in or
imported, each lifecycle action, and each message added to a thread, with the payloads the
event catalogue describes.

Payloads hold ids, states and times, never the end customer's personal data; the one exception
is a reply's text, which the firm's systems deliver (see app/events/catalogue.py).
May import: app.contacts.models, app.events (catalogue, models, service).
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.contacts.models import Contact, ContactMessage
from app.events import catalogue
from app.events import service as events_service
from app.events.models import DomainEvent


def created(contact: Contact, *, at: datetime) -> DomainEvent:
    """Record that a contact was taken in."""
    return events_service.record(
        type="contact.created",
        payload=_created(contact),
        occurred_at=at,
    )


def imported(contacts: list[Contact], *, at: datetime) -> None:
    """Record a contacts import's contacts, in a few multi-row INSERTs."""
    events_service.record_many(
        type="contact.created",
        payloads=[_created(contact, imported=True) for contact in contacts],
        occurred_at=at,
    )


def acted(
    contact: Contact,
    *,
    action: str,
    previous_status: str,
    at: datetime,
    previous_agent_id=None,
    previous_queue_id=None,
) -> None:
    """Record a lifecycle action as the event the catalogue names for it."""
    event_type = catalogue.CONTACT_ACTIONS[action]
    payload = _state(contact, previous_status=previous_status)
    if event_type == "contact.assigned":
        payload["previous_agent_id"] = _str(previous_agent_id)
    elif event_type == "contact.transferred":
        payload["previous_queue_id"] = _str(previous_queue_id)
    elif event_type == "contact.resolved":
        payload["outcome"] = contact.outcome
    elif event_type == "contact.csat":
        payload["score"] = contact.csat
    events_service.record(type=event_type, payload=payload, occurred_at=at)


def message_created(contact: Contact, message: ContactMessage) -> DomainEvent:
    """Record a message added to a contact's thread; only a reply carries its text."""
    reply = message.kind == "reply"
    payload = {
        **_state(contact, previous_status=contact.status),
        "message": {
            "id": str(message.id),
            "kind": message.kind,
            "channel": message.channel,
            "external_id": message.external_id,
            "created_at": message.created_at.astimezone(UTC).isoformat(),
            "body_format": message.body_format if reply else None,
            "body": message.body if reply else None,
        },
    }
    return events_service.record(
        type="contact.message.created", payload=payload, occurred_at=message.created_at
    )


def _created(contact: Contact, *, imported: bool = False) -> dict:
    return {**_state(contact, previous_status=None), "imported": imported}


def _state(contact: Contact, *, previous_status: str | None) -> dict:
    return {
        "contact_id": str(contact.id),
        "external_id": contact.external_id,
        "channel": contact.channel,
        "direction": contact.direction,
        "category": contact.category,
        "priority": contact.priority,
        "status": contact.status,
        "previous_status": previous_status,
        "queue_id": str(contact.queue_id),
        "agent_id": _str(contact.agent_id),
        "department_id": _str(contact.department_id),
        "received_at": contact.received_at.astimezone(UTC).isoformat(),
    }


def _str(value) -> str | None:
    return str(value) if value is not None else None
