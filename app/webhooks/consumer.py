"""Webhook deliveries made from the domain events: the event log's first consumer (listed in
app/worker.py's CONSUMERS). May import: app.events.models, app.webhooks (models, service).
"""

from __future__ import annotations

from app.events.models import DomainEvent
from app.webhooks import service as webhooks_service
from app.webhooks.models import EVENT_TYPES


def handle(event: DomainEvent) -> None:
    """Queue one delivery of the event per active endpoint of its tenant subscribed to its
    type (called in the event's tenant scope). The delivery's id is the event's, so handing
    the same event over again queues nothing more."""
    if event.type not in EVENT_TYPES:
        return  # no endpoint can subscribe to it: spare the lookup
    webhooks_service.enqueue(
        event_type=event.type,
        event_id=event.id,
        payload=event.payload,
        created_at=event.occurred_at,
    )
